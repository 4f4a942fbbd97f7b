package twilio

import (
	"fmt"
	"math"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/flow"
)

// Options tune Import.
type Options struct {
	// Name of the ChatFlow (required).
	Name string
	// Namespace of the ChatFlow; empty leaves it out.
	Namespace string
	// Trigger type; empty picks WhatsApp when the Studio trigger has a
	// messaging entry, else Manual for a REST entry.
	Trigger v1alpha1.TriggerType
}

// Item is one thing the import could not carry over as it was.
type Item struct {
	State   string `json:"state"`
	Type    string `json:"type"`
	Message string `json:"message"`
	// Dropped is true when the widget was not translated at all (it became
	// an End node, or was left out as unreachable); false for a partial
	// translation.
	Dropped bool `json:"dropped"`
}

func (i Item) String() string {
	what := "approximated"
	if i.Dropped {
		what = "not translated"
	}
	return fmt.Sprintf("%s: %s (%s): %s", what, i.State, i.Type, i.Message)
}

// Report lists what did not translate as it was.
type Report struct {
	Items []Item `json:"items"`
}

// Dropped counts the widgets that were not translated.
func (r *Report) Dropped() int {
	n := 0
	for _, i := range r.Items {
		if i.Dropped {
			n++
		}
	}
	return n
}

// Widget types.
const (
	typeTrigger      = "trigger"
	typeSendMessage  = "send-message"
	typeSendAndWait  = "send-and-wait-for-reply"
	typeSplit        = "split-based-on"
	typeSetVariables = "set-variables"
	typeHTTP         = "make-http-request"
	typeFunction     = "run-function"
	typeFlex         = "send-to-flex"
)

// voice widgets, for the report's wording.
var voiceTypes = []string{"say-play", "gather-input-on-call", "connect-call-to", "make-outgoing-call-v2",
	"make-outgoing-call", "record-voicemail", "record-call", "enqueue-call", "capture-payments", "fork-stream",
	"connect-virtual-agent", "add-twiml-redirect"}

// StudioRepeatLimit is how many times Studio runs the same widget in a row
// before it stops an execution; loops that never wait get a Jump with
// this maxJumps.
const StudioRepeatLimit = 10

// Import translates a Studio flow definition into a ChatFlow that
// compiles, with a report of what did not translate as it was.
func Import(data []byte, opts Options) (*v1alpha1.ChatFlow, *Report, error) {
	if opts.Name == "" {
		return nil, nil, fmt.Errorf("name the ChatFlow (--name)")
	}
	d, friendly, err := parse(data)
	if err != nil {
		return nil, nil, err
	}
	t := newTranslator(d)
	if err := t.translate(opts); err != nil {
		return nil, nil, err
	}
	cf := &v1alpha1.ChatFlow{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ChatFlow"},
		ObjectMeta: metav1.ObjectMeta{Name: opts.Name, Namespace: opts.Namespace},
		Spec:       t.spec,
	}
	cf.Spec.DisplayName = clip(friendly, 128)
	cf.Spec.Remark = clip(d.Description, 1024)
	if _, errs := flow.Compile(&cf.Spec, flow.Options{Channel: flow.ChannelOf(&cf.Spec), FlowName: opts.Name}); len(errs) > 0 {
		return cf, &t.report, t.refusal(cf, errs)
	}
	return cf, &t.report, nil
}

// Refusal is Import's error for a definition whose translation is not a
// valid ChatFlow: it names each widget the flow rules refuse, and why.
type Refusal struct {
	Items []Item
}

func (r *Refusal) Error() string {
	var b strings.Builder
	b.WriteString("the Studio flow cannot be imported: what it does cannot be expressed as a ChatFlow")
	for _, it := range r.Items {
		fmt.Fprintf(&b, "\n  %s (%s): %s", it.State, it.Type, it.Message)
	}
	return b.String()
}

var nodeField = regexp.MustCompile(`^spec\.nodes\[(\d+)\]`)

// refusal names the widgets behind the compiler's errors: a loop of
// widgets that waits for the contact forever with no way out is the one a
// Studio flow can have and a ChatFlow cannot.
func (t *translator) refusal(cf *v1alpha1.ChatFlow, errs field.ErrorList) *Refusal {
	stateOf := map[string]*state{}
	for name, id := range t.ids {
		stateOf[id] = t.states[name]
	}
	for name, id := range t.waitIDs {
		stateOf[id] = t.states[name]
	}
	r := &Refusal{}
	seen := map[string]bool{}
	for _, e := range errs {
		if e.Field == "spec.nodes" && e.Type == field.ErrorTypeRequired && strings.Contains(e.Detail, "End node") {
			// No transition leads out: the flow loops for ever. The
			// widgets that wait are where a way out belongs.
			for _, n := range cf.Spec.Nodes {
				if s, ok := stateOf[n.ID]; ok && s.Type == typeSendAndWait && n.Type == v1alpha1.NodeSendMessage {
					r.Items = append(r.Items, Item{State: s.Name, Type: s.Type, Dropped: true,
						Message: "every transition of the flow leads back into it, so nothing ever ends it, and a ChatFlow must be able to end: give this widget's timeout (or another transition) a way out"})
				}
			}
			if len(r.Items) > 0 {
				continue
			}
		}
		it := Item{State: "(the flow)", Type: "flow", Message: e.ErrorBody(), Dropped: true}
		if m := nodeField.FindStringSubmatch(e.Field); m != nil {
			i, _ := strconv.Atoi(m[1])
			if i < len(cf.Spec.Nodes) {
				if s, ok := stateOf[cf.Spec.Nodes[i].ID]; ok {
					it.State, it.Type = s.Name, s.Type
				} else {
					it.State, it.Type = cf.Spec.Nodes[i].ID, "added by the import"
				}
			}
		}
		if key := it.State + "\x00" + it.Message; !seen[key] {
			seen[key] = true
			r.Items = append(r.Items, it)
		}
	}
	return r
}

type translator struct {
	def    *definition
	states map[string]*state
	spec   v1alpha1.ChatFlowSpec
	report Report

	ids      map[string]string // state name → node id of its entry
	waitIDs  map[string]string // send-and-wait state → its WaitForReply node id
	usedIDs  map[string]bool
	vars     map[string]string // flow.variables key → variable name
	widgets  map[string]string // widget state name → the variable its result is saved in
	usedVars map[string]bool
	inputs   []string // Manual inputs, in order of first use
	trigger  v1alpha1.TriggerType

	needEnd     bool
	needTrigMsg bool
	cur         *state // the state being translated, for notes
}

func newTranslator(d *definition) *translator {
	t := &translator{
		def: d, states: map[string]*state{}, ids: map[string]string{}, waitIDs: map[string]string{},
		usedIDs: map[string]bool{"start": true, "end": true, "trigger-message": true},
		vars:    map[string]string{}, widgets: map[string]string{}, usedVars: map[string]bool{"trigger_message_body": true},
	}
	for i := range d.States {
		s := &d.States[i]
		t.states[s.Name] = s
	}
	return t
}

func (t *translator) note(s *state, msg string, dropped bool) {
	for _, it := range t.report.Items {
		if it.State == s.Name && it.Message == msg {
			return
		}
	}
	t.report.Items = append(t.report.Items, Item{State: s.Name, Type: s.Type, Message: msg, Dropped: dropped})
}

func (t *translator) liquid() *liquid {
	return &liquid{ref: t.ref, note: func(msg string) { t.note(t.cur, msg, false) }}
}

var flowVarRe = regexp.MustCompile(`flow\.variables\.([A-Za-z0-9_-]+)`)

// names assigns node ids to states and variable names to flow variables
// and widget results, before anything refers to them.
func (t *translator) names() {
	for _, s := range t.def.States {
		if s.Type == typeSetVariables {
			for _, kv := range s.keyValues("variables") {
				t.flowVar(kv[0])
			}
		}
	}
	for _, s := range t.def.States {
		for _, v := range s.Properties {
			t.scanVars(v)
		}
		for _, tr := range s.Transitions {
			for _, c := range tr.Conditions {
				t.scanVars(c.Value)
				for _, a := range c.Arguments {
					t.scanVars(a)
				}
			}
		}
	}
	for _, s := range t.def.States {
		if s.Type == typeTrigger {
			continue
		}
		t.ids[s.Name] = t.uniqueID(slug(s.Name))
		switch s.Type {
		case typeSendAndWait:
			t.waitIDs[s.Name] = t.uniqueID(t.ids[s.Name] + "-reply")
			name := s.prop("save_response_as")
			if name == "" {
				name = s.Name
			}
			t.widgets[s.Name] = t.uniqueVar(varName(name))
		case typeHTTP, typeFunction:
			t.widgets[s.Name] = t.uniqueVar(varName(s.Name))
		}
	}
}

func (t *translator) scanVars(v any) {
	switch x := v.(type) {
	case string:
		for _, m := range flowVarRe.FindAllStringSubmatch(x, -1) {
			t.flowVar(m[1])
		}
	case []any:
		for _, e := range x {
			t.scanVars(e)
		}
	case map[string]any:
		for _, e := range x {
			t.scanVars(e)
		}
	}
}

// flowVar returns the variable name of a flow.variables key, declaring it.
func (t *translator) flowVar(key string) string {
	if v, ok := t.vars[key]; ok {
		return v
	}
	v := t.uniqueVar(varName(key))
	t.vars[key] = v
	// Declared with an empty value: Studio reads an unset variable as empty.
	t.spec.Variables = append(t.spec.Variables, v1alpha1.Variable{Name: v})
	return v
}

func (t *translator) uniqueID(id string) string {
	base := id
	for i := 2; t.usedIDs[id]; i++ {
		suffix := "-" + strconv.Itoa(i)
		id = strings.TrimRight(clip(base, 63-len(suffix)), "-") + suffix
	}
	t.usedIDs[id] = true
	return id
}

func (t *translator) uniqueVar(v string) string {
	base := v
	for i := 2; t.usedVars[v]; i++ {
		v = clip(base, 60) + "_" + strconv.Itoa(i)
	}
	t.usedVars[v] = true
	return v
}

// target is the node id a transition leads to: its state's entry, or the
// End node when it leads nowhere.
func (t *translator) target(name string) string {
	if name == "" {
		t.needEnd = true
		return "end"
	}
	if id, ok := t.ids[name]; ok {
		return id
	}
	// A transition to a state that does not exist (or to the trigger)
	// ends the execution in Studio as well.
	t.note(t.cur, fmt.Sprintf("a transition leads to %q, which is not a widget of the flow: it ends the flow", name), false)
	t.needEnd = true
	return "end"
}

func (t *translator) translate(opts Options) error {
	trig, ok := t.states[t.def.InitialState]
	if !ok {
		return fmt.Errorf("initial_state %q is not a state of the flow", t.def.InitialState)
	}
	t.names()
	entry, err := t.chooseTrigger(trig, opts.Trigger)
	if err != nil {
		return err
	}
	t.spec.Trigger.Type = t.trigger

	// Translate what the chosen entry reaches through the links the
	// translation makes, breadth first: a widget reached only through a
	// transition that has no equivalent (the voice events of a voice
	// widget, which ends the chat flow; a Flex hand-off's failure) is left
	// out with the drafts, not kept as a node no path leads to.
	byID := make(map[string]*state, len(t.ids))
	for name, id := range t.ids {
		byID[id] = t.states[name]
	}
	var nodes []v1alpha1.Node
	translated := map[string]bool{trig.Name: true}
	queue := []*state{t.states[entry]}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if s == nil || translated[s.Name] {
			continue
		}
		translated[s.Name] = true
		t.cur = s
		ns := t.state(s)
		for i := range ns {
			for _, l := range links(&ns[i]) {
				if next, ok := byID[*l]; ok && !translated[next.Name] {
					queue = append(queue, next)
				}
			}
		}
		nodes = append(nodes, ns...)
	}
	t.reportLeftOut(trig, entry, translated)

	t.cur = trig
	start := v1alpha1.Node{ID: "start", Type: v1alpha1.NodeStart, Next: t.target(entry)}
	head := []v1alpha1.Node{start}
	if t.needTrigMsg {
		// trigger.message.Body is the message that started the run; later
		// replies replace message.*, so it is saved first.
		v := "message.text"
		head[0].Next = "trigger-message"
		head = append(head, v1alpha1.Node{ID: "trigger-message", Type: v1alpha1.NodeSetVariables, Next: start.Next,
			SetVariables: &v1alpha1.SetVariablesNode{Variables: []v1alpha1.Assignment{{Name: "trigger_message_body", Expr: &v}}}})
	}
	nodes = append(head, nodes...)
	nodes = boundLoops(nodes, t)
	if t.needEnd {
		nodes = append(nodes, v1alpha1.Node{ID: "end", Type: v1alpha1.NodeEnd})
	}
	t.spec.Nodes = nodes
	if t.trigger == v1alpha1.TriggerManual {
		for _, in := range t.inputs {
			t.spec.Trigger.Inputs = append(t.spec.Trigger.Inputs, v1alpha1.TriggerInput{Name: in})
		}
	}
	return nil
}

// reportLeftOut reports every widget the translation did not reach, and
// why: only through transitions that have no equivalent, only from
// another entry of the trigger, or from nowhere (a draft on the canvas).
func (t *translator) reportLeftOut(trig *state, entry string, translated map[string]bool) {
	reach := func(from string) map[string]bool {
		seen := map[string]bool{}
		for queue := []string{from}; len(queue) > 0; queue = queue[1:] {
			n := queue[0]
			s, ok := t.states[n]
			if !ok || seen[n] || s == trig {
				continue
			}
			seen[n] = true
			for _, tr := range s.Transitions {
				if tr.Next != nil {
					queue = append(queue, *tr.Next)
				}
			}
		}
		return seen
	}
	fromEntry := reach(entry)
	fromOther := map[string]string{} // state → the entry event that reaches it
	for _, tr := range trig.Transitions {
		if tr.Next == nil || *tr.Next == entry {
			continue
		}
		for n := range reach(*tr.Next) {
			if _, ok := fromOther[n]; !ok {
				fromOther[n] = tr.Event
			}
		}
	}
	for i := range t.def.States {
		s := &t.def.States[i]
		if translated[s.Name] {
			continue
		}
		var msg string
		switch {
		case fromEntry[s.Name]:
			var via []string
			for _, p := range t.def.States {
				if !translated[p.Name] || p.Name == trig.Name {
					continue
				}
				for _, tr := range p.Transitions {
					if tr.Next != nil && *tr.Next == s.Name {
						via = append(via, fmt.Sprintf("the %s transition of %s (%s)", tr.Event, p.Name, p.Type))
					}
				}
			}
			if len(via) == 0 {
				msg = fmt.Sprintf("reached from the trigger's %s entry only through widgets that are left out: left out", t.entryEvent(trig))
			} else {
				msg = fmt.Sprintf("reached only through %s, which has no equivalent in a chat flow: left out", strings.Join(via, " and "))
			}
		case fromOther[s.Name] != "":
			msg = fmt.Sprintf("reached only from the trigger's %s entry, which is not translated: left out", fromOther[s.Name])
		default:
			msg = fmt.Sprintf("no transition reaches it from the trigger's %s entry (a widget left on the canvas): left out", t.entryEvent(trig))
		}
		t.note(s, msg, true)
	}
}

// Trigger events.
const (
	evMessage      = "incomingMessage"
	evConversation = "incomingConversationMessage"
	evRequest      = "incomingRequest"
	evCall         = "incomingCall"
	evParent       = "incomingParent"
)

func (t *translator) entryEvent(trig *state) string {
	if t.trigger == v1alpha1.TriggerManual {
		return evRequest
	}
	if trig.next(evMessage) == "" && trig.next(evConversation) != "" {
		return evConversation
	}
	return evMessage
}

// chooseTrigger picks the trigger type and the state the flow starts at,
// and reports the trigger's other entries.
func (t *translator) chooseTrigger(trig *state, want v1alpha1.TriggerType) (string, error) {
	msg := trig.next(evMessage)
	if msg == "" {
		msg = trig.next(evConversation)
	}
	req := trig.next(evRequest)
	switch want {
	case "":
		if msg != "" {
			want = v1alpha1.TriggerWhatsApp
		} else if req != "" {
			want = v1alpha1.TriggerManual
		} else {
			return "", fmt.Errorf("the trigger %q starts nothing on a message or a REST request (incomingMessage, incomingConversationMessage, incomingRequest): there is no chat flow to import", trig.Name)
		}
	case v1alpha1.TriggerManual, v1alpha1.TriggerWhatsApp, v1alpha1.TriggerInstagram, v1alpha1.TriggerViber, v1alpha1.TriggerMessenger:
	default:
		return "", fmt.Errorf("--trigger %q: use Manual, WhatsApp, Instagram, Viber or Messenger", want)
	}
	t.trigger = want
	entry := msg
	if want == v1alpha1.TriggerManual {
		entry = req
	}
	if entry == "" {
		return "", fmt.Errorf("the trigger %q has no %s entry for a %s flow", trig.Name, map[bool]string{true: evRequest, false: "incomingMessage"}[want == v1alpha1.TriggerManual], want)
	}
	for _, tr := range trig.Transitions {
		if tr.Next == nil || *tr.Next == entry {
			continue
		}
		switch tr.Event {
		case evCall:
			t.note(trig, fmt.Sprintf("the voice entry (incomingCall → %s) is not translated: a chat flow answers no calls", *tr.Next), true)
		case evParent:
			t.note(trig, fmt.Sprintf("the subflow entry (incomingParent → %s) is not translated", *tr.Next), true)
		case evRequest:
			t.note(trig, fmt.Sprintf("the REST entry (incomingRequest → %s) is not translated: a ChatFlow has one trigger; import again with --trigger Manual for it", *tr.Next), true)
		case evMessage, evConversation:
			t.note(trig, fmt.Sprintf("the messaging entry (%s → %s) is not translated: a ChatFlow has one trigger", tr.Event, *tr.Next), true)
		}
	}
	return entry, nil
}

// ref translates a Studio variable path to CEL.
func (t *translator) ref(p []string) (string, bool) {
	if len(p) == 0 {
		return "", false
	}
	rest := func(n int) []string {
		if len(p) > n {
			return p[n:]
		}
		return nil
	}
	switch p[0] {
	case "flow":
		if len(p) >= 3 && p[1] == "variables" {
			return selectPath("vars", append([]string{t.flowVar(p[2])}, rest(3)...)), true
		}
		if len(p) >= 3 && p[1] == "data" {
			return t.input(p[2], rest(3)), true
		}
		if len(p) == 2 && (p[1] == "flow_sid" || p[1] == "sid") {
			return "flow.name", true
		}
		if len(p) >= 2 && p[1] == "channel" {
			t.note(t.cur, "{{flow.channel.address}} (the flow's own number) has no equivalent: it reads as empty", false)
			return `""`, true
		}
	case "contact":
		if len(p) == 3 && p[1] == "channel" && p[2] == "address" {
			return "contact.id", true
		}
	case "trigger":
		if len(p) >= 3 && p[1] == "parameters" {
			return t.input(p[2], rest(3)), true
		}
		if len(p) == 3 && (p[1] == "message" || p[1] == "conversation") {
			switch p[2] {
			case "Body":
				t.needTrigMsg = true
				return "vars.trigger_message_body", true
			case "From", "Author":
				return "contact.id", true
			case "ProfileName":
				return "contact.name", true
			}
		}
	case "widgets":
		if len(p) < 3 {
			return "", false
		}
		w, ok := t.widgets[p[1]]
		if !ok {
			return "", false
		}
		switch s := t.states[p[1]]; {
		case s.Type == typeSendAndWait && len(p) == 4 && (p[2] == "inbound" || p[2] == "incoming") && p[3] == "Body":
			return "vars." + w, true
		case s.Type == typeSendAndWait && len(p) == 4 && (p[2] == "inbound" || p[2] == "incoming") && p[3] == "From":
			return "contact.id", true
		case s.Type != typeSendAndWait && p[2] == "parsed":
			return selectPath("vars."+w+".body", rest(3)), true
		case s.Type != typeSendAndWait && p[2] == "body" && len(p) == 3:
			return "vars." + w + ".body", true
		case s.Type != typeSendAndWait && p[2] == "status_code" && len(p) == 3:
			return "vars." + w + ".status", true
		case s.Type != typeSendAndWait && p[2] == "content_type" && len(p) == 3:
			return `vars.` + w + `.headers["content-type"]`, true
		}
	}
	return "", false
}

// input is a REST parameter: an input of a Manual flow.
func (t *translator) input(name string, rest []string) string {
	v := varName(name)
	if !slices.Contains(t.inputs, v) {
		t.inputs = append(t.inputs, v)
	}
	if t.trigger != v1alpha1.TriggerManual {
		t.note(t.cur, fmt.Sprintf("REST parameter %s: only Manual flows receive inputs; it reads as empty here", name), false)
	}
	// A missing optional input reads as empty, as in Studio.
	return selectPath("trigger.?"+v+`.orValue("")`, rest)
}

// state translates one widget into nodes.
func (t *translator) state(s *state) []v1alpha1.Node {
	id := t.ids[s.Name]
	lq := t.liquid()
	switch s.Type {
	case typeSendMessage:
		n := v1alpha1.Node{ID: id, Type: v1alpha1.NodeSendMessage, SendMessage: t.message(s, lq), Next: t.target(s.next("sent"))}
		if f := s.next("failed"); f != "" {
			n.OnError = t.target(f)
		}
		return []v1alpha1.Node{n}

	case typeSendAndWait:
		waitID := t.waitIDs[s.Name]
		send := v1alpha1.Node{ID: id, Type: v1alpha1.NodeSendMessage, SendMessage: t.message(s, lq), Next: waitID}
		if f := s.next("deliveryFailure"); f != "" {
			send.OnError = t.target(f)
		}
		wait := v1alpha1.Node{ID: waitID, Type: v1alpha1.NodeWaitForReply,
			WaitForReply: &v1alpha1.WaitForReplyNode{Timeout: t.timeout(s, "timeout", time.Hour, time.Second, 7*24*time.Hour), SaveAs: t.widgets[s.Name]},
			Next:         t.target(s.next("incomingMessage")),
			// Always explicit: without onTimeout a timeout would continue on next.
			OnTimeout: t.target(s.next("timeout")),
		}
		return []v1alpha1.Node{send, wait}

	case typeSplit:
		return []v1alpha1.Node{t.split(s, lq)}

	case typeSetVariables:
		var as []v1alpha1.Assignment
		for _, kv := range s.keyValues("variables") {
			if kv[0] == "" {
				continue
			}
			v := lq.Template(kv[1])
			as = append(as, v1alpha1.Assignment{Name: t.flowVar(kv[0]), Value: &v})
		}
		if len(as) == 0 {
			t.note(s, "sets no variables: kept as a SetVariables node that clears nothing", false)
			empty := ""
			as = append(as, v1alpha1.Assignment{Name: t.uniqueVar("unused_" + varName(s.Name)), Value: &empty})
		}
		return []v1alpha1.Node{{ID: id, Type: v1alpha1.NodeSetVariables, Next: t.target(s.next("next")),
			SetVariables: &v1alpha1.SetVariablesNode{Variables: as}}}

	case typeHTTP:
		return []v1alpha1.Node{t.http(s, lq, id, "success", "failed")}

	case typeFunction:
		if s.prop("url") == "" {
			t.note(s, "a Function without a URL (only service/function SIDs) cannot be called: the flow ends here", true)
			return t.endNode(id)
		}
		return []v1alpha1.Node{t.http(s, lq, id, "success", "fail")}

	case typeFlex:
		h := &v1alpha1.HandoffNode{Queue: clip(s.prop("workflow"), 128)}
		if s.prop("timeout") != "" {
			h.Timeout = t.timeout(s, "timeout", 24*time.Hour, time.Minute, 7*24*time.Hour)
		}
		if a := s.prop("attributes"); a != "" && a != "{}" {
			t.note(s, "the task attributes are not sent: the Handoff's notifyURL receives the contact, flow and transcript instead", false)
		}
		for _, ev := range []string{"failedToEnqueue", "callFailure"} {
			if n := s.next(ev); n != "" {
				t.note(s, fmt.Sprintf("the %s transition (→ %s) has no equivalent: a Handoff does not fail", ev, n), false)
			}
		}
		return []v1alpha1.Node{{ID: id, Type: v1alpha1.NodeHandoff, Handoff: h, Next: t.target(s.next("callComplete"))}}
	}
	if slices.Contains(voiceTypes, s.Type) {
		t.note(s, "a voice widget: a chat flow places and answers no calls, so the flow ends here", true)
	} else if s.Type == "run-subflow" {
		t.note(s, "subflows are not translated: import the subflow as a flow of its own; the flow ends here", true)
	} else {
		t.note(s, "an unknown widget type: the flow ends here", true)
	}
	return t.endNode(id)
}

func (t *translator) endNode(id string) []v1alpha1.Node {
	return []v1alpha1.Node{{ID: id, Type: v1alpha1.NodeEnd}}
}

// message translates the message properties of send-message and
// send-and-wait-for-reply.
func (t *translator) message(s *state, lq *liquid) *v1alpha1.SendMessageNode {
	m := &v1alpha1.SendMessageNode{Text: lq.Template(s.prop("body"))}
	if u := s.prop("media_url"); u != "" {
		m.Media = &v1alpha1.Media{Type: mediaType(u), URL: lq.Template(u)}
		if m.Text != "" {
			m.Media.Caption, m.Text = m.Text, ""
		}
	}
	if to := s.prop("to"); to != "" && !strings.Contains(to, "contact.channel.address") {
		t.note(s, fmt.Sprintf("sends to %s, not the contact: a ChatFlow sends only to the contact of the conversation", to), false)
	}
	if sid := s.prop("content_sid"); sid != "" {
		t.note(s, fmt.Sprintf("the Content template %s is not translated: use a WhatsApp template (sendMessage.template) instead", sid), false)
		if m.Text == "" && m.Media == nil {
			m.Text = "Content template " + sid
		}
	}
	if m.Text == "" && m.Media == nil {
		t.note(s, "the message has no body: a placeholder text is sent", false)
		m.Text = "(empty message)"
	}
	return m
}

// mediaType guesses the kind of an attachment from its URL.
func mediaType(u string) v1alpha1.MediaType {
	ext := strings.ToLower(path.Ext(strings.SplitN(u, "?", 2)[0]))
	switch ext {
	case ".pdf", ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".txt", ".csv", ".zip":
		return v1alpha1.MediaDocument
	case ".mp4", ".3gp", ".mov":
		return v1alpha1.MediaVideo
	case ".mp3", ".ogg", ".amr", ".aac", ".m4a", ".wav", ".opus":
		return v1alpha1.MediaAudio
	case ".webp":
		return v1alpha1.MediaSticker
	}
	return v1alpha1.MediaImage
}

// timeout reads a timeout in seconds (a string or a number), within
// [min, max], default def.
func (t *translator) timeout(s *state, key string, def, lo, hi time.Duration) *metav1.Duration {
	raw := s.prop(key)
	d := def
	if raw != "" {
		secs, err := strconv.ParseFloat(raw, 64)
		if err != nil || secs <= 0 {
			t.note(s, fmt.Sprintf("timeout %q is not a number of seconds: %s used", raw, human(def)), false)
		} else {
			d = time.Duration(secs * float64(time.Second)).Round(time.Second)
		}
	}
	if d < lo {
		t.note(s, fmt.Sprintf("timeout %s is below the minimum: %s used", human(d), human(lo)), false)
		d = lo
	}
	if d > hi {
		t.note(s, fmt.Sprintf("timeout %s is above the maximum: %s used", human(d), human(hi)), false)
		d = hi
	}
	return &metav1.Duration{Duration: d}
}

func human(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// http translates make-http-request and run-function.
func (t *translator) http(s *state, lq *liquid, id, ok, failed string) v1alpha1.Node {
	method := strings.ToUpper(s.prop("method"))
	if s.Type == typeFunction {
		method = "POST"
	}
	switch method {
	case "GET", "POST", "PUT", "PATCH", "DELETE":
	case "":
		method = "GET"
	default:
		t.note(s, fmt.Sprintf("method %s is not supported: POST used", method), false)
		method = "POST"
	}
	h := &v1alpha1.HTTPRequestNode{Method: method, URL: lq.Template(s.prop("url")), SaveAs: t.widgets[s.Name]}
	if h.URL == "" {
		t.note(s, "the request has no URL: https://example.invalid/ used", false)
		h.URL = "https://example.invalid/"
	}
	params := s.keyValues("parameters")
	ct := strings.ToLower(s.prop("content_type"))
	if s.Type == typeFunction {
		ct = "application/x-www-form-urlencoded"
	}
	switch {
	case method == "GET" || method == "DELETE":
		for _, kv := range params {
			h.Query = append(h.Query, v1alpha1.NameValue{Name: kv[0], Value: lq.Template(kv[1])})
		}
		if s.prop("body") != "" {
			t.note(s, fmt.Sprintf("a %s request carries no body: the body is left out", method), false)
		}
	case strings.HasPrefix(ct, "application/json"):
		h.Body = lq.Template(s.prop("body"))
		h.Headers = append(h.Headers, header("Content-Type", "application/json"))
	default:
		var form []string
		dynamic := false
		for _, kv := range params {
			form = append(form, kv[0]+"="+lq.Template(kv[1]))
			dynamic = dynamic || !IsLiteral(kv[1])
		}
		if b := s.prop("body"); b != "" && len(form) == 0 {
			h.Body = lq.Template(b)
		} else {
			h.Body = strings.Join(form, "&")
		}
		if dynamic {
			t.note(s, "form parameters are sent as they render, not URL-encoded", false)
		}
		h.Headers = append(h.Headers, header("Content-Type", "application/x-www-form-urlencoded"))
	}
	if s.prop("add_twilio_auth") == "true" {
		t.note(s, "add_twilio_auth is not translated: add an Authorization header from a Secret (valueFrom.secretKeyRef)", false)
	}
	n := v1alpha1.Node{ID: id, Type: v1alpha1.NodeHTTPRequest, HTTPRequest: h, Next: t.target(s.next(ok))}
	if f := s.next(failed); f != "" {
		n.OnError = t.target(f)
	}
	return n
}

func header(name, value string) v1alpha1.HTTPHeader {
	return v1alpha1.HTTPHeader{Name: name, Value: &value}
}

// split translates split-based-on into a Condition.
func (t *translator) split(s *state, lq *liquid) v1alpha1.Node {
	subject := lq.Expr(s.prop("input"))
	c := &v1alpha1.ConditionNode{Default: t.target(s.next("noMatch"))}
	for _, tr := range s.Transitions {
		if tr.Event != "match" {
			continue
		}
		var whens []string
		name := ""
		for _, cond := range tr.Conditions {
			if name == "" {
				name = cond.FriendlyName
			}
			subj := subject
			if len(cond.Arguments) > 0 && cond.Arguments[0] != s.prop("input") {
				subj = lq.Expr(cond.Arguments[0])
			}
			whens = append(whens, t.condition(s, lq, subj, cond))
		}
		if len(whens) == 0 {
			t.note(s, "a match transition without conditions never matches: left out", false)
			continue
		}
		c.Branches = append(c.Branches, v1alpha1.Branch{Name: clip(name, 64), When: strings.Join(whens, " && "), Next: t.target(ptr(tr.Next))})
	}
	if len(c.Branches) == 0 {
		// A Condition needs a branch: one that is never taken keeps the
		// shape of the widget (everything goes to No Match).
		c.Branches = []v1alpha1.Branch{{Name: "no conditions", When: "false", Next: c.Default}}
	}
	return v1alpha1.Node{ID: t.ids[s.Name], Type: v1alpha1.NodeCondition, Condition: c}
}

func ptr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// condition translates one Studio condition. Studio compares without
// case and trims the values, so the subject and literal values are trimmed
// and lower-cased.
func (t *translator) condition(s *state, lq *liquid, subject string, c condition) string {
	raw := valueText(c.Value)
	norm := "string(" + subject + ").trim().lowerAscii()"
	trimmed := "string(" + subject + ").trim()"
	lit := func(v string) string {
		if IsLiteral(v) {
			return strconv.Quote(strings.ToLower(strings.TrimSpace(v)))
		}
		return "string(" + lq.Expr(v) + ").trim().lowerAscii()"
	}
	num := func(v string) string {
		if IsLiteral(v) {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				n := strconv.FormatFloat(f, 'f', -1, 64)
				if !strings.Contains(n, ".") {
					n += ".0" // a double literal: the subject is a double
				}
				return n
			}
			return "double(" + strconv.Quote(strings.TrimSpace(v)) + ")"
		}
		return "double(string(" + lq.Expr(v) + ").trim())"
	}
	list := func(v string) string {
		var items []string
		for _, it := range strings.Split(v, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, lit(it))
			}
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	switch c.Type {
	case "equal_to":
		return norm + " == " + lit(raw)
	case "not_equal_to":
		return norm + " != " + lit(raw)
	case "matches_any_of":
		return norm + " in " + list(raw)
	case "does_not_match_any_of":
		return "!(" + norm + " in " + list(raw) + ")"
	case "contains":
		return norm + ".contains(" + lit(raw) + ")"
	case "does_not_contain":
		return "!" + norm + ".contains(" + lit(raw) + ")"
	case "starts_with":
		return norm + ".startsWith(" + lit(raw) + ")"
	case "does_not_start_with":
		return "!" + norm + ".startsWith(" + lit(raw) + ")"
	case "regex":
		pat := strconv.Quote("(?i)" + raw)
		if !IsLiteral(raw) {
			pat = `"(?i)" + ` + lq.Expr(raw)
		}
		return trimmed + ".matches(" + pat + ")"
	case "is_blank":
		return trimmed + ` == ""`
	case "is_not_blank":
		return trimmed + ` != ""`
	case "greater_than":
		return "double(" + trimmed + ") > " + num(raw)
	case "less_than":
		return "double(" + trimmed + ") < " + num(raw)
	}
	t.note(s, fmt.Sprintf("the condition type %q is not translated: its branch is never taken", c.Type), false)
	return "false"
}

// slug makes a node id of a state name.
func slug(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	s := strings.Trim(clip(strings.Trim(b.String(), "-"), 60), "-")
	if s == "" {
		return "widget"
	}
	return s
}

// varName makes a variable name of a Studio key.
func varName(key string) string {
	var b strings.Builder
	for _, r := range key {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" {
		return "v"
	}
	if s[0] >= '0' && s[0] <= '9' {
		s = "_" + s
	}
	return clip(s, 60)
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// boundLoops breaks every loop that never waits for the contact with a
// Jump that repeats it StudioRepeatLimit times and then ends the flow, as
// Studio stops an execution that repeats a widget too often. The flow
// compiler rejects such loops unbounded.
func boundLoops(nodes []v1alpha1.Node, t *translator) []v1alpha1.Node {
	idx := make(map[string]int, len(nodes))
	for i, n := range nodes {
		idx[n.ID] = i
	}
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(nodes))
	var extra []v1alpha1.Node
	var visit func(i int)
	visit = func(i int) {
		color[i] = grey
		n := &nodes[i]
		if !waits(n.Type) {
			for _, l := range links(n) {
				j, ok := idx[*l]
				if !ok {
					continue
				}
				switch color[j] {
				case white:
					visit(j)
				case grey: // a back edge closes a loop that never waits
					id := t.uniqueID(clip(nodes[j].ID, 56) + "-repeat")
					t.needEnd = true
					extra = append(extra, v1alpha1.Node{ID: id, Type: v1alpha1.NodeJump, Next: "end",
						Jump: &v1alpha1.JumpNode{Target: nodes[j].ID, MaxJumps: StudioRepeatLimit}})
					*l = id
				}
			}
		}
		color[i] = black
	}
	for i := range nodes {
		if color[i] == white {
			visit(i)
		}
	}
	return append(nodes, extra...)
}

// waits reports node types that wait for an outside event.
func waits(t v1alpha1.NodeType) bool {
	return t == v1alpha1.NodeWaitForReply || t == v1alpha1.NodeDelay || t == v1alpha1.NodeHandoff
}

// links are the node's outgoing links, to rewrite them.
func links(n *v1alpha1.Node) []*string {
	out := []*string{&n.Next, &n.OnError, &n.OnTimeout}
	if c := n.Condition; c != nil {
		for i := range c.Branches {
			out = append(out, &c.Branches[i].Next)
		}
		out = append(out, &c.Default)
	}
	return out
}
