package flow

import (
	"fmt"

	"github.com/chatflow-dev/chatflow/runtime/message"
)

// A session is stored whole after every turn and read back before the
// next, and each replica keeps the busy ones decoded in memory: what a flow
// keeps in it is bounded, whoever runs it (the executor, `chatflow test`,
// `chatflow chat`, the studio), so they all reach the same verdict.
const (
	// MaxVariableBytes bounds one variable, as JSON (an HTTP response saved
	// whole, a long reply).
	MaxVariableBytes = 64 << 10
	// MaxSessionBytes bounds what a run keeps in its session, as JSON: its
	// variables, its inputs, the last message and the recent conversation.
	MaxSessionBytes = 256 << 10
)

// Budgets, as Log.Budget names them when one bites.
const (
	BudgetVariableSize = "variable_size"
	BudgetSessionSize  = "session_size"
)

// setVar stores a variable unless that would exceed MaxVariableBytes or
// MaxSessionBytes: then it logs an error naming the budget, leaves the
// variable as it was and reports false, and the caller's node takes its
// onError (or the run ends with an error).
func (t *turn) setVar(n *node, name string, v any) bool {
	size := valueSize(v)
	if size > MaxVariableBytes {
		t.budgetError(n, BudgetVariableSize, fmt.Sprintf(
			"vars.%s would hold %d bytes, over the limit of %d per variable: not set", name, size, MaxVariableBytes))
		return false
	}
	if total := t.sessionSize(name) + size; total > MaxSessionBytes {
		t.budgetError(n, BudgetSessionSize, fmt.Sprintf(
			"setting vars.%s (%d bytes) would make the session %d bytes, over the limit of %d: not set", name, size, total, MaxSessionBytes))
		return false
	}
	if t.s.Vars == nil {
		t.s.Vars = Values{}
	}
	t.s.Vars[name] = v
	return true
}

func (t *turn) budgetError(n *node, budget, msg string) {
	e := t.add(EffectLog)
	e.Log = Log{Event: LogError, Budget: budget, Message: msg, Reason: ReasonBudget}
	if n != nil {
		e.Log.NodeID, e.Log.NodeType = n.id, n.typ
	}
}

// sessionSize estimates the session's JSON size without the variable
// except (about to be replaced).
func (t *turn) sessionSize(except string) int {
	s := t.s
	size := 1024 // ids, status, wait, sent
	for k, v := range s.Vars {
		if k != except {
			size += len(k) + 4 + valueSize(v)
		}
	}
	size += valueSize(map[string]any(s.Inputs)) + inboundSize(&s.Message)
	for _, l := range s.Recent {
		size += len(l.Text) + 64
	}
	// Callers waiting on a called flow keep their variables and inputs
	// in the session too (call.go).
	for i := range s.Stack {
		fr := &s.Stack[i]
		size += 128 + valueSize(map[string]any(fr.Vars)) + valueSize(map[string]any(fr.Inputs))
	}
	return size
}

func inboundSize(m *message.Inbound) int {
	size := len(m.Text) + len(m.ButtonID) + len(m.Payload) + 128
	if md := m.Media; md != nil {
		size += len(md.URL) + len(md.ID) + len(md.Caption) + len(md.Filename) + 64
	}
	return size
}

// valueSize estimates the JSON size of a variable's value (without the
// escaping of strings), walking it without encoding it.
func valueSize(v any) int {
	switch x := v.(type) {
	case nil:
		return 4
	case bool:
		return 5
	case int64, float64:
		return 20
	case string:
		return len(x) + 2
	case []any:
		size := 2
		for _, e := range x {
			size += valueSize(e) + 1
		}
		return size
	case map[string]any:
		size := 2
		for k, e := range x {
			size += len(k) + 4 + valueSize(e)
		}
		return size
	}
	return 20
}
