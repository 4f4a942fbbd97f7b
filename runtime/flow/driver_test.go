package flow

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/message"
)

// scripted is a Performer that records what it performs, accepts every
// send (failing those of the nodes in fail), answers every HTTP call with
// status, and may answer a hand-off notice with another event.
type scripted struct {
	done      []string
	fail      map[string]bool
	status    int
	onHandoff *Event
	// runs are the run ids seen with each effect: the session as the
	// step that emitted it left it.
	runs []string
}

func (p *scripted) Perform(_ context.Context, s *Session, e *Effect) (Event, bool) {
	p.done = append(p.done, e.String())
	if s != nil {
		p.runs = append(p.runs, s.RunID)
	}
	switch e.Kind {
	case EffectSend:
		if p.fail[e.Send.NodeID] {
			return SendResult{EffectID: e.Send.ID, Error: &message.SendError{Class: message.Permanent, Code: 131047, Message: "refused"}}.Event(), true
		}
		return SendResult{EffectID: e.Send.ID, MessageID: "wamid." + e.Send.ID}.Event(), true
	case EffectHTTPCall:
		return HTTPResult{EffectID: e.HTTP.ID, Status: p.status}.Event(), true
	case EffectHandoffNotify:
		if p.onHandoff != nil {
			return *p.onHandoff, true
		}
	}
	return Event{}, false
}

func fixedNow() time.Time { return t0 }

// The effects of a turn reach the performer in one order: a step's effects
// as emitted, then the effects of each fed-back outcome after everything
// emitted before it; timers never reach it and come back netted.
func TestDriverTurnOrder(t *testing.T) {
	p := mustCompile(t, `
trigger: {type: WhatsApp}
nodes:
- {id: start, type: Start, next: hello}
- {id: hello, type: SendMessage, sendMessage: {text: "Hello"}, next: lookup}
- {id: lookup, type: HTTPRequest, httpRequest: {url: "https://api.example.com/x"}, next: careful, onError: end}
- {id: careful, type: SendMessage, sendMessage: {text: "Checked"}, next: wait, onError: end}
- {id: wait, type: WaitForReply, waitForReply: {timeout: 1h}, next: end}
- {id: end, type: End}
`)
	perf := &scripted{status: 200}
	d := NewDriver(p, fixedNow)
	s, timers := d.Turn(context.Background(), nil, says("wamid.in1", "hi"), perf)
	if s.Status != StatusWaitingReply || s.Node != "wait" {
		t.Fatalf("session at %q (%s), want waiting at wait", s.Node, s.Status)
	}
	run := s.RunID
	want := []string{
		`log run_started "inbound"`,
		`log node_entered @start:Start`,
		`log node_left @start:Start branch=next`,
		`log node_entered @hello:SendMessage`,
		`send ` + run + `.2 @hello {"to":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"text":"Hello"}`,
		`log node_left @hello:SendMessage branch=next`,
		`log node_entered @lookup:HTTPRequest`,
		`http ` + run + `.3 @lookup GET https://api.example.com/x timeout=10s headers=null body=""`,
		// The outcome of hello's send comes before that of the call: a
		// FIFO of effects.
		`log message_sent @hello:SendMessage "wamid.` + run + `.2"`,
		`log node_left @lookup:HTTPRequest branch=success`,
		`log node_entered @careful:SendMessage`,
		`send ` + run + `.4 @careful {"to":{"id":"15550001111","name":"Ann","channel":"WhatsApp"},"text":"Checked"}`,
		`log message_sent @careful:SendMessage "wamid.` + run + `.4"`,
		`log node_left @careful:SendMessage branch=sent`,
		`log node_entered @wait:WaitForReply`,
	}
	if got := strings.Join(perf.done, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("performed:\n%s\nwant:\n%s", quoteAll(perf.done), quoteAll(want))
	}
	if len(timers.Cancel) != 0 || len(timers.Set) != 1 || timers.Set[0].ID != s.Wait.TimerID || !timers.Set[0].At.Equal(t0.Add(time.Hour)) {
		t.Errorf("timers: %+v, want the wait's timer at t0+1h", *timers)
	}
	for i, r := range perf.runs {
		if r != run {
			t.Errorf("effect %d was performed with the session of run %q, want %q", i, r, run)
		}
	}

	// The reply ends the run: the wait's timer is cancelled.
	s, timers = d.Turn(context.Background(), s, says("wamid.in2", "thanks"), &scripted{})
	if s.Status != StatusEnded || len(timers.Set) != 0 || fmt.Sprint(timers.Cancel) != "["+run+".5]" {
		t.Fatalf("after the reply: %s, timers %+v, want Ended and the wait's timer cancelled", s.Status, *timers)
	}

	// The next turn starts from empty timer changes, and a refused send
	// with onError is routed there within the turn: no wait, no timer.
	perf = &scripted{status: 200, fail: map[string]bool{"careful": true}}
	s, timers = d.Turn(context.Background(), nil, says("wamid.in3", "hi"), perf)
	if s.Status != StatusEnded || !timers.Empty() {
		t.Fatalf("with careful refused: %s at %q, timers %+v; want Ended without timers", s.Status, s.Node, *timers)
	}
	if l := perf.done[len(perf.done)-4:]; !strings.HasPrefix(l[0], "log message_failed @careful") || l[1] != "log node_left @careful:SendMessage branch=error" {
		t.Errorf("the refusal was not routed to onError:\n%s", quoteAll(l))
	}
}

// A timer set and cancelled within one turn is neither scheduled nor
// cancelled: here the performer answers the hand-off notice with a resume
// (as a studio simulation may), which cancels the hand-off's timeout set
// by the same step.
func TestDriverNetsTimersOfATurn(t *testing.T) {
	p := mustCompile(t, `
trigger: {type: WhatsApp}
nodes:
- {id: start, type: Start, next: human}
- {id: human, type: Handoff, handoff: {notifyURL: "https://desk.example.com/hook", timeout: 1h}, next: back}
- {id: back, type: SendMessage, sendMessage: {text: "Back"}, next: wait}
- {id: wait, type: WaitForReply, waitForReply: {timeout: 2h}, next: end}
- {id: end, type: End}
`)
	resume := Resume{}.Event()
	perf := &scripted{onHandoff: &resume}
	s, timers := NewDriver(p, fixedNow).Turn(context.Background(), nil, says("wamid.in1", "hi"), perf)
	if s.Status != StatusWaitingReply || s.Node != "wait" {
		t.Fatalf("session at %q (%s), want waiting at wait", s.Node, s.Status)
	}
	if len(timers.Cancel) != 0 || len(timers.Set) != 1 || !timers.Set[0].At.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("timers: %+v, want only the wait's timer (the hand-off's was set and cancelled)", *timers)
	}
	var tc TimerChanges
	tc.set(Timer{ID: "a"})
	tc.cancel("old")
	tc.set(Timer{ID: "b"})
	tc.cancel("a")
	if len(tc.Set) != 1 || tc.Set[0].ID != "b" || fmt.Sprint(tc.Cancel) != "[old]" || tc.Empty() {
		t.Errorf("netting: %+v, want set [b] and cancel [old]", tc)
	}
}

// One budget of MaxStepsPerTurn nodes holds for the whole turn: outcomes
// fed back do not get a fresh budget each, so a loop through an HTTP call
// that each Step alone would allow still ends.
func TestDriverBudgetCoversTheWholeTurn(t *testing.T) {
	p := mustCompile(t, `
trigger: {type: WhatsApp}
nodes:
- {id: start, type: Start, next: call}
- {id: call, type: HTTPRequest, httpRequest: {url: "https://api.example.com/x"}, next: j1, onError: end}
- {id: j1, type: Jump, jump: {target: call, maxJumps: 100}, next: j2}
- {id: j2, type: Jump, jump: {target: call, maxJumps: 100}, next: j3}
- {id: j3, type: Jump, jump: {target: call, maxJumps: 100}, next: j4}
- {id: j4, type: Jump, jump: {target: call, maxJumps: 100}, next: end}
- {id: end, type: End}
`)
	perf := &scripted{status: 200}
	s, _ := NewDriver(p, fixedNow).Turn(context.Background(), nil, says("wamid.in1", "hi"), perf)
	if s.Status != StatusEnded {
		t.Fatalf("status %s at %q, want Ended", s.Status, s.Node)
	}
	entered, calls := 0, 0
	for _, l := range perf.done {
		if strings.HasPrefix(l, "log node_entered") {
			entered++
		}
		if strings.HasPrefix(l, "http ") {
			calls++
		}
	}
	if entered != MaxStepsPerTurn {
		t.Errorf("%d nodes entered in the turn, want %d", entered, MaxStepsPerTurn)
	}
	last := perf.done[len(perf.done)-2:]
	if !strings.Contains(last[0], "nodes in one turn without waiting") || !strings.HasPrefix(last[1], "log run_ended") {
		t.Errorf("last effects:\n%s", quoteAll(last))
	}
	// Each Step alone stays far below the budget: it is the turn's.
	if calls < 300 {
		t.Errorf("%d calls: the loop should have gone through hundreds of Steps", calls)
	}
}

// A turn whose event starts nothing leaves no session and no effects.
func TestDriverTurnWithoutRun(t *testing.T) {
	p := mustCompile(t, flowWait)
	perf := &scripted{}
	s, timers := NewDriver(p, fixedNow).Turn(context.Background(), nil, timer("stray"), perf)
	if s != nil || len(perf.done) != 0 || !timers.Empty() {
		t.Errorf("a stray timer: session %v, performed %q, timers %+v", s, perf.done, *timers)
	}
}
