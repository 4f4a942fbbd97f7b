package expr

import (
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"
)

// Scope is the data an expression sees. The interpreter builds one per turn;
// it must be cheap, so it holds plain values and nothing is converted for CEL
// until an expression reads it.
type Scope struct {
	// Vars are the flow variables: strings, numbers (int64 or float64, as
	// JSON decodes them), bools, nil and nested []any / map[string]any.
	Vars    map[string]any
	Contact Contact
	// Message is the last inbound message; its zero value means none.
	Message Message
	// Trigger holds the inputs of a Manual run.
	Trigger map[string]any
	Flow    FlowInfo
	// Now is the evaluation time; it is used as given so that evaluation
	// stays deterministic.
	Now time.Time
}

// Contact is the person the flow talks to, seen as the map `contact`.
type Contact struct{ ID, Name, Channel string }

// Message is the last inbound message, seen as the map `message`. Type is
// "text", "button", "media", "location", "other", or "" when there is none.
type Message struct {
	Text, Type, ButtonID, Payload string
	// Media is nil when the message carries none; `message.media` is then an
	// empty map, so `has(message.media.url)` works either way.
	Media *Media
}

// Media is the attachment of a message, seen as the map `message.media`.
type Media struct{ Kind, URL, ID, MIMEType, Caption, Filename string }

// FlowInfo identifies the running flow, seen as the map `flow`.
type FlowInfo struct{ Name, Revision string }

// scopeNames lists the CEL variables, in the order error hints name them.
var scopeNames = []string{"vars", "contact", "message", "trigger", "flow", "now"}

// activation lets CEL read a Scope in place: converting a *Scope to it
// costs nothing, where a map[string]any activation would be built and
// filled on every evaluation.
type activation Scope

// ResolveName hands out a scope member only when the expression reads it.
// Vars and Trigger go out as native maps, which cel-go's field selection
// reads without wrapping; the structs go out as pointer-shaped map views.
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "vars":
		return a.Vars, true
	case "contact":
		return record[*Contact]{&a.Contact}, true
	case "message":
		return record[*Message]{&a.Message}, true
	case "trigger":
		return a.Trigger, true
	case "flow":
		return record[*FlowInfo]{&a.Flow}, true
	case "now":
		return types.Timestamp{Time: a.Now}, true
	}
	return nil, false
}

// Parent is nil: a Scope is the whole world of an expression.
func (*activation) Parent() interpreter.Activation { return nil }

// emptyScope stands in for a nil *Scope so that callers without a turn (the
// linter, tests) can still evaluate.
var emptyScope Scope
