package expr

import (
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// Program is a compiled expression. It is safe for concurrent use.
type Program struct {
	src   string
	prg   cel.Program
	reads Scopes
	// raw: the expression is a call of raw() as a whole (URL templates
	// insert its value unescaped).
	raw bool
}

// Source is the expression as written.
func (p *Program) Source() string { return p.src }

// Eval evaluates the expression against s (nil means an empty scope) and
// returns its value as plain Go: string, int64, uint64, float64, bool, nil,
// []byte, time.Time, time.Duration, []any or map[string]any.
func (p *Program) Eval(s *Scope) (any, error) {
	v, err := p.eval(s)
	if err != nil {
		return nil, err
	}
	return plain(v)
}

// EvalBool evaluates a condition; a result that is not a bool is an error
// rather than false, so that a mistyped condition does not silently route.
func (p *Program) EvalBool(s *Scope) (bool, error) {
	v, err := p.eval(s)
	if err != nil {
		return false, err
	}
	b, ok := v.(types.Bool)
	if !ok {
		return false, &EvalError{Message: "the condition evaluated to a " + typeName(v) + ", not a bool"}
	}
	return bool(b), nil
}

func (p *Program) eval(s *Scope) (ref.Val, error) {
	if s == nil {
		s = &emptyScope
	}
	v, _, err := p.prg.Eval((*activation)(s))
	if err != nil {
		return nil, evalError(err)
	}
	return v, nil
}
