package flow

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/message"
)

var (
	t0  = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	ann = message.Contact{ID: "15550001111", Name: "Ann", Channel: message.WhatsApp}
)

// mustCompile compiles a YAML spec for WhatsApp or fails the test.
func mustCompile(t testing.TB, src string) *Program {
	t.Helper()
	p, errs := Compile(parseSpec(t, src), Options{Channel: message.WhatsApp, FlowName: "test"})
	if len(errs) > 0 {
		t.Fatalf("compile: %v", errs)
	}
	return p
}

func run(r string) Event { return RunStarted{RunID: r, Contact: ann}.Event() }

func says(id, s string) Event {
	return Inbound(message.Inbound{ID: id, Contact: ann, Kind: message.KindText, Text: s, Timestamp: t0})
}

func tap(id, button string) Event {
	return Inbound(message.Inbound{ID: id, Contact: ann, Kind: message.KindButton, ButtonID: button, Timestamp: t0})
}

func timer(id string) Event { return TimerFired{TimerID: id}.Event() }

func sent(effect, msgID string) Event {
	return SendResult{EffectID: effect, MessageID: msgID}.Event()
}

func sendFailed(effect string) Event {
	return SendResult{EffectID: effect, Error: &message.SendError{Class: message.Permanent, Code: 131047, Message: "Re-engagement message"}}.Event()
}

// effectLines renders effects one per line.
func effectLines(fx []Effect) []string {
	out := make([]string, len(fx))
	for i, e := range fx {
		out[i] = e.String()
	}
	return out
}

// stepCase replays events (effects of all but the last ignored) and
// compares the last event's effects and the resulting session.
type stepCase struct {
	name    string
	flow    string
	before  []Event
	ev      Event
	at      time.Duration // now = t0 + at for the last event
	want    []string
	session sessionWant
}

// sessionWant is the part of a session a case checks; zero fields are
// checked too (an empty Vars means "{}" or absent).
type sessionWant struct {
	nilSession bool
	status     Status
	node       string
	vars       string // JSON of Vars, "" for none
	wait       Wait
	message    string // text or button id of the last inbound
	jumps      map[string]int
}

func runStepCases(t *testing.T, cases []stepCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCompile(t, tc.flow)
			var s *Session
			for _, ev := range tc.before {
				s, _ = Step(p, s, ev, t0)
			}
			s, fx := Step(p, s, tc.ev, t0.Add(tc.at))
			for i := range fx {
				if fx[i].Kind == EffectLog {
					checkObservable(t, p, &fx[i].Log)
				}
			}
			got := effectLines(fx)
			if f := os.Getenv("PRINT"); f != "" {
				// Development aid: dump the effects per case for review.
				b, _ := json.Marshal(map[string]any{"name": tc.name, "effects": got})
				fh, err := os.OpenFile(f, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
				if err == nil {
					fh.Write(append(b, '\n'))
					fh.Close()
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("effects:\n%s\nwant:\n%s", quoteAll(got), quoteAll(tc.want))
			}
			checkSession(t, s, tc.session)
			roundTrip(t, s)
		})
	}
}

func checkSession(t *testing.T, s *Session, w sessionWant) {
	t.Helper()
	if w.nilSession {
		if s != nil {
			t.Errorf("session = %+v, want nil", s)
		}
		return
	}
	if s == nil {
		t.Fatal("session is nil")
	}
	if s.Status != w.status || s.Node != w.node {
		t.Errorf("session at %s (%s), want %s (%s)", s.Node, s.Status, w.node, w.status)
	}
	vars := ""
	if len(s.Vars) > 0 {
		b, err := json.Marshal(s.Vars)
		if err != nil {
			t.Fatal(err)
		}
		vars = string(b)
	}
	if vars != w.vars {
		t.Errorf("vars = %s, want %s", vars, w.vars)
	}
	if s.Wait != w.wait {
		t.Errorf("wait = %+v, want %+v", s.Wait, w.wait)
	}
	msg := s.Message.Text
	if msg == "" {
		msg = s.Message.ButtonID
	}
	if msg != w.message {
		t.Errorf("message = %q, want %q", msg, w.message)
	}
	if len(s.Jumps) > 0 || len(w.jumps) > 0 {
		b1, _ := json.Marshal(s.Jumps)
		b2, _ := json.Marshal(w.jumps)
		if string(b1) != string(b2) {
			t.Errorf("jumps = %s, want %s", b1, b2)
		}
	}
}

// roundTrip checks that a session survives JSON exactly.
func roundTrip(t testing.TB, s *Session) {
	t.Helper()
	if s == nil {
		return
	}
	b1, err := json.Marshal(s)
	if err != nil {
		t.Fatalf("marshal session: %v", err)
	}
	var back Session
	if err := json.Unmarshal(b1, &back); err != nil {
		t.Fatalf("unmarshal session: %v\n%s", err, b1)
	}
	b2, err := json.Marshal(&back)
	if err != nil {
		t.Fatal(err)
	}
	if string(b1) != string(b2) {
		t.Fatalf("session JSON does not round-trip:\n%s\n%s", b1, b2)
	}
}

func at(d time.Duration) time.Time { return t0.Add(d) }
