package flow

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

var update = flag.Bool("update", false, "rewrite the golden transcripts in testdata/golden")

// samplesDir holds the sample manifests users apply (the lead's samples).
const samplesDir = "../../config/samples"

// script is a set of scripted conversations for one flow, in
// testdata/scripts/<flow name>.yaml.
type script struct {
	Conversations []conversation `json:"conversations"`
}

type conversation struct {
	Name    string          `json:"name"`
	Contact message.Contact `json:"contact,omitempty"`
	Actions []action        `json:"actions"`
}

// action is one scripted step. Sends are acknowledged automatically (as
// accepted) unless the next action is sendError; an HTTP call is answered
// by the next action when it is http, else with 200 and {}; a model call
// by the next action when it is model, else with an error.
type action struct {
	Say       string            `json:"say,omitempty"`       // the contact writes text
	Tap       string            `json:"tap,omitempty"`       // the contact taps a button / quick reply / row
	Payload   string            `json:"payload,omitempty"`   // the contact taps a template quick-reply button
	Run       map[string]any    `json:"run,omitempty"`       // a Manual run with these inputs
	Timer     bool              `json:"timer,omitempty"`     // the pending timer fires
	Resume    bool              `json:"resume,omitempty"`    // an agent ends the hand-off
	HTTP      *scriptedResponse `json:"http,omitempty"`      // the answer to the pending HTTP call
	Model     *ModelResult      `json:"model,omitempty"`     // the answer to the pending model call
	SendError string            `json:"sendError,omitempty"` // the pending send fails with this message
	Failed    bool              `json:"failed,omitempty"`    // the last accepted message fails later (async)
}

type scriptedResponse struct {
	Status int    `json:"status"`
	Body   string `json:"body,omitempty"`
	Err    string `json:"err,omitempty"`
}

// sampleFlow is a ChatFlow found in a sample manifest, with the channel its
// messages go out on.
type sampleFlow struct {
	file    string
	flow    v1alpha1.ChatFlow
	channel message.Channel
}

func loadSamples(t *testing.T) []sampleFlow {
	files, _ := filepath.Glob(filepath.Join(samplesDir, "*.yaml"))
	var flows []sampleFlow
	bindings := map[string]message.Channel{}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
			var meta struct {
				Kind string `json:"kind"`
			}
			if yaml.Unmarshal([]byte(doc), &meta) != nil {
				continue
			}
			switch meta.Kind {
			case "ChatFlow":
				var f v1alpha1.ChatFlow
				if err := yaml.UnmarshalStrict([]byte(doc), &f); err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				flows = append(flows, sampleFlow{file: file, flow: f})
			case "ChannelBinding":
				var cb v1alpha1.ChannelBinding
				if err := yaml.UnmarshalStrict([]byte(doc), &cb); err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				bindings[cb.Spec.FlowRef.Name] = message.Channel(cb.Spec.Channel)
			}
		}
	}
	for i := range flows {
		f := &flows[i]
		if f.channel = ChannelOf(&f.flow.Spec); f.channel == "" {
			f.channel = bindings[f.flow.Name]
		}
	}
	return flows
}

// TestGoldenTranscripts compiles every ChatFlow of config/samples, plays
// its scripted conversations (testdata/scripts/<name>.yaml, or an automatic
// one) and compares the transcripts with testdata/golden/<name>.txt.
// Run with -update to rewrite them.
func TestGoldenTranscripts(t *testing.T) {
	flows := loadSamples(t)
	if len(flows) == 0 {
		t.Fatal("no ChatFlow in " + samplesDir + ": the samples are what these transcripts cover")
	}
	for _, sf := range flows {
		t.Run(sf.flow.Name, func(t *testing.T) {
			p, errs := Compile(&sf.flow.Spec, Options{Channel: sf.channel, FlowName: sf.flow.Name})
			if len(errs) > 0 {
				t.Fatalf("%s does not compile:\n%v", sf.file, errs.ToAggregate())
			}
			sc := script{Conversations: []conversation{autoConversation(p)}}
			if b, err := os.ReadFile(filepath.Join("testdata", "scripts", sf.flow.Name+".yaml")); err == nil {
				sc = script{}
				if err := yaml.UnmarshalStrict(b, &sc); err != nil {
					t.Fatal(err)
				}
			} else {
				t.Logf("no testdata/scripts/%s.yaml: playing an automatic conversation", sf.flow.Name)
			}
			var out bytes.Buffer
			fmt.Fprintf(&out, "# %s (%s), trigger %s, channel %s\n", sf.flow.Name, filepath.Base(sf.file), sf.flow.Spec.Trigger.Type, sf.channel)
			for i, c := range sc.Conversations {
				play(t, p, sf.channel, c, fmt.Sprintf("run%d", i+1), &out)
			}
			golden := filepath.Join("testdata", "golden", sf.flow.Name+".txt")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./runtime/flow -run TestGoldenTranscripts -update)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("transcript of %s differs from %s (run with -update after checking):\n%s", sf.flow.Name, golden, lineDiff(string(want), out.String()))
			}
		})
	}
}

// autoConversation drives a flow without a script: start it, then answer
// every wait the obvious way (see play's auto actions).
func autoConversation(p *Program) conversation {
	c := conversation{Name: "automatic"}
	if p.Trigger() == v1alpha1.TriggerManual {
		in := map[string]any{}
		for _, i := range p.Inputs() {
			in[i.Name] = i.Name + "-value"
		}
		c.Actions = append(c.Actions, action{Run: in})
	} else {
		c.Actions = append(c.Actions, action{Say: "hi"})
	}
	return c
}

// play runs one conversation and writes its transcript.
func play(t *testing.T, p *Program, ch message.Channel, c conversation, runID string, out *bytes.Buffer) {
	contact := c.Contact
	if contact.ID == "" {
		contact = message.Contact{ID: "15550009999", Name: "Sam"}
	}
	if contact.Channel == "" {
		contact.Channel = ch
	}
	fmt.Fprintf(out, "\n== %s\n", c.Name)
	var (
		s         *Session
		now       = t0
		nextMsg   = 1
		lastSent  string
		lastOut   *message.Outbound
		pendSend  []string
		pendHTTP  []string
		pendModel []string
		actions   = c.Actions
		automatic = c.Name == "automatic"
	)
	step := func(label string, ev Event) {
		fmt.Fprintf(out, "> %s\n", label)
		var fx []Effect
		s, fx = Step(p, s, ev, now)
		for _, e := range fx {
			switch e.Kind {
			case EffectLog:
				checkObservable(t, p, &e.Log)
				if e.Log.Event == LogNodeEntered {
					continue
				}
			case EffectSend:
				pendSend = append(pendSend, e.Send.ID)
				m := e.Send.Message
				lastOut = &m
			case EffectHTTPCall:
				pendHTTP = append(pendHTTP, e.HTTP.ID)
			case EffectModelCall:
				pendModel = append(pendModel, e.Model.ID)
			}
			fmt.Fprintf(out, "  %s\n", e)
		}
		if s != nil {
			fmt.Fprintf(out, "  = %s at %s\n", s.Status, s.Node)
		} else {
			fmt.Fprintf(out, "  = no session\n")
		}
		roundTrip(t, s)
	}
	// settle answers the effects the script does not drive.
	settle := func() {
		for len(pendSend) > 0 || len(pendHTTP) > 0 || len(pendModel) > 0 {
			if len(pendSend) > 0 {
				id := pendSend[0]
				pendSend = pendSend[1:]
				if len(actions) > 0 && actions[0].SendError != "" {
					msg := actions[0].SendError
					actions = actions[1:]
					step(fmt.Sprintf("send %s fails: %s", id, msg), SendResult{EffectID: id, Error: &message.SendError{Class: message.Permanent, Code: 131047, Message: msg}}.Event())
					continue
				}
				lastSent = fmt.Sprintf("wamid.%d", nextMsg)
				nextMsg++
				step(fmt.Sprintf("send %s accepted as %s", id, lastSent), SendResult{EffectID: id, MessageID: lastSent}.Event())
				continue
			}
			if len(pendModel) > 0 {
				id := pendModel[0]
				pendModel = pendModel[1:]
				r := ModelResult{EffectID: id, Err: "no scripted answer"}
				if len(actions) > 0 && actions[0].Model != nil {
					r = *actions[0].Model
					r.EffectID = id
					actions = actions[1:]
				}
				step(fmt.Sprintf("model %s → %q%s%s", id, r.Content, r.Refusal, r.Err), r.Event())
				continue
			}
			id := pendHTTP[0]
			pendHTTP = pendHTTP[1:]
			r := HTTPResult{EffectID: id, Status: 200, ContentType: "application/json", Body: []byte("{}")}
			if len(actions) > 0 && actions[0].HTTP != nil {
				h := actions[0].HTTP
				actions = actions[1:]
				r.Status, r.Body, r.Err = h.Status, []byte(h.Body), h.Err
			}
			step(fmt.Sprintf("http %s → %d %s%s", id, r.Status, r.Body, r.Err), r.Event())
		}
	}
	for turn := 0; turn < 40; turn++ {
		settle()
		if len(actions) == 0 {
			if !automatic || s == nil || !s.Waiting() {
				break
			}
			actions = []action{autoAction(s, lastOut)}
		}
		a := actions[0]
		actions = actions[1:]
		now = now.Add(time.Minute)
		in := message.Inbound{ID: fmt.Sprintf("in.%d", turn), Contact: contact, Timestamp: now}
		switch {
		case a.Say != "":
			in.Kind, in.Text = message.KindText, a.Say
			step(fmt.Sprintf("say %q", a.Say), Inbound(in))
		case a.Tap != "":
			in.Kind, in.ButtonID, in.Text = message.KindButton, a.Tap, titleOf(lastOut, a.Tap)
			step(fmt.Sprintf("tap %q", a.Tap), Inbound(in))
		case a.Payload != "":
			in.Kind, in.Payload, in.Text = message.KindButton, a.Payload, a.Payload
			step(fmt.Sprintf("tap template button %q", a.Payload), Inbound(in))
		case a.Run != nil:
			step(fmt.Sprintf("run %v", a.Run), RunStarted{Contact: contact, Inputs: a.Run, RunID: runID}.Event())
		case a.Timer:
			id := ""
			if s != nil {
				id = s.Wait.TimerID
				now = s.Wait.Deadline
			}
			step("timer "+id+" fires", TimerFired{TimerID: id}.Event())
		case a.Resume:
			step("an agent resumes automation", Resume{}.Event())
		case a.Failed:
			step(lastSent+" fails asynchronously", StatusUpdate(message.Status{MessageID: lastSent, Contact: contact, State: "failed",
				Error: &message.SendError{Class: message.Permanent, Code: 131026, Message: "Message undeliverable"}}))
		default:
			t.Fatalf("%s: action %d does nothing (http and sendError answer an effect: is one pending?)", c.Name, turn)
		}
	}
	settle()
	if len(actions) > 0 {
		t.Errorf("%s: %d actions left unplayed", c.Name, len(actions))
	}
}

// autoAction answers what a session waits for: the first button of the
// last message, or "yes"; a timer for delays, a resume for hand-offs.
func autoAction(s *Session, last *message.Outbound) action {
	switch s.Status {
	case StatusWaitingReply:
		if last != nil {
			switch {
			case len(last.Buttons) > 0:
				return action{Tap: last.Buttons[0].ID}
			case len(last.QuickReplies) > 0:
				return action{Tap: last.QuickReplies[0].ID}
			case last.List != nil && len(last.List.Sections) > 0 && len(last.List.Sections[0].Rows) > 0:
				return action{Tap: last.List.Sections[0].Rows[0].ID}
			}
		}
		return action{Say: "yes"}
	case StatusHandedOff:
		return action{Resume: true}
	}
	return action{Timer: true}
}

func titleOf(m *message.Outbound, id string) string {
	if m == nil {
		return ""
	}
	all := append(append([]message.Button{}, m.Buttons...), m.QuickReplies...)
	if m.List != nil {
		for _, s := range m.List.Sections {
			all = append(all, s.Rows...)
		}
	}
	for _, b := range all {
		if b.ID == id {
			return b.Title
		}
	}
	return ""
}

// lineDiff shows the first differing lines of two transcripts.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, a, b)
		}
	}
	return ""
}
