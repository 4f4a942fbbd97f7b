package twilio

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// liquid translates the Liquid of Studio properties into chatflow
// templates ({{ <CEL> }}) and CEL expressions, through a resolver of
// Studio variable paths (see translator.ref).
type liquid struct {
	// ref translates a Studio variable path (flow.variables.x,
	// widgets.w.parsed.a) into CEL; ok is false when there is no
	// equivalent.
	ref func(path []string) (cel string, ok bool)
	// note records what could not be translated.
	note func(msg string)
}

// segment is one part of a Liquid output: literal text, or an expression.
type segment struct {
	text  string
	expr  bool
	isTag bool // {% %}
}

// split cuts Liquid source into literal text, {{ output }} and {% tags %}.
func split(src string) []segment {
	var out []segment
	for src != "" {
		i := strings.Index(src, "{{")
		j := strings.Index(src, "{%")
		if i < 0 && j < 0 {
			out = append(out, segment{text: src})
			break
		}
		tag := j >= 0 && (i < 0 || j < i)
		start, open, close := i, "{{", "}}"
		if tag {
			start, open, close = j, "{%", "%}"
		}
		if start > 0 {
			out = append(out, segment{text: src[:start]})
		}
		end := strings.Index(src[start+len(open):], close)
		if end < 0 {
			out = append(out, segment{text: src[start:]})
			break
		}
		inner := src[start+len(open) : start+len(open)+end]
		if tag {
			out = append(out, segment{text: src[start : start+len(open)+end+len(close)], isTag: true})
		} else {
			out = append(out, segment{text: inner, expr: true})
		}
		src = src[start+len(open)+end+len(close):]
	}
	return out
}

// Template translates Liquid text into a chatflow template. What has no
// equivalent is kept as literal text (escaped), so the message shows it
// and the report says why.
func (l *liquid) Template(src string) string {
	var b strings.Builder
	for _, s := range split(src) {
		switch {
		case s.isTag:
			l.note(fmt.Sprintf("Liquid tag %s has no equivalent: kept as text", clipText(s.text)))
			b.WriteString(escapeLiteral(s.text))
		case s.expr:
			cel, ok := l.output(s.text)
			if !ok {
				b.WriteString(escapeLiteral("{{" + s.text + "}}"))
				continue
			}
			b.WriteString("{{ " + cel + " }}")
		default:
			b.WriteString(escapeLiteral(s.text))
		}
	}
	return b.String()
}

// Expr translates Liquid text into a CEL expression: a single {{ x }}
// becomes x as it is (callers convert it as they need), anything else a
// concatenation of strings.
func (l *liquid) Expr(src string) string {
	segs := split(src)
	var parts []string
	for _, s := range segs {
		switch {
		case s.isTag:
			l.note(fmt.Sprintf("Liquid tag %s has no equivalent: left out", clipText(s.text)))
		case s.expr:
			cel, ok := l.output(s.text)
			if !ok {
				parts = append(parts, `""`)
				continue
			}
			parts = append(parts, "string("+cel+")")
		default:
			parts = append(parts, strconv.Quote(s.text))
		}
	}
	switch len(parts) {
	case 0:
		return `""`
	case 1:
		if len(segs) == 1 && segs[0].expr {
			return strings.TrimSuffix(strings.TrimPrefix(parts[0], "string("), ")")
		}
		return parts[0]
	}
	return "(" + strings.Join(parts, " + ") + ")"
}

// IsLiteral reports whether src has no Liquid at all.
func IsLiteral(src string) bool {
	return !strings.Contains(src, "{{") && !strings.Contains(src, "{%")
}

// escapeLiteral escapes what a chatflow template would read as the start
// of an expression.
func escapeLiteral(s string) string { return strings.ReplaceAll(s, "{{", `\{{`) }

var (
	pathRe   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+|\[[0-9]+\]|\['[^']*'\]|\["[^"]*"\])*$`)
	numberRe = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)
)

// output translates the inside of {{ }}: a value and its filters.
func (l *liquid) output(src string) (string, bool) {
	parts := splitPipes(src)
	base := strings.TrimSpace(parts[0])
	cel, ok := l.value(base)
	if !ok {
		return "", false
	}
	for _, f := range parts[1:] {
		name, arg, _ := strings.Cut(strings.TrimSpace(f), ":")
		name, arg = strings.TrimSpace(name), strings.TrimSpace(arg)
		switch name {
		case "upcase":
			cel = "string(" + cel + ").upperAscii()"
		case "downcase":
			cel = "string(" + cel + ").lowerAscii()"
		case "strip":
			cel = "string(" + cel + ").trim()"
		case "size":
			cel = "size(" + cel + ")"
		case "default":
			d, ok := l.value(arg)
			if !ok {
				d = `""`
			}
			guard := cel + ` != ""`
			if isSelection(cel) {
				guard = "has(" + cel + ") && string(" + cel + `) != ""`
			}
			cel = "(" + guard + " ? string(" + cel + ") : string(" + d + "))"
		default:
			l.note(fmt.Sprintf("Liquid filter %q has no equivalent: left out of {{%s}}", name, clipText(src)))
		}
	}
	return cel, true
}

// isSelection reports whether a CEL expression is a field selection that
// has() accepts (vars.a.b, not a call or an index).
func isSelection(cel string) bool {
	return regexp.MustCompile(`^[a-z]+(\.[A-Za-z_][A-Za-z0-9_]*)+$`).MatchString(cel)
}

// value translates a literal or a variable path.
func (l *liquid) value(s string) (string, bool) {
	switch {
	case s == "":
		return `""`, true
	case len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\''):
		return strconv.Quote(s[1 : len(s)-1]), true
	case numberRe.MatchString(s):
		return s, true
	case s == "true" || s == "false":
		return s, true
	case pathRe.MatchString(s):
		cel, ok := l.ref(pathSegments(s))
		if !ok {
			l.note(fmt.Sprintf("the variable %s has no equivalent", s))
		}
		return cel, ok
	}
	l.note(fmt.Sprintf("the Liquid expression %q is not understood", clipText(s)))
	return "", false
}

// pathSegments splits a.b[0]['c'] into a, b, 0, c.
func pathSegments(s string) []string {
	var out []string
	for s != "" {
		switch s[0] {
		case '.':
			s = s[1:]
		case '[':
			end := strings.IndexByte(s, ']')
			key := strings.Trim(s[1:end], `'"`)
			out = append(out, key)
			s = s[end+1:]
		default:
			end := strings.IndexAny(s, ".[")
			if end < 0 {
				end = len(s)
			}
			out = append(out, s[:end])
			s = s[end:]
		}
	}
	return out
}

// splitPipes splits on | outside quotes.
func splitPipes(s string) []string {
	var out []string
	var quote byte
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '|':
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// celReserved are words CEL does not accept as field names after a dot.
var celReserved = map[string]bool{
	"in": true, "as": true, "break": true, "const": true, "continue": true, "else": true, "for": true,
	"function": true, "if": true, "import": true, "let": true, "loop": true, "package": true,
	"namespace": true, "null": true, "return": true, "var": true, "void": true, "while": true,
	"true": true, "false": true,
}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// selectPath appends field accesses to a CEL expression: .name where CEL
// allows it, ["name"] otherwise, [n] for list indexes.
func selectPath(base string, segs []string) string {
	var b strings.Builder
	b.WriteString(base)
	for _, s := range segs {
		switch {
		case numberRe.MatchString(s) && !strings.Contains(s, "."):
			b.WriteString("[" + s + "]")
		case identRe.MatchString(s) && !celReserved[s]:
			b.WriteString("." + s)
		default:
			b.WriteString("[" + strconv.Quote(s) + "]")
		}
	}
	return b.String()
}

func clipText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}
