package flow

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chatflow-dev/chatflow/runtime/message"
)

func TestStepBudget(t *testing.T) {
	// Four chained jumps of 100 make a run visit well over 1000 nodes on one
	// event: legal for Compile (every loop is closed by a Jump), stopped by
	// the step budget.
	p := mustCompile(t, `
trigger: {type: WhatsApp}
nodes:
- {id: start, type: Start, next: s}
- {id: s, type: SetVariables, setVariables: {variables: [{name: x, value: "1"}]}, next: j1}
- {id: j1, type: Jump, jump: {target: s, maxJumps: 100}, next: j2}
- {id: j2, type: Jump, jump: {target: s, maxJumps: 100}, next: j3}
- {id: j3, type: Jump, jump: {target: s, maxJumps: 100}, next: j4}
- {id: j4, type: Jump, jump: {target: s, maxJumps: 100}, next: end}
- {id: end, type: End}
`)
	s, fx := Step(p, nil, run("r"), t0)
	if s.Status != StatusEnded {
		t.Fatalf("status %s", s.Status)
	}
	last := effectLines(fx[len(fx)-2:])
	want := []string{
		`log error @j3:Jump "the run went through 1000 nodes in one turn without waiting: ending it (check the flow's Jumps)"`,
		`log run_ended @j3:Jump "error"`,
	}
	if strings.Join(last, "\n") != strings.Join(want, "\n") {
		t.Errorf("last effects:\n%s", quoteAll(last))
	}
	if r := fx[len(fx)-2].Log.Reason; r != ReasonBudget {
		t.Errorf("the error's reason: %q, want %q", r, ReasonBudget)
	}
	entered := 0
	for _, e := range fx {
		if e.Log.Event == LogNodeEntered {
			entered++
		}
	}
	if entered != MaxStepsPerTurn {
		t.Errorf("%d nodes entered, want %d", entered, MaxStepsPerTurn)
	}
}

func TestStepRevisionChange(t *testing.T) {
	v1 := mustCompile(t, flowWait)
	// v2 keeps the WaitForReply "wait" (with another saveAs); v3 drops it.
	v2 := mustCompile(t, strings.Replace(flowWait, "saveAs: answer", "saveAs: reply", 1))
	v3 := mustCompile(t, strings.Replace(strings.Replace(flowWait, "id: wait,", "id: ask,", 1), "next: wait}", "next: ask}", 1))
	if v1.Revision() == v2.Revision() || v1.Revision() == v3.Revision() {
		t.Fatal("revisions should differ")
	}

	s, _ := Step(v1, nil, run("r"), t0)
	s, fx := Step(v2, s, says("m1", "hi"), t0)
	got := effectLines(fx)
	want := []string{
		`log revision_changed @wait:WaitForReply "revision ` + v1.Revision() + ` → ` + v2.Revision() + `: continuing at node \"wait\""`,
		`cancelTimer r.1`,
		`log node_left @wait:WaitForReply branch=replied`,
		`log node_entered @got:SendMessage`,
		`send r.2 @got {"to":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"text":"You said hi (text)"}`,
		`log node_left @got:SendMessage branch=next`,
		`log node_entered @wait2:WaitForReply`,
		`setTimer r.3 at=2026-03-01T10:00:00Z`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("continue:\n%s", quoteAll(got))
	}
	// The node's new settings apply: the reply is saved as vars.reply.
	if s.Revision != v2.Revision() || s.Vars["reply"] != "hi" {
		t.Errorf("revision %s, vars %v", s.Revision, s.Vars)
	}

	s, _ = Step(v1, nil, run("r"), t0)
	s, fx = Step(v3, s, says("m1", "hi"), t0)
	got = effectLines(fx)
	if len(got) < 3 || got[0] != `log revision_changed @wait:WaitForReply "revision `+v1.Revision()+` → `+v3.Revision()+`: node \"wait\" is gone or changed type, restarting at Start"` ||
		got[1] != "cancelTimer r.1" || !strings.HasPrefix(got[2], `log run_started "restarted after a revision change"`) {
		t.Errorf("restart:\n%s", quoteAll(got))
	}
	if s.Node != "ask" || s.Status != StatusWaitingReply || s.Message.Text != "hi" || s.Revision != v3.Revision() {
		t.Errorf("after restart: %s %s %q %s", s.Node, s.Status, s.Message.Text, s.Revision)
	}
}

func TestStepInconsistentSession(t *testing.T) {
	p := mustCompile(t, flowWait)
	for _, s := range []*Session{
		{Status: StatusWaitingReply, Node: "got", NodeType: "SendMessage", Revision: p.Revision(), Wait: Wait{TimerID: "x"}},
		{Status: StatusDelayed, Node: "wait", NodeType: "WaitForReply", Revision: p.Revision(), Wait: Wait{TimerID: "x"}},
		{Status: StatusActive, Node: "wait", NodeType: "WaitForReply", Revision: p.Revision()},
		{Status: StatusWaitingReply, Node: "nowhere", Revision: p.Revision(), Wait: Wait{TimerID: "x"}},
		{Status: "Bogus", Node: "wait", Revision: p.Revision()},
	} {
		for _, ev := range []Event{says("m", "x"), timer("x"), Resume{}.Event(), HTTPResult{EffectID: "x"}.Event(), sent("x", "y")} {
			c := *s
			out, _ := Step(p, &c, ev, t0)
			roundTrip(t, out)
		}
	}
}

func TestStepHTTPRenderFailure(t *testing.T) {
	p := mustCompile(t, `
trigger: {type: WhatsApp}
variables: [{name: base, value: "ftp://x"}]
nodes:
- {id: start, type: Start, next: a}
- {id: a, type: HTTPRequest, httpRequest: {url: "{{ raw(vars.base) }}/x?token={{ contact.id }}"}, next: end, onError: b}
- {id: b, type: HTTPRequest, httpRequest: {url: "https://x.example/{{ vars.nope }}"}, next: end}
- {id: end, type: End}
`)
	_, fx := Step(p, nil, run("r"), t0)
	got := effectLines(fx)
	want := []string{
		`log run_started "manual"`,
		`log node_entered @start:Start`,
		`log node_left @start:Start branch=next`,
		`log node_entered @a:HTTPRequest`,
		// Logged without its query, which may hold tokens or contact data.
		`log error @a:HTTPRequest "the url \"ftp://x/x?…\" must be an absolute http or https URL, e.g. https://api.example.com/orders"`,
		`log node_left @a:HTTPRequest branch=error`,
		`log node_entered @b:HTTPRequest`,
		`log error @b:HTTPRequest "rendering the url: {{ vars.nope }}: no such key: nope"`,
		`log run_ended @b:HTTPRequest "error"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("effects:\n%s", quoteAll(got))
	}
}

func TestStepNilProgram(t *testing.T) {
	s := &Session{Status: StatusEnded}
	if out, fx := Step(nil, s, says("m", "x"), t0); out != s || fx != nil {
		t.Error("a nil program must leave the session alone")
	}
}

func TestValuesRoundTrip(t *testing.T) {
	v := Values{
		"i": int64(3), "f": 3.0, "g": 2.5, "big": float64(1e300), "neg": int64(-9007199254740993),
		"s": "<a & b>", "b": true, "n": nil,
		"list": []any{int64(1), 1.0, "x", []any{}, map[string]any{}},
		"map":  map[string]any{"z": int64(1), "a": map[string]any{"deep": 0.1}},
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back Values
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v, back) {
		t.Errorf("round trip changed values:\n%#v\n%#v", v, back)
	}
	b2, _ := json.Marshal(back)
	if string(b) != string(b2) {
		t.Errorf("encoding not stable:\n%s\n%s", b, b2)
	}
	if _, err := json.Marshal(Values{"x": math.NaN()}); err == nil {
		t.Error("NaN must not be stored")
	}
	var bad Values
	if err := json.Unmarshal([]byte(`[1]`), &bad); err == nil {
		t.Error("a JSON list is not Values")
	}
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want any
	}{
		{int(2), int64(2)},
		{int32(2), int64(2)},
		{uint64(2), int64(2)},
		{uint64(math.MaxUint64), float64(math.MaxUint64)},
		{float32(0.5), 0.5},
		{json.Number("7"), int64(7)},
		{json.Number("7.0"), 7.0},
		{[]byte("hi"), "aGk="},
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), "2026-01-02T02:04:05Z"},
		{90 * time.Second, "1m30s"},
		{map[string]string{"a": "b"}, map[string]any{"a": "b"}},
		{[]string{"a"}, []any{"a"}},
		{map[string]int{"a": 1}, map[string]any{"a": int64(1)}},
		{struct{ A int }{1}, map[string]any{"A": int64(1)}},
		{(*int)(nil), nil},
	} {
		got, err := normalize(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("normalize(%#v) = %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
	}
	if _, err := normalize(math.Inf(1)); err == nil {
		t.Error("Inf must not be stored")
	}
}

func TestSessionRoundTrip(t *testing.T) {
	p := mustCompile(t, flowHTTP)
	s, _ := Step(p, nil, run("r"), t0)
	s.Message = message.Inbound{ID: "m", Contact: ann, Kind: message.KindMedia, Media: &message.Media{Kind: message.Image, ID: "x"}, Timestamp: time.Date(2026, 1, 1, 0, 0, 0, 5, time.FixedZone("CET", 3600))}
	s, _ = Step(p, s, HTTPResult{EffectID: "r.1", Status: 200, ContentType: "application/json", Body: []byte(`{"n":1,"f":1.0,"l":[1e3,true]}`)}.Event(), t0)
	roundTrip(t, s)
	b, _ := json.Marshal(s)
	var back Session
	_ = json.Unmarshal(b, &back)
	if !reflect.DeepEqual(back.Vars, s.Vars) {
		t.Errorf("vars changed: %#v vs %#v", back.Vars, s.Vars)
	}
	if back.Version != SessionVersion || back.Wait != s.Wait || back.Node != s.Node {
		t.Errorf("session changed: %+v", back)
	}
	// A session read back continues exactly like the one kept in memory.
	p2 := mustCompile(t, flowWait)
	a, _ := Step(p2, nil, run("r"), t0)
	b, _ = json.Marshal(a)
	var c Session
	_ = json.Unmarshal(b, &c)
	_, fa := Step(p2, a, says("m1", "x"), t0)
	la := effectLines(fa)
	_, fc := Step(p2, &c, says("m1", "x"), t0)
	if strings.Join(la, "\n") != strings.Join(effectLines(fc), "\n") {
		t.Error("a stored session behaves differently")
	}
}

// The recent conversation keeps the last MaxRecent lines, each cut to
// MaxLineText bytes on a character boundary, and survives a store round trip.
func TestRecentConversationIsBounded(t *testing.T) {
	// Only flows with a hand-off, which reads it, keep it.
	plain := mustCompile(t, flowWait)
	ps, _ := Step(plain, nil, run("r"), t0)
	ps, _ = Step(plain, ps, says("m1", "hello"), t0)
	if len(ps.Recent) != 0 {
		t.Errorf("a flow without a Handoff kept %d lines", len(ps.Recent))
	}
	p := mustCompile(t, `
trigger: {type: WhatsApp}
nodes:
- {id: start, type: Start, next: wait}
- {id: wait, type: WaitForReply, waitForReply: {timeout: 1h}, next: route}
- id: route
  type: Condition
  condition:
    branches: [{when: 'message.text == "human"', next: agent}]
    default: echo
- {id: echo, type: SendMessage, sendMessage: {text: "{{ message.text }}"}, next: again}
- {id: again, type: Jump, jump: {target: wait, maxJumps: 100}, next: end}
- {id: agent, type: Handoff, handoff: {queue: q}, next: end}
- {id: end, type: End}
`)
	s, _ := Step(p, nil, run("r"), t0)
	long := strings.Repeat("é", MaxLineText) // two bytes each
	for i := 0; i < 3*MaxRecent; i++ {
		s, _ = Step(p, s, says("m"+string(rune('a'+i%26)), long), t0)
	}
	if len(s.Recent) != MaxRecent {
		t.Fatalf("%d lines, want %d", len(s.Recent), MaxRecent)
	}
	for _, l := range s.Recent {
		if len(l.Text) > MaxLineText || !utf8.ValidString(l.Text) {
			t.Fatalf("line of %d bytes (valid UTF-8: %v)", len(l.Text), utf8.ValidString(l.Text))
		}
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Session
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Recent, s.Recent) {
		t.Errorf("Recent does not round-trip:\n%+v\n%+v", back.Recent, s.Recent)
	}
	last := s.Recent[len(s.Recent)-1]
	if last.From != FromFlow && last.From != FromContact {
		t.Errorf("last line from %q", last.From)
	}
}

// TestStepHTTPEscapesURLValues: a value rendered into a URL is escaped for
// the part it lands in (a path segment, a query component), so it cannot
// add a path, a parameter or a fragment; raw() inserts it as it is.
func TestStepHTTPEscapesURLValues(t *testing.T) {
	p := mustCompile(t, `
trigger: {type: WhatsApp}
variables: [{name: id, value: "1/../admin?x=y&z#f g+h"}]
nodes:
- {id: start, type: Start, next: a}
- {id: a, type: HTTPRequest, httpRequest: {url: "https://x.example/orders/{{ vars.id }}/items?q={{ vars.id }}&raw={{ raw(vars.id) }}", query: [{name: p, value: "{{ vars.id }}"}]}, next: end, onError: end}
- {id: end, type: End}
`)
	_, fx := Step(p, nil, run("r"), t0)
	var urls []string
	for _, e := range fx {
		if e.Kind == EffectHTTPCall {
			urls = append(urls, e.HTTP.URL)
		}
	}
	// raw() lets the value end the query and start a fragment: that is
	// what it is for, and why it is explicit.
	want := []string{
		"https://x.example/orders/1%2F..%2Fadmin%3Fx=y&z%23f%20g+h/items?q=1%2F..%2Fadmin%3Fx%3Dy%26z%23f+g%2Bh&raw=1/../admin?x=y&z&p=1%2F..%2Fadmin%3Fx%3Dy%26z%23f+g%2Bh#f%20g+h",
	}
	if len(urls) != 1 || urls[0] != want[0] {
		t.Errorf("urls:\n%s\nwant\n%s", strings.Join(urls, "\n"), strings.Join(want, "\n"))
	}
}
