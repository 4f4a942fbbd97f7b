package flow

import (
	"fmt"
	"mime"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/expr"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// run executes nodes from idx until the run waits or ends.
func (t *turn) run(idx int) {
	s := t.s
	if idx != none {
		s.Status = StatusActive
	}
	for idx != none {
		p := t.p // a ForwardToFlow or a return moves the run to another flow
		if t.steps >= MaxStepsPerTurn {
			t.fault(ReasonBudget, s.Node, s.NodeType, fmt.Sprintf(
				"the run went through %d nodes in one turn without waiting: ending it (check the flow's Jumps)", MaxStepsPerTurn))
			t.end("error")
			return
		}
		t.steps++
		n := &p.nodes[idx]
		s.Node, s.NodeType = n.id, n.typ
		s.cacheProg, s.cacheIdx = p, idx
		t.log(LogNodeEntered, n, "", "")
		idx = t.exec(n)
	}
}

// exec runs one node and returns the next node's index, or none when the
// run now waits or ended.
func (t *turn) exec(n *node) int {
	s := t.s
	switch n.typ {
	case v1alpha1.NodeStart:
		t.leave(n, "next")
		return n.next

	case v1alpha1.NodeEnd:
		if len(s.Stack) > 0 {
			return t.returnToCaller(n)
		}
		s.Status = StatusEnded
		s.Wait = Wait{}
		t.log(LogRunEnded, n, "", "end")
		return none

	case v1alpha1.NodeSendMessage:
		id := t.newID()
		e := t.add(EffectSend)
		e.Send.ID, e.Send.NodeID = id, n.id
		if err := t.render(n.send, &e.Send.Message); err != nil {
			t.fx = t.fx[:len(t.fx)-1]
			return t.fail(n, ReasonRender, "rendering the message: "+err.Error())
		}
		t.remember(id, n.id, n.onError != none)
		t.said(n.id, &e.Send.Message)
		if n.onError != none {
			// Wait for the channel's verdict: a refusal takes onError.
			s.Status = StatusWaitingSend
			s.Wait = Wait{EffectID: id}
			return none
		}
		t.leave(n, "next")
		return n.next

	case v1alpha1.NodeWaitForReply:
		t.setTimer(n.wait.timeout)
		s.Status = StatusWaitingReply
		return none

	case v1alpha1.NodeCondition:
		sc := t.scope()
		for i := range n.cond.branches {
			b := &n.cond.branches[i]
			ok, err := b.when.EvalBool(sc)
			if err != nil {
				// An error is neither true nor false: later branches may
				// assume this one was false, so none of them is tried.
				t.fault(ReasonExpression, n.id, n.typ, fmt.Sprintf("%s: %v; taking default", b.label, err))
				t.leave(n, "default")
				return n.cond.def
			}
			if ok {
				t.leave(n, b.label)
				return b.next
			}
		}
		t.leave(n, "default")
		return n.cond.def

	case v1alpha1.NodeSetVariables:
		for i := range n.set {
			a := &n.set[i]
			v, err := a.compute(t.scope()) // later assignments see earlier ones
			if err != nil {
				// A variable that cannot be computed keeps its value; the
				// error is logged and the flow goes on (SetVariables has
				// no onError).
				reason := ReasonRender
				if a.expr != nil {
					reason = ReasonExpression
				}
				t.fault(reason, n.id, n.typ, fmt.Sprintf("%s: %v; left unchanged", a.name, err))
				continue
			}
			if !t.setVar(n, a.name, v) {
				return t.onError(n)
			}
		}
		t.leave(n, "next")
		return n.next

	case v1alpha1.NodeHTTPRequest:
		id := t.newID()
		e := t.add(EffectHTTPCall)
		if err := t.request(n, id, &e.HTTP); err != nil {
			t.fx = t.fx[:len(t.fx)-1]
			return t.fail(n, ReasonRender, err.Error())
		}
		s.Status = StatusWaitingHTTP
		s.Wait = Wait{EffectID: id}
		return none

	case v1alpha1.NodeDelay:
		t.setTimer(n.delay)
		s.Status = StatusDelayed
		return none

	case v1alpha1.NodeJump:
		if s.Jumps == nil {
			s.Jumps = map[string]int{}
		}
		if c := s.Jumps[n.id]; c < n.jump.max {
			s.Jumps[n.id] = c + 1
			t.leave(n, "jump")
			return n.jump.target
		}
		t.leave(n, "next")
		return n.next

	case v1alpha1.NodeForwardToFlow:
		return t.forward(n)

	case v1alpha1.NodeHandoff:
		h := n.handoff
		id := t.newID()
		u, err := h.url.render(t.scope())
		if err != nil {
			// The hand-off still happens; only its notification is incomplete.
			t.fault(ReasonRender, n.id, n.typ, "rendering notifyURL: "+err.Error())
			u = ""
		} else if u != "" {
			if msg := checkURL(u); msg != "" {
				t.fault(ReasonRender, n.id, n.typ, fmt.Sprintf("notifyURL %q %s", withoutQuery(u), msg))
				u = ""
			}
		}
		e := t.add(EffectHandoffNotify)
		e.Handoff = HandoffNotify{ID: id, NodeID: n.id, URL: u, Queue: h.queue, Contact: s.Contact, Transcript: slices.Clone(s.Recent)}
		t.setTimer(h.timeout)
		s.Wait.URL = u
		s.Status = StatusHandedOff
		return none

	case v1alpha1.NodeAIReply, v1alpha1.NodeAIClassify, v1alpha1.NodeAIExtract:
		return t.execAI(n)
	}
	t.fault(ReasonInternal, n.id, n.typ, "unknown node type")
	t.end("error")
	return none
}

// setTimer emits a SetTimer and records it as the pending wait.
func (t *turn) setTimer(d time.Duration) {
	id := t.newID()
	at := t.now.Add(d)
	e := t.add(EffectSetTimer)
	e.Timer.ID, e.Timer.At = id, at
	t.s.Wait = Wait{TimerID: id, Deadline: at}
}

// fail handles a failure of a node: the node's onError when it has one,
// else the run ends with an error. It returns the node to run next.
func (t *turn) fail(n *node, reason Reason, msg string) int {
	t.fault(reason, n.id, n.typ, msg)
	return t.onError(n)
}

func (t *turn) onError(n *node) int {
	if n.onError != none {
		t.leave(n, "error")
		return n.onError
	}
	t.end("error")
	return none
}

// render builds the outbound message of a SendMessage node.
func (t *turn) render(sn *sendNode, out *message.Outbound) error {
	sc := t.scope()
	out.To = t.s.Contact
	out.Tag = sn.tag
	var err error
	if sn.hasText {
		if out.Text, err = sn.text.render(sc); err != nil {
			return err
		}
	}
	if m := sn.media; m != nil {
		md := &message.Media{Kind: m.kind, Filename: m.filename}
		if md.URL, err = m.url.render(sc); err != nil {
			return err
		}
		if md.Caption, err = m.caption.render(sc); err != nil {
			return err
		}
		out.Media = md
	}
	if out.Buttons, err = renderButtons(sn.buttons, sc); err != nil {
		return err
	}
	if out.QuickReplies, err = renderButtons(sn.quick, sc); err != nil {
		return err
	}
	if l := sn.list; l != nil {
		ol := &message.List{Sections: make([]message.Section, len(l.sections))}
		if ol.Button, err = l.button.render(sc); err != nil {
			return err
		}
		for i, sec := range l.sections {
			if ol.Sections[i].Title, err = sec.title.render(sc); err != nil {
				return err
			}
			if ol.Sections[i].Rows, err = renderButtons(sec.rows, sc); err != nil {
				return err
			}
		}
		out.List = ol
	}
	if tp := sn.template; tp != nil {
		ot := &message.Template{Name: tp.name, Language: tp.language}
		if len(tp.components) > 0 {
			ot.Components = make([]message.TemplateComponent, len(tp.components))
		}
		for i, c := range tp.components {
			oc := &ot.Components[i]
			oc.Type, oc.SubType, oc.Index = c.typ, c.subType, c.index
			if len(c.params) > 0 {
				oc.Parameters = make([]message.TemplateParameter, len(c.params))
			}
			for j, prm := range c.params {
				op := &oc.Parameters[j]
				op.Type, op.Payload = prm.typ, prm.payload
				if op.Text, err = prm.text.render(sc); err != nil {
					return err
				}
				if op.Link, err = prm.link.render(sc); err != nil {
					return err
				}
			}
		}
		out.Template = ot
	}
	return nil
}

func renderButtons(bs []buttonTmpl, scope *expr.Scope) ([]message.Button, error) {
	if len(bs) == 0 {
		return nil, nil
	}
	out := make([]message.Button, len(bs))
	var err error
	for i, b := range bs {
		out[i].ID = b.id
		if out[i].Title, err = b.title.render(scope); err != nil {
			return nil, err
		}
		if out[i].Description, err = b.desc.render(scope); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// request builds the HTTP call of an HTTPRequest node.
func (t *turn) request(n *node, id string, call *HTTPCall) error {
	h := n.http
	sc := t.scope()
	u, err := h.url.render(sc)
	if err != nil {
		return fmt.Errorf("rendering the url: %w", err)
	}
	if len(h.query) > 0 {
		var q strings.Builder
		for _, p := range h.query {
			v, err := p.value.render(sc)
			if err != nil {
				return fmt.Errorf("rendering query parameter %s: %w", p.name, err)
			}
			if q.Len() > 0 {
				q.WriteByte('&')
			}
			q.WriteString(url.QueryEscape(p.name))
			q.WriteByte('=')
			q.WriteString(url.QueryEscape(v))
		}
		u = appendQuery(u, q.String())
	}
	if msg := checkURL(u); msg != "" {
		return fmt.Errorf("the url %q %s", clip(withoutQuery(u)), msg)
	}
	// Values rendered into the url may hold spaces and the like: send it
	// in its escaped form.
	if pu, err := url.Parse(u); err == nil {
		pu.RawQuery = strings.ReplaceAll(pu.RawQuery, " ", "%20")
		u = pu.String()
	}
	*call = HTTPCall{ID: id, NodeID: n.id, Method: h.method, URL: u, Timeout: h.timeout}
	if len(h.headers) > 0 {
		call.Headers = make([]Header, len(h.headers))
	}
	for i, hd := range h.headers {
		call.Headers[i].Name = hd.name
		if hd.secret.Name != "" {
			call.Headers[i].SecretRef = hd.secret
			continue
		}
		if call.Headers[i].Value, err = hd.value.render(sc); err != nil {
			return fmt.Errorf("rendering header %s: %w", hd.name, err)
		}
		if strings.ContainsAny(call.Headers[i].Value, "\r\n") {
			return fmt.Errorf("header %s: the rendered value contains a line break", hd.name)
		}
	}
	if call.Body, err = h.body.render(sc); err != nil {
		return fmt.Errorf("rendering the body: %w", err)
	}
	return nil
}

// appendQuery adds encoded parameters to a URL, before any fragment and
// after any query it already has.
func appendQuery(u, q string) string {
	frag := ""
	if i := strings.IndexByte(u, '#'); i >= 0 {
		u, frag = u[:i], u[i:]
	}
	switch {
	case !strings.Contains(u, "?"):
		u += "?" + q
	case strings.HasSuffix(u, "?") || strings.HasSuffix(u, "&"):
		u += q
	default:
		u += "&" + q
	}
	return u + frag
}

// responseValue is what an HTTPRequest's saveAs variable holds: status,
// headers (lower-case names) and body, decoded when the response is JSON.
// Text that is not UTF-8 is made so, as storing the session would: the
// session a replica keeps in memory and the one another reads back from the
// store must be the same.
func responseValue(r *HTTPResult) map[string]any {
	headers := make(map[string]any, len(r.Headers))
	ct := r.ContentType
	for k, v := range r.Headers {
		lk := strings.ToValidUTF8(strings.ToLower(k), "\uFFFD")
		headers[lk] = strings.ToValidUTF8(v, "\uFFFD")
		if ct == "" && lk == "content-type" {
			ct = v
		}
	}
	var body any = strings.ToValidUTF8(string(r.Body), "\uFFFD")
	if isJSON(ct) {
		if v, err := decodeJSON(r.Body); err == nil {
			body = v
		}
	}
	return map[string]any{"status": int64(r.Status), "headers": headers, "body": body}
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// withoutQuery drops the query and fragment of a rendered URL for the
// event log: they may carry tokens and contact data.
func withoutQuery(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i] + "?…"
	}
	return u
}
