package flow

import (
	"fmt"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// Calls between flows (ForwardToFlow). The flow the executor serves is the
// root; the flows it forwards to are linked into its program (Link) and run
// inside the same session, on the same account: Session.Flow says which
// flow the run is in, Session.Stack which callers wait for it to return.
// Each frame keeps its flow's revision, so a new revision of any of them is
// handled like one of a single flow (migrate): the run continues at the
// same node when it is still there with its type, else it starts over.

// selectFlow makes the session's flow the turn's program. A session in a
// flow the root is no longer linked with (the ForwardToFlow that led there
// was removed) is lost: enterFlow starts it over.
func (t *turn) selectFlow() {
	s := t.s
	if !s.Waiting() || s.Flow == "" {
		return
	}
	if p := t.root.called(s.Flow); p != nil {
		t.p = p
		return
	}
	t.lost = true
}

// enterFlow reports whether the event may be applied in the session's
// flow; a lost session starts over at the root's Start instead, as after a
// revision change that removed its node.
func (t *turn) enterFlow(ev *Event) bool {
	if !t.lost {
		return true
	}
	s := t.s
	t.logf(LogRevisionChanged, s.Node, s.NodeType, "", fmt.Sprintf(
		"the run was in flow %q, which this flow no longer forwards to: restarting at Start", s.Flow))
	t.restartRoot(ev)
	return false
}

// restartRoot starts the run over at the root's Start with the contact and
// the root's inputs; an inbound message that caused it is message.* of the
// new run.
func (t *turn) restartRoot(ev *Event) {
	s := t.s
	t.cancelTimer()
	inputs := s.Inputs
	if len(s.Stack) > 0 && s.Stack[0].Flow == "" {
		inputs = s.Stack[0].Inputs
	} else if s.Flow != "" {
		inputs = nil // a forward without return: the root's inputs are gone
	}
	var msg *message.Inbound
	if ev != nil && ev.Kind == EventInbound {
		msg = &ev.Inbound
	}
	t.startRun("", s.Contact, inputs, msg, "restarted after a revision change")
}

// forward runs a ForwardToFlow node: it computes the variables in the
// caller, pushes the caller when the node returns, and moves the run to
// the called flow's Start, whose index it returns (in t.p, now the called
// flow's program).
func (t *turn) forward(n *node) int {
	s, f := t.s, n.fwd
	target := t.root.called(f.target)
	if target == nil {
		t.fault(ReasonInternal, n.id, n.typ, fmt.Sprintf("ChatFlow %s is not available to this flow's executor (it was not linked): ending the run", f.target))
		t.end("error")
		return none
	}
	if f.ret && len(s.Stack) >= MaxCallDepth {
		t.fault(ReasonBudget, n.id, n.typ, fmt.Sprintf("forwarding to %s would nest more than %d calls: ending the run (check the flows for a cycle)", f.target, MaxCallDepth))
		t.end("error")
		return none
	}
	inputs := make(Values, len(f.vars))
	sc := t.scope()
	for i := range f.vars {
		a := &f.vars[i]
		v, err := a.compute(sc)
		if err != nil {
			t.fault(ReasonExpression, n.id, n.typ, fmt.Sprintf("%s: %v; not passed", a.name, err))
			continue
		}
		inputs[a.name] = v
	}
	if !t.forwardFits(n, f, inputs) {
		return t.onError(n)
	}
	for _, in := range target.inputs {
		if _, ok := inputs[in.Name]; in.Required && !ok {
			t.fault(ReasonInput, n.id, n.typ, fmt.Sprintf("ChatFlow %s requires the input %q, which could not be computed: ending the run", f.target, in.Name))
			t.end("error")
			return none
		}
	}
	if f.ret {
		s.Stack = append(s.Stack, Frame{Flow: s.Flow, Revision: t.p.revision, Node: n.id, NodeType: n.typ,
			Vars: s.Vars, Inputs: s.Inputs, Jumps: s.Jumps})
		t.log(LogNodeLeft, n, ExitCall, "to flow "+f.target)
	} else {
		t.log(LogNodeLeft, n, ExitForward, "to flow "+f.target)
	}
	// The called flow starts with fresh variables: its own initial values,
	// then what the caller passed.
	vars := make(Values, len(target.vars)+len(inputs))
	for _, v := range target.vars {
		vars[v.Name] = v.Value
	}
	for k, v := range inputs {
		vars[k] = v
	}
	if len(inputs) == 0 {
		inputs = nil
	}
	s.Flow, s.Revision = f.target, target.revision
	s.Vars, s.Inputs, s.Jumps = vars, inputs, nil
	t.p = target
	return target.start
}

// forwardFits applies the session budgets to a forward: each passed
// variable within MaxVariableBytes, and the session within MaxSessionBytes
// once the called flow holds them — with the caller's variables kept in
// its frame when the node returns, dropped when it does not.
func (t *turn) forwardFits(n *node, f *forwardNode, inputs Values) bool {
	for k, v := range inputs {
		if size := valueSize(v); size > MaxVariableBytes {
			t.budgetError(n, BudgetVariableSize, fmt.Sprintf(
				"the variable %s passed to %s would hold %d bytes, over the limit of %d per variable: not forwarded", k, f.target, size, MaxVariableBytes))
			return false
		}
	}
	s := t.s
	total := t.sessionSize("") + 2*valueSize(map[string]any(inputs)) // the called flow's vars and inputs
	if !f.ret {
		total -= valueSize(map[string]any(s.Vars)) + valueSize(map[string]any(s.Inputs))
	} else {
		total += 128 // the frame
	}
	if total > MaxSessionBytes {
		t.budgetError(n, BudgetSessionSize, fmt.Sprintf(
			"forwarding to %s would make the session %d bytes, over the limit of %d: not forwarded", f.target, total, MaxSessionBytes))
		return false
	}
	return true
}

// returnToCaller runs the End of a called flow whose caller waits: the
// caller's state comes back, the called flow's variables go to the
// ForwardToFlow's saveAs, and the run continues on the node's next. It
// returns the index of that node in t.p, now the caller's program.
func (t *turn) returnToCaller(end *node) int {
	s := t.s
	fr := s.Stack[len(s.Stack)-1]
	s.Stack = s.Stack[:len(s.Stack)-1]
	callee, calleeVars := s.Flow, s.Vars
	t.log(LogNodeLeft, end, ExitReturn, "to flow "+flowLabel(fr.Flow, t.root))
	s.Flow, s.Vars, s.Inputs, s.Jumps = fr.Flow, fr.Vars, fr.Inputs, fr.Jumps
	s.Node, s.NodeType = fr.Node, fr.NodeType
	caller := t.root.called(fr.Flow)
	if caller == nil {
		t.logf(LogRevisionChanged, fr.Node, fr.NodeType, "", fmt.Sprintf(
			"flow %q, which called %s, is no longer linked: restarting at Start", fr.Flow, callee))
		t.restartRoot(nil)
		return none
	}
	t.p = caller
	i, ok := caller.ids[fr.Node]
	if fr.Revision != caller.revision {
		if !ok || caller.nodes[i].typ != v1alpha1.NodeForwardToFlow || !caller.nodes[i].fwd.ret {
			t.logf(LogRevisionChanged, fr.Node, fr.NodeType, "", fmt.Sprintf(
				"revision %s → %s: node %q no longer calls and waits for a flow, restarting at Start", fr.Revision, caller.revision, fr.Node))
			t.restartRoot(nil)
			return none
		}
		t.log(LogRevisionChanged, &caller.nodes[i], "", fmt.Sprintf("revision %s → %s: returning to node %q", fr.Revision, caller.revision, fr.Node))
	}
	s.Revision = caller.revision
	n := &caller.nodes[i]
	if n.fwd.saveAs != "" {
		saved := make(map[string]any, len(calleeVars))
		for k, v := range calleeVars {
			saved[k] = v
		}
		if !t.setVar(n, n.fwd.saveAs, saved) {
			return t.onError(n)
		}
	}
	t.leave(n, ExitReturned)
	return n.next
}

// flowLabel names a flow of the set for logs: the root by its name.
func flowLabel(name string, root *Program) string {
	if name == "" {
		return root.name
	}
	return name
}
