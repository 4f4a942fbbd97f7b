package transcript

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/chat"
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/whatsapp"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// Result is the outcome of one test.
type Result struct {
	Name string
	Line int
	// Failure is empty when the test passed; else what went wrong, on
	// several lines.
	Failure string
}

// Passed reports whether the test passed.
func (r Result) Passed() bool { return r.Failure == "" }

// Run runs every test of the file whose name matches filter (nil: all)
// against the compiled flow. channel is the channel messages go out on
// (the file's channel, when set, wins).
func Run(f *File, p *flow.Program, channel message.Channel, filter *regexp.Regexp) []Result {
	if f.Channel != "" {
		channel = f.Channel
	}
	var out []Result
	for i := range f.Tests {
		t := &f.Tests[i]
		if filter != nil && !filter.MatchString(t.Name) {
			continue
		}
		r := newRunner(f, t, p, channel)
		out = append(out, Result{Name: t.Name, Line: t.Line, Failure: r.run()})
	}
	return out
}

// Exchange is what the flow did in answer to one input of a test, in the
// order the turn driver performed it: what `chatflow test` checks a test's
// expectations against, and what a running executor must reproduce (the
// repository runs every transcript through an executor process as well).
type Exchange struct {
	// Input is the step played.
	Input *Step
	// Now is the flow's clock for the input (a timer's deadline for timer:).
	Now time.Time
	// Contact is who the flow talks to.
	Contact message.Contact
	// Sends, Calls, Handoffs and Forwards are the effects performed, each
	// in order; Logs are the execution events.
	Sends    []flow.Send
	Calls    []flow.HTTPCall
	Models   []ModelExchange
	Handoffs []flow.HandoffNotify
	Forwards []flow.HandoffMessage
	Logs     []flow.Log
	// Session is the session once the input's turn is over (nil: none).
	Session *flow.Session
}

// Play plays the inputs of one test (user, tap, inbound, run, timer,
// resume) without checking its expectations, and returns what the flow did
// at each. It stops at the first input the test cannot play (a tap on
// nothing offered, a timer that is not pending, a call without a stub): the
// error says why, and the exchanges of the inputs before it are returned.
func Play(f *File, p *flow.Program, channel message.Channel, t *Test) (out []Exchange, err error) {
	if f.Channel != "" {
		channel = f.Channel
	}
	r := newRunner(f, t, p, channel)
	r.record = true
	r.begin()
	defer func() {
		if x := recover(); x != nil {
			fl, ok := x.(failure)
			if !ok {
				panic(x)
			}
			// The input that failed is not part of what was played.
			out, err = r.exchanges[:len(r.exchanges)-1], errors.New(fl.msg)
		}
	}()
	for i := range t.Transcript {
		s := &t.Transcript[i]
		if !s.Kind.isInput() {
			continue
		}
		r.pending = r.pending[:0]
		r.exchanges = append(r.exchanges, Exchange{Input: s, Contact: r.contact})
		r.input(s)
		x := &r.exchanges[len(r.exchanges)-1]
		x.Now = r.now
		if r.sess != nil {
			x.Session = cloneSession(r.sess)
		}
	}
	return r.exchanges, nil
}

// ModelExchange is a model call of an AI node and the stubbed answer it got.
type ModelExchange struct {
	Call   flow.ModelCall
	Result flow.ModelResult
}

// isInput reports whether a step drives the flow (rather than checks it).
func (k StepKind) isInput() bool {
	switch k {
	case StepUser, StepTap, StepInbound, StepRun, StepTimer, StepResume:
		return true
	}
	return false
}

// cloneSession copies what an Exchange shows of a session.
func cloneSession(s *flow.Session) *flow.Session {
	c := *s
	c.Vars = maps.Clone(s.Vars)
	c.Inputs = maps.Clone(s.Inputs)
	c.Jumps = maps.Clone(s.Jumps)
	c.Sent = slices.Clone(s.Sent)
	c.Recent = slices.Clone(s.Recent)
	return &c
}

// runner plays one test. It is the flow.Performer of `chatflow test`:
// sends are taken (or refused, as sendErrors say) and queued for bot:
// expectations, HTTP calls answered from the stubs, hand-offs recorded.
type runner struct {
	file    *File
	test    *Test
	prog    *flow.Program
	channel message.Channel
	contact message.Contact
	driver  *flow.Driver

	now  time.Time
	sess *flow.Session
	seq  int
	// stubless is set when a call found no stub: the test fails once the
	// turn is over, and nothing after the call is recorded.
	stubless string
	// record keeps what each input made the flow do (Play).
	record    bool
	exchanges []Exchange
	offered   map[string]message.Button // choices offered so far, by id (or template payload)
	pending   []sent                    // messages sent and not yet expected
	calls     []flow.HTTPCall           // HTTP calls not yet expected
	handoff   []flow.HandoffNotify      // hand-offs not yet expected
	stubs     *Stubs
	// wire is the account the contact writes through: inputs become the
	// channel's webhooks, read by its parser; sends are rendered by its
	// renderer, and what a message offers to tap is what the rendering
	// offers.
	wire    chat.Account
	replies []reply  // messages delivered, newest last
	trace   []string // the conversation so far, for reports
}

// reply is a delivered message as the contact sees it.
type reply struct {
	out message.Outbound
	chat.Reply
}

type sent struct {
	node string
	msg  message.Outbound
}

// failure stops a test.
type failure struct{ msg string }

func (r *runner) fail(format string, args ...any) { panic(failure{fmt.Sprintf(format, args...)}) }

func newRunner(f *File, t *Test, p *flow.Program, channel message.Channel) *runner {
	r := &runner{file: f, test: t, prog: p, channel: channel, now: f.start}
	r.driver = flow.NewDriver(p, func() time.Time { return r.now })
	return r
}

// begin sets the contact and the records up.
func (r *runner) begin() {
	c := DefaultContact
	if r.file.Contact != nil {
		c = *r.file.Contact
	}
	if r.test.Contact != nil {
		c = *r.test.Contact
	}
	r.contact = message.Contact{ID: c.ID, Name: c.Name, Channel: r.channel}
	r.offered = map[string]message.Button{}
	r.stubs = r.file.TestStubs(r.test)
	r.wire = chat.Account{Channel: r.channel, ID: testAccount, Phone: "+15550000000", SenderName: "Test",
		Manual: r.prog.Trigger() == v1alpha1.TriggerManual}
}

func (r *runner) run() (msg string) {
	r.begin()
	var step *Step
	defer func() {
		if x := recover(); x != nil {
			f, ok := x.(failure)
			if !ok {
				panic(x)
			}
			msg = r.report(step, f.msg)
		}
	}()
	for i := range r.test.Transcript {
		step = &r.test.Transcript[i]
		r.step(step)
	}
	step = nil
	if len(r.pending) > 0 {
		r.fail("the test ended but the flow sent a message it does not expect:\n%s", indent(describe(r.pending[0]), "  "))
	}
	return ""
}

func (r *runner) report(step *Step, msg string) string {
	var b strings.Builder
	if step != nil {
		fmt.Fprintf(&b, "%s:%d: %s: ", r.file.Name, step.Line, step.Kind)
	} else {
		fmt.Fprintf(&b, "%s:%d: ", r.file.Name, r.test.Line)
	}
	b.WriteString(msg)
	if len(r.trace) > 0 {
		b.WriteString("\nconversation so far:\n")
		for _, t := range r.trace {
			b.WriteString("  " + t + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func (r *runner) step(s *Step) {
	switch s.Kind {
	case StepUser, StepTap, StepInbound, StepRun, StepTimer, StepResume: // isInput
		if len(r.pending) > 0 {
			r.fail("the flow sent a message the test does not expect (expect it with bot: before this step):\n%s", indent(describe(r.pending[0]), "  "))
		}
		r.input(s)
	case StepBot:
		r.expectBot(s)
	case StepCall:
		if len(r.calls) == 0 {
			r.fail("expected an HTTP call, but the flow made none since the last one checked (%s)", r.where())
		}
		c := r.calls[0]
		r.calls = r.calls[1:]
		got := map[string]any{"node": c.NodeID, "method": c.Method, "url": c.URL, "body": c.Body}
		hs := map[string]any{}
		for _, h := range c.Headers {
			if h.SecretRef.Name != "" {
				hs[h.Name] = "secret:" + h.SecretRef.Name + "/" + h.SecretRef.Key
			} else {
				hs[h.Name] = h.Value
			}
		}
		got["headers"] = hs
		r.compare("the HTTP call differs", s.Want, got)
	case StepHandoff:
		if len(r.handoff) == 0 {
			r.fail("expected a hand-off, but the flow handed nothing off since the last one checked (%s)", r.where())
		}
		h := r.handoff[0]
		r.handoff = r.handoff[1:]
		r.compare("the hand-off differs", s.Want, map[string]any{"node": h.NodeID, "queue": h.Queue, "url": h.URL})
	case StepVars:
		var got map[string]any
		if r.sess != nil {
			got = r.sess.Vars
		}
		if diffs := match("vars", s.Want, toJSON(got)); len(diffs) > 0 {
			r.fail("variables differ:\n%s", indent(strings.Join(diffs, "\n"), "  "))
		}
	case StepWaiting:
		if !r.sess.Waiting() || r.sess.Node != s.Node {
			r.fail("expected the flow to wait at %q, but %s", s.Node, r.where())
		}
	case StepEnded:
		ended := !r.sess.Waiting()
		if ended != s.Ended {
			if s.Ended {
				r.fail("expected the run to be over, but %s", r.where())
			}
			r.fail("expected the run to go on, but it is over")
		}
	}
}

// where says what the session waits for.
func (r *runner) where() string {
	s := r.sess
	if !s.Waiting() {
		return "the run is over"
	}
	switch s.Status {
	case flow.StatusWaitingReply:
		return fmt.Sprintf("the flow waits for a reply at %q", s.Node)
	case flow.StatusDelayed:
		return fmt.Sprintf("the flow waits for the Delay at %q", s.Node)
	case flow.StatusHandedOff:
		return fmt.Sprintf("the contact is handed off at %q", s.Node)
	}
	return fmt.Sprintf("the flow is at %q (%s)", s.Node, s.Status)
}

func (r *runner) input(s *Step) {
	r.now = r.now.Add(time.Second)
	switch s.Kind {
	case StepUser:
		r.trace = append(r.trace, "> user: "+s.Text)
		r.say(chat.Input{Text: s.Text})
	case StepTap:
		id, key := s.Tap.ID, s.Tap.ID
		if s.Tap.Payload != "" {
			id, key = s.Tap.Payload, "payload:"+s.Tap.Payload
		}
		in, ok := r.tap(id, s.Tap.Title)
		if !ok {
			r.fail("nothing with id %q was offered to tap (offered: %s)", id, r.offeredList())
		}
		r.trace = append(r.trace, fmt.Sprintf("> tap: %s (%s)", strings.TrimPrefix(key, "payload:"), in.Choice.Title))
		r.say(in)
	case StepInbound:
		// Kinds the contact cannot type (media, locations) are made
		// here, with the contact as the channel's webhooks carry it.
		in := s.Inbound
		r.trace = append(r.trace, fmt.Sprintf("> inbound: %s %q", in.Kind, in.Text))
		r.seq++
		in.ID = fmt.Sprintf("test.%d", r.seq)
		in.Contact = r.wireContact()
		in.Timestamp = r.now
		r.apply(flow.Inbound(in))
	case StepRun:
		if r.prog.Trigger() != "Manual" {
			r.fail("run starts Manual flows; this flow is triggered by %s: start it with user: instead", r.prog.Trigger())
		}
		b, _ := json.Marshal(s.Inputs)
		r.trace = append(r.trace, "> run: "+string(b))
		r.seq++
		// A rejected run (a required input missing) shows in the trace;
		// the test may expect it with ended: true.
		r.apply(flow.RunStarted{RunID: fmt.Sprintf("run-%d", r.seq), Contact: r.contact, Inputs: s.Inputs}.Event())
	case StepTimer:
		sess := r.sess
		if !sess.Waiting() || sess.Wait.TimerID == "" {
			r.fail("no timer is pending: %s", r.where())
		}
		if sess.Node != s.Node {
			r.fail("the pending timer is at %q, not %q", sess.Node, s.Node)
		}
		if d := sess.Wait.Deadline; d.After(r.now) {
			r.now = d
		}
		r.trace = append(r.trace, fmt.Sprintf("~ timer fires at %s", s.Node))
		r.apply(flow.TimerFired{TimerID: sess.Wait.TimerID}.Event())
	case StepResume:
		sess := r.sess
		if !sess.Waiting() || sess.Status != flow.StatusHandedOff || sess.Node != s.Node {
			r.fail("no hand-off to resume at %q: %s", s.Node, r.where())
		}
		r.trace = append(r.trace, "~ an agent resumes the flow at "+s.Node)
		r.apply(flow.Resume{}.Event())
	}
}

func (r *runner) offeredList() string {
	if len(r.offered) == 0 {
		return "nothing"
	}
	keys := slices.Sorted(maps.Keys(r.offered))
	for i, k := range keys {
		keys[i] = strings.TrimPrefix(k, "payload:")
	}
	return strings.Join(keys, ", ")
}

// testAccount is the account id of the channel in tests.
const testAccount = "100000000000001"

// say sends an input the way the channel delivers it: the channel's
// webhook, read by the channel's parser (so contact.name is what the
// channel carries: nothing on Messenger and Instagram).
func (r *runner) say(in chat.Input) {
	r.seq++
	msgs := r.parsed(in, r.seq)
	for _, m := range msgs {
		r.apply(flow.Inbound(m))
	}
}

func (r *runner) parsed(in chat.Input, seq int) []message.Inbound {
	_, body, err := r.wire.Webhook(r.contact.ID, r.contact.Name, in, int64(seq), r.now)
	if err != nil {
		r.fail("%v", err)
	}
	b, err := r.wire.Parse(body)
	if err != nil || len(b.Messages) != 1 {
		r.fail("the %s parser does not read the webhook of this input (please report this): %v\n%s", r.channel, err, body)
	}
	return b.Messages
}

// wireContact is the contact as the channel's webhooks carry it.
func (r *runner) wireContact() message.Contact {
	return r.parsed(chat.Input{Text: "-"}, 0)[0].Contact
}

// tap picks what the newest message offering id offers, as the channel
// rendered it (a reply button, list row, quick reply, postback, template
// quick reply or Viber keyboard button); title, when set, replaces the
// choice's title.
func (r *runner) tap(id, title string) (chat.Input, bool) {
	for i := len(r.replies) - 1; i >= 0; i-- {
		rp := &r.replies[i]
		offered := offeredTitle(rp.out, id)
		if offered == nil {
			continue
		}
		for _, c := range rp.Choices {
			if c.ID == id || (r.channel == message.Viber && c.Title == *offered) {
				if title != "" {
					c.Title = title
				}
				return chat.Input{Choice: &c, ReplyTo: rp.MessageID, Tracking: rp.Tracking}, true
			}
		}
	}
	return chat.Input{}, false
}

// offeredTitle is the title of what m offers with id (a button, quick
// reply or list row id, or a template quick reply payload), or nil.
func offeredTitle(m message.Outbound, id string) *string {
	all := append(slices.Clone(m.Buttons), m.QuickReplies...)
	if m.List != nil {
		for _, s := range m.List.Sections {
			all = append(all, s.Rows...)
		}
	}
	for _, b := range all {
		if b.ID == id {
			return &b.Title
		}
	}
	if m.Template != nil {
		for _, c := range m.Template.Components {
			for _, p := range c.Parameters {
				if p.Type == "payload" && p.Payload == id {
					return &p.Payload
				}
			}
		}
	}
	return nil
}

// apply carries an event through a turn of the flow driver, the runner
// performing the effects, until the flow waits for the test again.
func (r *runner) apply(ev flow.Event) {
	r.sess, _ = r.driver.Turn(context.Background(), r.sess, ev, r)
	if msg := r.stubless; msg != "" {
		r.stubless = ""
		r.fail("%s", msg)
	}
}

// Perform implements flow.Performer.
func (r *runner) Perform(_ context.Context, _ *flow.Session, ef *flow.Effect) (flow.Event, bool) {
	e := *ef
	if r.stubless != "" {
		// The test fails at the call without a stub: take the rest of
		// the turn without recording it.
		switch e.Kind {
		case flow.EffectSend:
			return flow.SendResult{EffectID: e.Send.ID}.Event(), true
		case flow.EffectHTTPCall:
			return flow.HTTPResult{EffectID: e.HTTP.ID, Err: "no stub"}.Event(), true
		case flow.EffectModelCall:
			return flow.ModelResult{EffectID: e.Model.ID, Err: "no stub"}.Event(), true
		}
		return flow.Event{}, false
	}
	if r.record && len(r.exchanges) > 0 {
		x := &r.exchanges[len(r.exchanges)-1]
		switch e.Kind {
		case flow.EffectSend:
			x.Sends = append(x.Sends, e.Send)
		case flow.EffectHTTPCall:
			x.Calls = append(x.Calls, e.HTTP)
		case flow.EffectHandoffNotify:
			x.Handoffs = append(x.Handoffs, e.Handoff)
		case flow.EffectHandoffMessage:
			x.Forwards = append(x.Forwards, e.HandoffMessage)
		case flow.EffectLog:
			x.Logs = append(x.Logs, e.Log)
		}
	}
	switch e.Kind {
	case flow.EffectSend:
		s := e.Send
		r.pending = append(r.pending, sent{node: s.NodeID, msg: s.Message})
		r.trace = append(r.trace, fmt.Sprintf("< bot [%s]: %s", s.NodeID, summary(s.Message)))
		res := flow.SendResult{EffectID: s.ID, MessageID: fmt.Sprintf("out.%s", s.ID)}
		// The channel's renderer has the last word, as the executor's
		// sender: a message it cannot render is refused.
		bodies, err := r.wire.Render(s.Message)
		se, refused := r.sendError(s.NodeID)
		switch {
		case err != nil:
			res.MessageID = ""
			res.Error = &message.SendError{Class: message.Permanent, Code: channel.CodeInvalidMessage, Message: err.Error()}
			r.trace = append(r.trace, "  (the channel cannot send it: "+err.Error()+")")
		case refused:
			res.MessageID = ""
			res.Error = &message.SendError{Class: message.Permanent, Code: se.Code, Message: se.Message}
			r.trace = append(r.trace, fmt.Sprintf("  (the channel refuses it: %d %s)", se.Code, se.Message))
		default:
			r.offer(s.Message)
			rp := reply{out: s.Message}
			for _, b := range bodies {
				seen := chat.ParseReply(r.channel, res.MessageID, b)
				rp.Choices = append(rp.Choices, seen.Choices...)
				rp.MessageID, rp.Tracking = seen.MessageID, seen.Tracking
			}
			r.replies = append(r.replies, rp)
		}
		return res.Event(), true
	case flow.EffectHTTPCall:
		c := e.HTTP
		r.calls = append(r.calls, c)
		res, ok := r.respond(c)
		if !ok {
			return res.Event(), true
		}
		outcome := strconv.Itoa(res.Status)
		if res.Err != "" {
			outcome = "error: " + res.Err
		}
		r.trace = append(r.trace, fmt.Sprintf("~ http [%s]: %s %s → %s", c.NodeID, c.Method, c.URL, outcome))
		return res.Event(), true
	case flow.EffectModelCall:
		c := e.Model
		res, err := r.stubs.RespondModel(c)
		if err != nil {
			r.stubless = err.Error()
			return res.Event(), true
		}
		if r.record && len(r.exchanges) > 0 {
			x := &r.exchanges[len(r.exchanges)-1]
			x.Models = append(x.Models, ModelExchange{Call: c, Result: res})
		}
		var outcome string
		switch {
		case res.Err != "":
			outcome = "error: " + res.Err
		case res.Refusal != "":
			outcome = "refusal: " + strconv.Quote(res.Refusal)
		default:
			outcome = strconv.Quote(res.Content)
		}
		r.trace = append(r.trace, fmt.Sprintf("~ ai [%s]: %s → %s", c.NodeID, c.Model, outcome))
		return res.Event(), true
	case flow.EffectHandoffNotify:
		r.handoff = append(r.handoff, e.Handoff)
		r.trace = append(r.trace, fmt.Sprintf("~ handoff [%s] queue=%q", e.Handoff.NodeID, e.Handoff.Queue))
	case flow.EffectHandoffMessage:
		r.trace = append(r.trace, fmt.Sprintf("~ forwarded to the agent [%s]: %q", e.HandoffMessage.NodeID, e.HandoffMessage.Message.Text))
	case flow.EffectLog:
		if e.Log.Event == flow.LogError {
			r.trace = append(r.trace, fmt.Sprintf("! error [%s]: %s", e.Log.NodeID, e.Log.Message))
		}
		if e.Log.Event == flow.LogRunEnded {
			r.trace = append(r.trace, "~ run ended: "+e.Log.Message)
		}
	}
	return flow.Event{}, false
}

// offer records the choices a message offers, for taps.
func (r *runner) offer(m message.Outbound) {
	for _, b := range m.Buttons {
		r.offered[b.ID] = b
	}
	for _, b := range m.QuickReplies {
		r.offered[b.ID] = b
	}
	if m.List != nil {
		for _, s := range m.List.Sections {
			for _, b := range s.Rows {
				r.offered[b.ID] = b
			}
		}
	}
	if m.Template != nil {
		for _, c := range m.Template.Components {
			for _, p := range c.Parameters {
				if p.Type == "payload" && p.Payload != "" {
					r.offered["payload:"+p.Payload] = message.Button{ID: p.Payload, Title: p.Payload}
				}
			}
		}
	}
}

func (r *runner) sendError(node string) (SendError, bool) {
	if e, ok := r.test.SendErrors[node]; ok {
		return e, true
	}
	e, ok := r.file.SendErrors[node]
	return e, ok
}

// respond answers an HTTP call from the stubs; without a usable stub it
// reports false, and the test fails once the turn is over.
func (r *runner) respond(c flow.HTTPCall) (flow.HTTPResult, bool) {
	res, err := r.stubs.Respond(c)
	if err != nil {
		r.stubless = err.Error()
		return res, false
	}
	return res, true
}

func (r *runner) expectBot(s *Step) {
	if len(r.pending) == 0 {
		r.fail("expected a message, but the flow sent none since the last one checked (%s)", r.where())
	}
	got := r.pending[0]
	r.pending = r.pending[1:]
	want := maps.Clone(s.Want)
	var diffs []string
	if n, ok := want["node"]; ok {
		delete(want, "node")
		if ns, _ := n.(string); ns != got.node {
			diffs = append(diffs, fmt.Sprintf("node: want %q, got %q", n, got.node))
		}
	}
	if pat, ok := want["matches"]; ok {
		delete(want, "matches")
		ps, _ := pat.(string)
		re, err := regexp.Compile(ps)
		if err != nil {
			r.fail("matches: %v", err)
		}
		if !re.MatchString(got.msg.Text) {
			diffs = append(diffs, fmt.Sprintf("text: want a match of %q, got %q", ps, got.msg.Text))
		}
	}
	var wantWA any
	if wa, ok := want["whatsapp"]; ok {
		delete(want, "whatsapp")
		wantWA = wa
	}
	for _, k := range []string{"buttons", "quickReplies"} {
		if l, ok := want[k].([]any); ok {
			want[k] = titles(l)
		}
	}
	gotMap, _ := toJSON(got.msg).(map[string]any)
	delete(gotMap, "to")
	for _, k := range []string{"text", "tag"} {
		if _, ok := gotMap[k]; !ok {
			gotMap[k] = "" // absent text is empty text
		}
	}
	diffs = append(diffs, match("", want, gotMap)...)
	if wantWA != nil {
		if r.channel != message.WhatsApp {
			r.fail("whatsapp: the flow sends on %q, not WhatsApp", r.channel)
		}
		b, err := whatsapp.Render(got.msg)
		if err != nil {
			diffs = append(diffs, "whatsapp: WhatsApp cannot send this message: "+err.Error())
		} else {
			var wa any
			_ = json.Unmarshal(b, &wa)
			for _, d := range match("whatsapp", jsonish(wantWA), normalizeNumbers(wa)) {
				diffs = append(diffs, d)
			}
			if len(diffs) > 0 {
				pretty, _ := json.MarshalIndent(wa, "", "  ")
				diffs = append(diffs, "the rendered WhatsApp request:\n"+indent(string(pretty), "  "))
			}
		}
	}
	if len(diffs) > 0 {
		r.fail("the message from %q differs:\n%s", got.node, indent(strings.Join(diffs, "\n"), "  "))
	}
}

// titles turns the shorthand of a list of button titles into {title}s.
func titles(l []any) []any {
	out := make([]any, len(l))
	for i, e := range l {
		if s, ok := e.(string); ok {
			out[i] = map[string]any{"title": s}
		} else {
			out[i] = e
		}
	}
	return out
}

// compare fails the test when got does not match want.
func (r *runner) compare(what string, want map[string]any, got map[string]any) {
	if diffs := match("", want, toJSON(got)); len(diffs) > 0 {
		r.fail("%s:\n%s", what, indent(strings.Join(diffs, "\n"), "  "))
	}
}

// toJSON turns a value into JSON-like data (maps, lists, strings, int64,
// float64, bools) the way it would be serialised.
func toJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil
	}
	return normalizeNumbers(out)
}

// normalizeNumbers makes whole float64s int64, as YAML would read them.
func normalizeNumbers(v any) any {
	switch t := v.(type) {
	case float64:
		if t == float64(int64(t)) {
			return int64(t)
		}
	case []any:
		for i := range t {
			t[i] = normalizeNumbers(t[i])
		}
	case map[string]any:
		for k, e := range t {
			t[k] = normalizeNumbers(e)
		}
	}
	return v
}

// summary is a message on one line, for the conversation trace.
func summary(m message.Outbound) string {
	var parts []string
	if m.Text != "" {
		parts = append(parts, strconv.Quote(m.Text))
	}
	if m.Media != nil {
		parts = append(parts, fmt.Sprintf("%s %s", m.Media.Kind, m.Media.URL))
	}
	for _, set := range [][]message.Button{m.Buttons, m.QuickReplies} {
		if len(set) > 0 {
			t := make([]string, len(set))
			for i, b := range set {
				t[i] = b.ID
			}
			parts = append(parts, "["+strings.Join(t, " | ")+"]")
		}
	}
	if m.List != nil {
		parts = append(parts, "[list: "+m.List.Button+"]")
	}
	if m.Template != nil {
		parts = append(parts, "template "+m.Template.Name)
	}
	return strings.Join(parts, " ")
}

// describe is a message as YAML-ish lines, for "unexpected message".
func describe(s sent) string {
	b, _ := json.Marshal(s.msg)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	delete(m, "to")
	out, _ := json.Marshal(m)
	return fmt.Sprintf("from %q: %s", s.node, out)
}

func indent(s, by string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = by + l
	}
	return strings.Join(lines, "\n")
}
