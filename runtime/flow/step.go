package flow

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/expr"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// MaxStepsPerTurn bounds the nodes one turn may run through: one Step, or
// one Driver.Turn with every result fed back. Compile rejects loops that
// never wait, but Jumps can still chain a long way; a run that exceeds the
// budget is ended with an error log.
const MaxStepsPerTurn = 1000

// Step applies one event to a session and returns the session and the
// effects the executor must carry out, in order. It is pure and
// deterministic: no I/O, no clock (now is the event's processing time), no
// randomness (ids derive from Session.Seq).
//
// Ownership: Step may modify s in place and return it; the caller hands s
// over and must use the returned session from then on. The returned effects
// slice is reused by the next Step on the same session, so consume it first.
// s may be nil (a contact without a session); the result is nil when the
// event did not start a run (a stray timer, a rejected RunStarted).
//
// What starts a run: an inbound message when there is no session or it has
// Ended (except for Manual flows, which start only with RunStarted), and
// RunStarted (which replaces a run in progress). A run goes from node to
// node until it waits (WaitForReply, Delay, Handoff, an HTTPRequest, a
// SendMessage with onError) or ends.
//
// Revision changes: when the session last ran another revision of the flow
// (s.Revision != p.Revision()), it continues at its current node if the new
// revision still has a node with that id and type, reading that node's new
// settings (timeouts, links) when the pending wait completes. Otherwise it
// restarts at Start with the same contact and inputs and fresh variables,
// after a revision_changed log; an inbound message that triggered the
// restart becomes message.* of the new run, any other event is dropped.
//
// Events that do not match the pending wait (an old timer id, the result of
// an effect the session no longer waits for) are ignored.
func Step(p *Program, s *Session, ev Event, now time.Time) (*Session, []Effect) {
	s, fx, _ := step(p, s, ev, now, 0)
	return s, fx
}

// step is Step with the nodes already run in this turn (spent); it returns
// the new total, so that a Driver holds a whole turn to MaxStepsPerTurn.
func step(p *Program, s *Session, ev Event, now time.Time, spent int) (*Session, []Effect, int) {
	if p == nil || len(p.nodes) == 0 {
		return s, nil, spent
	}
	t := turn{p: p, root: p, s: s, now: now.Round(0), steps: spent}
	if s != nil {
		t.fx = s.effects[:0]
	}
	t.dispatch(&ev)
	if t.s != nil {
		t.s.effects = t.fx
	}
	return t.s, t.fx, t.steps
}

// turn is the state of one Step call.
type turn struct {
	// p is the program of the flow the run is in: root, or the called flow
	// of Session.Flow (call.go).
	p     *Program
	root  *Program
	lost  bool // the session is in a called flow the root is not linked with
	s     *Session
	now   time.Time
	fx    []Effect
	steps int // nodes run in this turn, across the Steps of a Driver turn
}

func (t *turn) dispatch(ev *Event) {
	s := t.s
	t.selectFlow()
	switch ev.Kind {
	case EventRun:
		t.onRun(&ev.Run)
		return
	case EventInbound:
		if !s.Waiting() {
			t.onFirstInbound(&ev.Inbound)
			return
		}
	case EventSend:
		// Logged whatever the state: the last message of a run is often
		// confirmed after the run ended.
		if s != nil {
			t.onSend(&ev.Send)
		}
		return
	case EventStatus:
		if s != nil {
			t.onStatus(&ev.Status)
		}
		return
	}
	if !s.Waiting() {
		return
	}
	if !t.enterFlow(ev) {
		return
	}
	if s.Revision != t.p.revision && !t.migrate(ev) {
		return
	}
	switch ev.Kind {
	case EventInbound:
		t.onInbound(&ev.Inbound)
	case EventTimer:
		t.onTimer(ev.Timer.TimerID)
	case EventHTTP:
		t.onHTTP(&ev.HTTP)
	case EventResume:
		t.onResume()
	case EventModel:
		t.onModel(&ev.Model)
	}
}

// migrate moves a session to the program's revision. It reports whether
// the event should still be applied (false: the run restarted).
func (t *turn) migrate(ev *Event) bool {
	s, p := t.s, t.p
	old := s.Revision
	if i, ok := p.ids[s.Node]; ok && p.nodes[i].typ == s.NodeType {
		s.Revision = p.revision
		s.cacheProg, s.cacheIdx = p, i
		t.log(LogRevisionChanged, &p.nodes[i], "", fmt.Sprintf("revision %s → %s: continuing at node %q", old, p.revision, s.Node))
		return true
	}
	t.logf(LogRevisionChanged, s.Node, s.NodeType, "", fmt.Sprintf(
		"revision %s → %s: node %q is gone or changed type, restarting at Start", old, p.revision, s.Node))
	t.restartRoot(ev)
	return false
}

// current is the index of the session's node: the cached index when the
// session last ran this program, else a lookup by id.
func (t *turn) current() (*node, bool) {
	s, p := t.s, t.p
	if s.cacheProg == p && s.cacheIdx >= 0 && s.cacheIdx < len(p.nodes) && p.nodes[s.cacheIdx].id == s.Node {
		return &p.nodes[s.cacheIdx], true
	}
	i, ok := p.ids[s.Node]
	if !ok {
		return nil, false
	}
	s.cacheProg, s.cacheIdx = p, i
	return &p.nodes[i], true
}

// waitingAt returns the current node when it is of type typ; otherwise the
// session is inconsistent (edited by hand, or from an incompatible
// program) and the run ends with an error.
func (t *turn) waitingAt(typ v1alpha1.NodeType) *node {
	n, ok := t.current()
	if ok && n.typ == typ {
		return n
	}
	t.fault(ReasonInternal, t.s.Node, t.s.NodeType, fmt.Sprintf("the session waits (%s) at node %q, which is not a %s node of this flow: ending the run", t.s.Status, t.s.Node, typ))
	t.end("error")
	return nil
}

func (t *turn) onRun(r *RunStarted) {
	inputs := make(Values, len(t.p.inputs))
	for _, in := range t.p.inputs {
		v, ok := r.Inputs[in.Name]
		if !ok {
			if in.Required {
				t.fault(ReasonInput, "", "", fmt.Sprintf("run rejected: the required input %q is missing", in.Name))
				return
			}
			continue
		}
		nv, err := normalize(v)
		if err != nil {
			t.fault(ReasonInput, "", "", fmt.Sprintf("run rejected: input %q: %v", in.Name, err))
			return
		}
		inputs[in.Name] = nv
	}
	if size := valueSize(map[string]any(inputs)); size > MaxSessionBytes/2 {
		t.budgetError(nil, BudgetSessionSize, fmt.Sprintf("run rejected: its inputs hold %d bytes, over the limit of %d", size, MaxSessionBytes/2))
		return
	}
	if t.s == nil {
		t.s = &Session{}
	} else if t.s.Waiting() {
		t.cancelTimer()
		t.logf(LogRunEnded, t.s.Node, t.s.NodeType, "", "superseded by a new run")
	}
	t.s.Campaign = r.Campaign
	t.startRun(r.RunID, r.Contact, inputs, nil, "manual")
}

func (t *turn) onFirstInbound(in *message.Inbound) {
	if t.p.trigger == v1alpha1.TriggerManual {
		t.logf(LogMessageIgnored, "", "", "", "a Manual flow starts only through the run API; no run is in progress for this contact")
		return
	}
	if t.s == nil {
		t.s = &Session{}
	}
	t.s.Campaign = ""
	t.startRun("", in.Contact, nil, in, "inbound")
}

// startRun resets the session for a new run and runs it from Start.
func (t *turn) startRun(runID string, c message.Contact, inputs Values, msg *message.Inbound, how string) {
	t.p = t.root // a run starts in the flow the executor serves
	s, p := t.s, t.p
	if runID == "" {
		runID = t.deriveRunID(c, msg)
	}
	s.Flow, s.Stack = "", nil
	s.Version = SessionVersion
	s.RunID = runID
	s.Contact = c
	s.Revision = p.revision
	s.Status = StatusActive
	s.Wait = Wait{}
	s.Sent = s.Sent[:0]
	clear(s.Jumps)
	if s.Vars == nil {
		s.Vars = make(Values, len(p.vars)+len(inputs))
	} else {
		clear(s.Vars)
	}
	for _, v := range p.vars {
		s.Vars[v.Name] = v.Value
	}
	if len(inputs) == 0 {
		inputs = nil
	}
	s.Inputs = inputs
	for k, v := range inputs {
		s.Vars[k] = v
	}
	if msg != nil {
		s.Message = *msg
		t.heard(msg)
	} else {
		s.Message = message.Inbound{}
	}
	t.logf(LogRunStarted, "", "", "", how)
	t.run(p.start)
}

// deriveRunID makes a run id from what started the run and the session's
// counter: deterministic, and different for every run of a contact.
func (t *turn) deriveRunID(c message.Contact, msg *message.Inbound) string {
	t.s.Seq++
	h := sha256.New()
	h.Write([]byte(c.Channel))
	h.Write([]byte{0})
	h.Write([]byte(c.ID))
	h.Write([]byte{0})
	if msg != nil {
		h.Write([]byte(msg.ID))
	}
	h.Write([]byte{0})
	h.Write(strconv.AppendUint(nil, t.s.Seq, 10))
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func (t *turn) onInbound(in *message.Inbound) {
	s := t.s
	t.heard(in)
	switch s.Status {
	case StatusWaitingReply:
		n := t.waitingAt(v1alpha1.NodeWaitForReply)
		if n == nil {
			return
		}
		t.cancelTimer()
		s.Message = *in
		t.settle()
		if n.wait.saveAs != "" {
			v := in.Text
			if v == "" {
				v = in.ButtonID
			}
			if !t.setVar(n, n.wait.saveAs, v) {
				t.run(t.onError(n))
				return
			}
		}
		t.leave(n, "replied")
		t.run(n.next)
	case StatusDelayed, StatusWaitingSend, StatusWaitingHTTP, StatusWaitingModel:
		// Recorded, so the next node sees it as message.*, but it does not
		// advance the flow: the node in progress has not finished.
		s.Message = *in
		t.logf(LogMessageIgnored, s.Node, s.NodeType, "", "recorded as message.*; the flow goes on when the "+string(s.NodeType)+" node completes")
	case StatusHandedOff:
		// Kept for the flow (message.*, Recent) and forwarded to the agent.
		n := t.waitingAt(v1alpha1.NodeHandoff)
		if n == nil {
			return
		}
		s.Message = *in
		e := t.add(EffectHandoffMessage)
		e.HandoffMessage = HandoffMessage{ID: t.newID(), NodeID: n.id, URL: s.Wait.URL, Queue: n.handoff.queue, Contact: s.Contact, Message: *in}
		t.log(LogMessageIgnored, n, "", "the contact is handed off: forwarded to the agent, and recorded as message.* for when the flow resumes")
	default:
		t.inconsistent()
	}
}

func (t *turn) onTimer(id string) {
	s := t.s
	if id == "" || id != s.Wait.TimerID {
		return // stale: a timer of an earlier wait
	}
	var n *node
	switch s.Status {
	case StatusWaitingReply:
		if n = t.waitingAt(v1alpha1.NodeWaitForReply); n == nil {
			return
		}
	case StatusDelayed:
		if n = t.waitingAt(v1alpha1.NodeDelay); n == nil {
			return
		}
		s.Wait = Wait{}
		t.leave(n, "next")
		t.run(n.next)
		return
	case StatusHandedOff:
		if n = t.waitingAt(v1alpha1.NodeHandoff); n == nil {
			return
		}
	default:
		return
	}
	s.Wait = Wait{}
	t.settle()
	t.leave(n, "timeout")
	if n.onTimeout != none {
		t.run(n.onTimeout)
	} else {
		t.run(n.next)
	}
}

func (t *turn) onResume() {
	if t.s.Status != StatusHandedOff {
		return
	}
	n := t.waitingAt(v1alpha1.NodeHandoff)
	if n == nil {
		return
	}
	t.cancelTimer()
	t.settle()
	t.leave(n, "resumed")
	t.run(n.next)
}

// onHTTP applies an HTTP result. The response is saved whenever there is
// one, error statuses included, so an onError branch can read
// vars.<saveAs>.status; only 2xx goes on to next.
func (t *turn) onHTTP(r *HTTPResult) {
	s := t.s
	if s.Status != StatusWaitingHTTP || r.EffectID == "" || r.EffectID != s.Wait.EffectID {
		return
	}
	n := t.waitingAt(v1alpha1.NodeHTTPRequest)
	if n == nil {
		return
	}
	s.Wait = Wait{}
	if r.Err == "" && n.http.saveAs != "" && !t.setVar(n, n.http.saveAs, responseValue(r)) {
		t.run(t.onError(n))
		return
	}
	if r.Err == "" && r.Status >= 200 && r.Status < 300 {
		t.leave(n, "success")
		t.run(n.next)
		return
	}
	msg, reason := r.Err, ReasonHTTPError
	if msg == "" {
		msg = fmt.Sprintf("the request returned HTTP %d", r.Status)
	} else if r.Reason != "" {
		reason = r.Reason
	}
	t.run(t.fail(n, reason, msg))
}

func (t *turn) onSend(r *SendResult) {
	s := t.s
	e := t.sentBy(func(e *Sent) bool { return e.EffectID == r.EffectID })
	nodeID := ""
	if e != nil {
		nodeID = e.NodeID
		e.MessageID = r.MessageID
	}
	if r.Error == nil {
		t.logf(LogMessageSent, nodeID, t.sendType(nodeID), "", r.MessageID)
	} else {
		t.failedSend(nodeID, r.Error)
	}
	if s.Status != StatusWaitingSend || r.EffectID == "" || r.EffectID != s.Wait.EffectID || t.lost {
		return
	}
	if s.Revision != t.p.revision && !t.migrate(&Event{Kind: EventSend}) {
		return
	}
	// A SendMessage, or an AIReply sending its answer.
	typ := v1alpha1.NodeSendMessage
	if s.NodeType == v1alpha1.NodeAIReply {
		typ = v1alpha1.NodeAIReply
	}
	n := t.waitingAt(typ)
	if n == nil {
		return
	}
	s.Wait = Wait{}
	if r.Error == nil {
		branch := "sent"
		if typ == v1alpha1.NodeAIReply {
			branch = branchAnswered
		}
		t.leave(n, branch)
		t.run(n.next)
		return
	}
	if e != nil {
		e.Live = false
	}
	t.run(t.onError(n))
}

// onStatus handles delivery statuses. Only failures matter: one of a
// message whose node has onError, while the session still waits where that
// message left it, takes the node's onError (the contact will never see
// the message the wait expects an answer to).
func (t *turn) onStatus(st *message.Status) {
	if st.State != "failed" || st.MessageID == "" {
		return
	}
	s, p := t.s, t.p
	e := t.sentBy(func(e *Sent) bool { return e.MessageID == st.MessageID })
	nodeID := ""
	if e != nil {
		nodeID = e.NodeID
	}
	t.failedSend(nodeID, st.Error)
	if e == nil || !e.Live {
		return
	}
	e.Live = false
	if (s.Status != StatusWaitingReply && s.Status != StatusDelayed) || s.Revision != p.revision || e.Flow != s.Flow || t.lost {
		return
	}
	i, ok := p.ids[e.NodeID]
	if !ok || (p.nodes[i].typ != v1alpha1.NodeSendMessage && p.nodes[i].typ != v1alpha1.NodeAIReply) || p.nodes[i].onError == none {
		return
	}
	cur, ok := t.current()
	if !ok {
		return
	}
	t.cancelTimer()
	t.settle()
	t.leave(cur, "send_failed")
	t.run(p.nodes[i].onError)
}

// sendType is the node type of a send's log event: the sending node's
// (SendMessage, or AIReply for an answer), SendMessage for a node the
// program no longer has, none when the sender is unknown.
func (t *turn) sendType(nodeID string) v1alpha1.NodeType {
	if nodeID == "" {
		return ""
	}
	if typ, ok := t.p.NodeType(nodeID); ok {
		return typ
	}
	return v1alpha1.NodeSendMessage
}

func sendErrorText(e *message.SendError) string {
	if e == nil {
		return "failed"
	}
	if e.Code != 0 {
		return fmt.Sprintf("%s (code %d, %s)", e.Message, e.Code, e.Class)
	}
	return e.Message
}

// sentBy finds a remembered send.
func (t *turn) sentBy(match func(*Sent) bool) *Sent {
	for i := len(t.s.Sent) - 1; i >= 0; i-- {
		if match(&t.s.Sent[i]) {
			return &t.s.Sent[i]
		}
	}
	return nil
}

// heard adds an inbound message to the recent conversation.
func (t *turn) heard(in *message.Inbound) {
	text := in.Text
	switch {
	case in.Media != nil:
		text = strings.TrimSpace("[" + string(in.Media.Kind) + "] " + firstOf(in.Media.URL, in.Media.ID) + " " + in.Media.Caption)
	case text == "" && in.ButtonID != "":
		text = "[button] " + in.ButtonID
	case text == "" && in.Kind != "":
		text = "[" + string(in.Kind) + "]"
	}
	t.line(Line{From: FromContact, Text: text, At: in.Timestamp})
}

// said adds a message the flow sends to the recent conversation.
func (t *turn) said(nodeID string, m *message.Outbound) {
	text := m.Text
	switch {
	case m.Template != nil:
		text = "[template " + m.Template.Name + "]"
	case m.Media != nil:
		text = strings.TrimSpace("[" + string(m.Media.Kind) + "] " + m.Media.URL + " " + firstOf(m.Media.Caption, m.Text))
	case text == "" && m.List != nil:
		text = "[list] " + m.List.Button
	}
	t.line(Line{From: FromFlow, NodeID: nodeID, Text: text, At: t.now})
}

// line appends to Session.Recent, dropping the oldest beyond MaxRecent.
func (t *turn) line(l Line) {
	if !t.p.recent {
		return
	}
	if len(l.Text) > MaxLineText {
		cut := MaxLineText
		for cut > 0 && !utf8.RuneStart(l.Text[cut]) {
			cut--
		}
		l.Text = l.Text[:cut]
	}
	s := t.s
	if len(s.Recent) >= MaxRecent {
		n := copy(s.Recent, s.Recent[len(s.Recent)-MaxRecent+1:])
		s.Recent = s.Recent[:n]
	}
	s.Recent = append(s.Recent, l)
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// remember records a send, dropping the oldest beyond MaxSent.
func (t *turn) remember(id, nodeID string, live bool) {
	s := t.s
	if len(s.Sent) >= MaxSent {
		n := copy(s.Sent, s.Sent[len(s.Sent)-MaxSent+1:])
		s.Sent = s.Sent[:n]
	}
	s.Sent = append(s.Sent, Sent{EffectID: id, NodeID: nodeID, Flow: s.Flow, Live: live})
}

// settle marks the sends so far as answered: once the contact replied (or
// the wait ended), a late failure of an earlier message no longer reroutes.
func (t *turn) settle() {
	for i := range t.s.Sent {
		t.s.Sent[i].Live = false
	}
}

func (t *turn) inconsistent() {
	t.fault(ReasonInternal, t.s.Node, t.s.NodeType, fmt.Sprintf("the session has status %q at rest: ending the run", t.s.Status))
	t.end("error")
}

// cancelTimer cancels the pending timer, if any, and clears the wait.
func (t *turn) cancelTimer() {
	if id := t.s.Wait.TimerID; id != "" {
		e := t.add(EffectCancelTimer)
		e.Timer.ID = id
	}
	t.s.Wait = Wait{}
}

// end ends the run.
func (t *turn) end(reason string) {
	s := t.s
	s.Status = StatusEnded
	s.Wait = Wait{}
	t.logf(LogRunEnded, s.Node, s.NodeType, "", reason)
}

func (t *turn) add(k EffectKind) *Effect {
	t.fx = append(t.fx, Effect{Kind: k})
	return &t.fx[len(t.fx)-1]
}

func (t *turn) log(ev LogEvent, n *node, branch, msg string) {
	t.logf(ev, n.id, n.typ, branch, msg)
}

func (t *turn) logf(ev LogEvent, nodeID string, typ v1alpha1.NodeType, branch, msg string) {
	e := t.add(EffectLog)
	e.Log = Log{Event: ev, NodeID: nodeID, NodeType: typ, Branch: branch, Message: msg}
}

func (t *turn) leave(n *node, branch string) { t.log(LogNodeLeft, n, branch, "") }

// fault logs an error of a node (of the run when nodeID is empty), with its
// reason class.
func (t *turn) fault(reason Reason, nodeID string, typ v1alpha1.NodeType, msg string) {
	e := t.add(EffectLog)
	e.Log = Log{Event: LogError, NodeID: nodeID, NodeType: typ, Message: msg, Reason: reason}
}

// failedSend logs a send the channel refused (at once or by a delivery
// status).
func (t *turn) failedSend(nodeID string, err *message.SendError) {
	e := t.add(EffectLog)
	e.Log = Log{Event: LogMessageFailed, NodeID: nodeID, NodeType: t.sendType(nodeID), Message: sendErrorText(err), Reason: ReasonSendRefused}
}

// newID returns the next effect or timer id: <run id>.<seq>.
func (t *turn) newID() string {
	s := t.s
	s.Seq++
	var b [64]byte
	buf := append(b[:0], s.RunID...)
	buf = append(buf, '.')
	buf = strconv.AppendUint(buf, s.Seq, 10)
	return string(buf)
}

// scope refreshes and returns the session's expression scope.
func (t *turn) scope() *expr.Scope {
	s := t.s
	sc := &s.scope
	sc.Vars = s.Vars
	sc.Trigger = s.Inputs
	sc.Contact = expr.Contact{ID: s.Contact.ID, Name: s.Contact.Name, Channel: string(s.Contact.Channel)}
	m := &s.Message
	sc.Message = expr.Message{Text: m.Text, Type: string(m.Kind), ButtonID: m.ButtonID, Payload: m.Payload}
	if md := m.Media; md != nil {
		s.media = expr.Media{Kind: string(md.Kind), URL: md.URL, ID: md.ID, MIMEType: md.MIMEType, Caption: md.Caption, Filename: md.Filename}
		sc.Message.Media = &s.media
	}
	sc.Flow = expr.FlowInfo{Name: t.p.name, Revision: t.p.revision}
	sc.Now = t.now
	return sc
}
