package expr

import (
	celast "github.com/google/cel-go/common/ast"
)

// Scopes is a set of the scope members (vars, contact, message, trigger,
// flow, now) an expression or template reads, as the type checker resolved
// its identifiers. It lets a caller decide what a compiled text depends on
// without looking at its source: the flow compiler uses it to tell whether
// a message can be rendered before a conversation exists.
type Scopes uint8

// The scope members.
const (
	ReadsVars Scopes = 1 << iota
	ReadsContact
	ReadsMessage
	ReadsTrigger
	ReadsFlow
	ReadsNow
)

var scopeBits = map[string]Scopes{
	"vars": ReadsVars, "contact": ReadsContact, "message": ReadsMessage,
	"trigger": ReadsTrigger, "flow": ReadsFlow, "now": ReadsNow,
}

// Only reports whether s reads nothing outside allowed.
func (s Scopes) Only(allowed Scopes) bool { return s&^allowed == 0 }

// Reads is the set of scope members the expression reads.
func (p *Program) Reads() Scopes { return p.reads }

// Reads is the set of scope members the template's placeholders read
// (none for a static template).
func (t *Template) Reads() Scopes {
	var s Scopes
	for _, p := range t.parts {
		if p.prog != nil {
			s |= p.prog.reads
		}
	}
	return s
}

// readsOf collects the scope members a checked AST refers to. A
// comprehension variable that shadows a scope name counts as a read of
// that scope: the answer may be larger than the truth, never smaller.
func readsOf(a *celast.AST) Scopes {
	var s Scopes
	refs := a.ReferenceMap()
	celast.PreOrderVisit(a.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() != celast.IdentKind {
			return
		}
		name := e.AsIdent()
		if r, ok := refs[e.ID()]; ok && r.Name != "" {
			name = r.Name
		}
		s |= scopeBits[name]
	}))
	return s
}
