package expr

import (
	"fmt"
	"slices"
	"strings"

	celast "github.com/google/cel-go/common/ast"
)

// checkFields rejects a selection of a field that contact, message,
// message.media or flow do not have. cel-go cannot: to CEL they are maps, and
// a missing map key only fails at run time, in the middle of a conversation,
// where the linter should have caught the typo.
func checkFields(a *celast.AST) *Error {
	// A comprehension variable may shadow a scope (`list.map(contact, ...)`);
	// such names are left unchecked.
	shadowed := map[string]bool{}
	celast.PreOrderVisit(a.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() == celast.ComprehensionKind {
			c := e.AsComprehension()
			shadowed[c.IterVar()], shadowed[c.IterVar2()], shadowed[c.AccuVar()] = true, true, true
		}
	}))
	var bad *Error
	celast.PreOrderVisit(a.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if bad != nil || e.Kind() != celast.SelectKind {
			return
		}
		sel := e.AsSelect()
		keys, scope := knownKeys(a, sel.Operand())
		if shadowed[strings.SplitN(scope, ".", 2)[0]] {
			return
		}
		if keys == nil || slices.Contains(keys, sel.FieldName()) {
			return
		}
		col := 1
		if r, ok := a.SourceInfo().GetOffsetRange(e.ID()); ok {
			col = int(r.Start) + 2 // just past the dot
		}
		bad = &Error{Column: col, Message: fmt.Sprintf(
			"%s has no field '%s' (its fields are %s)", scope, sel.FieldName(), strings.Join(keys, ", "))}
	}))
	return bad
}

// knownKeys are the fields of the scope map that e names, if it names one
// with a fixed set of fields.
func knownKeys(a *celast.AST, e celast.Expr) ([]string, string) {
	switch e.Kind() {
	case celast.IdentKind:
		ref, ok := a.ReferenceMap()[e.ID()]
		if !ok {
			return nil, ""
		}
		switch ref.Name {
		case "contact":
			return contactKeys, "contact"
		case "message":
			return messageKeys, "message"
		case "flow":
			return flowKeys, "flow"
		}
	case celast.SelectKind:
		if sel := e.AsSelect(); sel.FieldName() == "media" {
			if _, scope := knownKeys(a, sel.Operand()); scope == "message" {
				return mediaKeys, "message.media"
			}
		}
	}
	return nil, ""
}
