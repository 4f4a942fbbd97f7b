package expr

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Template is a compiled text with "{{ <CEL> }}" placeholders. It is safe
// for concurrent use.
//
// Text outside the braces is literal; `\{{` writes a literal "{{" (a
// backslash anywhere else is literal). A placeholder ends at the first "}}"
// that is outside CEL string literals and balanced braces, so
// `{{ {"a": 1}["a"] }}` and `{{ "}}" }}` both work. Values render as text:
// strings as they are, numbers in their shortest form, bools as true/false,
// null as nothing, timestamps in RFC 3339, durations like 1m30s, bytes as
// they are, and lists and maps as compact JSON.
type Template struct {
	src string
	// parts is nil for a static template, whose text is ready in static.
	parts  []part
	static string
	// literal counts the bytes of literal text, to size the output once.
	literal int
	// isURL: placeholders are escaped for their part of the URL
	// (CompileURLTemplate).
	isURL bool
}

// part is literal text, or an expression when prog is set.
type part struct {
	text string
	prog *Program
	// url is the part of a URL the placeholder lands in (URL templates).
	url urlPart
	// at is the byte offset of the placeholder's "{{" in the source.
	at int
}

// CompileTemplate compiles a template; its expressions are compiled with e.
func (e *Env) CompileTemplate(src string) (*Template, error) {
	if len(src) > MaxTemplateLength {
		return nil, &Error{Column: 1, Message: fmt.Sprintf(
			"the template is %d bytes long, the limit is %d", len(src), MaxTemplateLength)}
	}
	t := &Template{src: src}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, part{text: lit.String()})
			t.literal += lit.Len()
			lit.Reset()
		}
	}
	for i := 0; i < len(src); {
		switch {
		case strings.HasPrefix(src[i:], `\{{`):
			lit.WriteString("{{")
			i += 3
		case strings.HasPrefix(src[i:], "{{"):
			start := i + 2
			end := closing(src, start)
			if end < 0 {
				return nil, &Error{Column: column(src, i), Message: `unclosed "{{": end the expression with "}}", or write \{{ for literal braces`}
			}
			if strings.TrimSpace(src[start:end]) == "" {
				return nil, &Error{Column: column(src, i), Message: `empty "{{ }}": put an expression inside, e.g. {{ vars.name }}`}
			}
			prog, err := e.Compile(src[start:end])
			if err != nil {
				ce := err.(*Error)
				return nil, &Error{Column: column(src, start) - 1 + ce.Column, Message: ce.Message}
			}
			flush()
			t.parts = append(t.parts, part{prog: prog, at: i})
			i = end + 2
		default:
			lit.WriteByte(src[i])
			i++
		}
	}
	if len(t.parts) == 0 {
		t.static = lit.String()
		return t, nil
	}
	flush()
	return t, nil
}

// column is the 1-based code point position of byte offset i in src.
func column(src string, i int) int { return utf8.RuneCountInString(src[:i]) + 1 }

// closing finds the "}}" that ends the expression starting at byte offset
// start: the first one outside string literals and braces the expression
// opened itself. When the expression has an unterminated string or
// unbalanced braces it falls back to the first "}}", so that CEL reports the
// actual mistake at its column. It returns -1 when there is no "}}" at all.
func closing(src string, start int) int {
	depth := 0
	for i := start; i < len(src); i++ {
		switch src[i] {
		case '"', '\'':
			end := skipString(src, i)
			if end < 0 {
				return indexFrom(src, start, "}}")
			}
			i = end - 1
		case '{':
			depth++
		case '}':
			if depth > 0 {
				depth--
			} else if i+1 < len(src) && src[i+1] == '}' {
				return i
			}
		}
	}
	return indexFrom(src, start, "}}")
}

// skipString returns the byte offset just past the CEL string literal whose
// opening quote is at q, or -1 if it does not end. Raw literals (r"...")
// take backslashes literally; triple-quoted ones may span lines.
func skipString(src string, q int) int {
	quote := src[q : q+1]
	if strings.HasPrefix(src[q:], strings.Repeat(quote, 3)) {
		quote = src[q : q+3]
	}
	raw := q > 0 && (src[q-1] == 'r' || src[q-1] == 'R')
	for i := q + len(quote); i < len(src); i++ {
		switch {
		case src[i] == '\\' && !raw:
			i++
		case strings.HasPrefix(src[i:], quote):
			return i + len(quote)
		case src[i] == '\n' && len(quote) == 1:
			return -1
		}
	}
	return -1
}

func indexFrom(s string, from int, sub string) int {
	if i := strings.Index(s[from:], sub); i >= 0 {
		return from + i
	}
	return -1
}

// Render evaluates the placeholders against s (nil means an empty scope).
// A failing placeholder fails the whole render with an *EvalError naming
// it: a message with a hole in it is worse than the caller's fallback.
func (t *Template) Render(s *Scope) (string, error) {
	if t.parts == nil {
		return t.static, nil
	}
	var b strings.Builder
	b.Grow(t.literal + 16*len(t.parts))
	for _, p := range t.parts {
		if p.prog == nil {
			b.WriteString(p.text)
			continue
		}
		v, err := p.prog.eval(s)
		if err == nil && p.url != inText {
			var value strings.Builder
			if err = writeText(&value, v); err == nil {
				b.WriteString(p.url.escape(value.String()))
			}
		} else if err == nil {
			err = writeText(&b, v)
		}
		if err != nil {
			return "", &EvalError{Message: "{{ " + strings.TrimSpace(p.prog.src) + " }}: " + err.Error()}
		}
	}
	return b.String(), nil
}

// IsStatic reports that the template has no placeholder: Render returns
// its text without evaluating anything.
func (t *Template) IsStatic() bool { return t.parts == nil }

// Source is the template as written.
func (t *Template) Source() string { return t.src }
