package expr

import (
	"net/url"
	"strings"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types/ref"
)

// RawFunction is the CEL function that marks a URL template placeholder
// whose value goes into the URL as it is, unescaped: {{ raw(vars.baseURL) }}.
// Anywhere else it returns its argument.
const RawFunction = "raw"

// rawLib declares raw(value) -> value.
type rawLib struct{}

func (rawLib) CompileOptions() []cel.EnvOption {
	t := cel.TypeParamType("T")
	return []cel.EnvOption{cel.Function(RawFunction,
		cel.Overload("raw_T", []*cel.Type{t}, t, cel.UnaryBinding(func(v ref.Val) ref.Val { return v })))}
}

func (rawLib) ProgramOptions() []cel.ProgramOption { return nil }

// isRawCall says whether an expression is a call of raw() as a whole.
func isRawCall(a *celast.AST) bool {
	e := a.Expr()
	return e.Kind() == celast.CallKind && e.AsCall().FunctionName() == RawFunction && !e.AsCall().IsMemberFunction()
}

// urlPart is where in a URL a placeholder lands, which decides how its
// value is escaped.
type urlPart int

const (
	// inText: not a URL template; values go in as they render.
	inText urlPart = iota
	// inAuthority: the scheme or the host; only raw() may go there.
	inAuthority
	// inPath: a path segment; the value is escaped as one (a "/" in it
	// does not start another segment).
	inPath
	// inQuery: the query; the value is escaped as a query component (an
	// "&" or "=" in it does not start another parameter).
	inQuery
	// inFragment: after "#".
	inFragment
)

// advance moves through a URL's literal text: from the scheme and host to
// the path at the first "/" after "://", to the query at "?", to the
// fragment at "#".
func (p urlPart) advance(lit string) urlPart {
	for i := 0; i < len(lit); i++ {
		switch c := lit[i]; {
		case c == '#':
			return inFragment
		case c == '?' && p < inQuery:
			p = inQuery
		case c == '/' && p == inAuthority:
			if strings.HasPrefix(lit[i:], "//") && i > 0 && lit[i-1] == ':' {
				i++ // the "//" of "scheme://"
				continue
			}
			p = inPath
		}
	}
	return p
}

// escape makes a rendered value safe for the part of the URL it lands in.
func (p urlPart) escape(s string) string {
	switch p {
	case inPath, inFragment:
		return url.PathEscape(s)
	case inQuery:
		return url.QueryEscape(s)
	}
	return s
}

// CompileURLTemplate compiles a URL template. A placeholder's value is
// percent-escaped for the part of the URL it lands in, judged from the
// literal text before it: a path segment (url.PathEscape: "/", "?" and "#"
// are escaped) or a query component (url.QueryEscape: "&", "=" and "+"
// too), so a contact's reply cannot add a path, a parameter or a host. A
// placeholder written as {{ raw(...) }} goes in unescaped, for the rare
// flow that builds a URL out of a variable; one in the scheme or host of
// the URL must be raw(), or the template does not compile.
func (e *Env) CompileURLTemplate(src string) (*Template, error) {
	t, err := e.CompileTemplate(src)
	if err != nil || t.parts == nil {
		return t, err
	}
	part := inAuthority
	for i := range t.parts {
		p := &t.parts[i]
		if p.prog == nil {
			part = part.advance(p.text)
			continue
		}
		switch {
		case p.prog.raw:
			p.url = inText
		case part == inAuthority:
			return nil, &Error{Column: column(src, p.at), Message: "a {{ }} in the scheme or host of a URL decides where the request goes: " +
				"write the host out (https://api.example.com/{{ ... }}), or, if the URL comes from a variable you trust, " +
				"wrap it in raw(): {{ raw(vars.baseURL) }} is inserted unescaped"}
		default:
			p.url = part
		}
	}
	t.isURL = true
	return t, nil
}
