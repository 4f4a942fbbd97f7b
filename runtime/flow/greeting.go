package flow

import (
	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/expr"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// greetingScopes are what a greeting's templates may read: at the start of
// a run the contact, the flow and the initial variables are all known,
// while the inbound message, the trigger inputs and the clock are not (or
// would differ from what the run itself renders).
const greetingScopes = expr.ReadsContact | expr.ReadsFlow | expr.ReadsVars

// greetingOf is the index of the flow's greeting, or none: the SendMessage
// that Start leads to, when every template of its message reads only
// greetingScopes. The decision is made on the compiled expressions (what
// the type checker resolved), not on their source text.
func greetingOf(p *Program) int {
	first := p.nodes[p.start].next
	if first == none || p.nodes[first].typ != v1alpha1.NodeSendMessage {
		return none
	}
	if !p.nodes[first].send.reads().Only(greetingScopes) {
		return none
	}
	return first
}

// reads is what the message's templates read, together.
func (sn *sendNode) reads() expr.Scopes {
	var r expr.Scopes
	add := func(x text) {
		if x.t != nil {
			r |= x.t.Reads()
		}
	}
	buttons := func(bs []buttonTmpl) {
		for i := range bs {
			add(bs[i].title)
			add(bs[i].desc)
		}
	}
	add(sn.text)
	if m := sn.media; m != nil {
		add(m.url)
		add(m.caption)
	}
	buttons(sn.buttons)
	buttons(sn.quick)
	if l := sn.list; l != nil {
		add(l.button)
		for i := range l.sections {
			add(l.sections[i].title)
			buttons(l.sections[i].rows)
		}
	}
	if tp := sn.template; tp != nil {
		for _, c := range tp.components {
			for _, prm := range c.params {
				add(prm.text)
				add(prm.link)
			}
		}
	}
	return r
}

// Greeting renders the flow's greeting for a contact who opens a
// conversation, before any run exists: the message of the SendMessage that
// Start leads to, rendered by the same code as that node with the scope a
// new run starts with (the contact, the flow, the initial variables). It
// reports false when the flow has no greeting (Start leads elsewhere, or the
// message reads the inbound message, trigger inputs or the clock) or the
// message does not render. Channels that greet in their webhook response
// (Viber's conversation_started) send it, then start the run telling the
// executor that this node's send already went out.
func (p *Program) Greeting(c message.Contact) (Send, bool) {
	if p.greeting == none {
		return Send{}, false
	}
	n := &p.nodes[p.greeting]
	s := &Session{Contact: c, Vars: make(Values, len(p.vars))}
	for _, v := range p.vars {
		s.Vars[v.Name] = v.Value
	}
	t := turn{p: p, s: s}
	out := Send{NodeID: n.id}
	if err := t.render(n.send, &out.Message); err != nil {
		return Send{}, false
	}
	return out, true
}

// GreetingNode is the id of the node whose message is the flow's greeting,
// or "" when the flow has none (see Greeting).
func (p *Program) GreetingNode() string {
	if p.greeting == none {
		return ""
	}
	return p.nodes[p.greeting].id
}
