package flow

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// flowTurn is the BenchmarkTurn flow: an inbound text answers "wait", then
// Condition → SetVariables → SendMessage → back to the same WaitForReply,
// so every iteration is the same turn.
const flowTurn = `
trigger: {type: WhatsApp}
variables: [{name: count, value: "0"}]
nodes:
- {id: start, type: Start, next: ask}
- {id: ask, type: SendMessage, sendMessage: {text: "Hi {{ contact.name }}, what now?"}, next: wait}
- {id: wait, type: WaitForReply, waitForReply: {saveAs: answer}, next: route, onTimeout: end}
- id: route
  type: Condition
  condition:
    branches:
    - {name: stop, when: 'message.text == "stop"', next: end}
    - {name: order, when: 'vars.answer.startsWith("order")', next: set}
    default: set
- {id: set, type: SetVariables, setVariables: {variables: [{name: last, value: "{{ message.text }}"}]}, next: reply}
- {id: reply, type: SendMessage, sendMessage: {text: "You said {{ vars.last }}"}, next: wait}
- {id: end, type: End}
`

func BenchmarkTurn(b *testing.B) {
	p := mustCompile(b, flowTurn)
	s, _ := Step(p, nil, run("r"), t0)
	ev := Inbound(message.Inbound{ID: "wamid.1", Contact: ann, Kind: message.KindText, Text: "order 42", Timestamp: t0})
	// Warm up: the session's scratch buffers reach their steady size.
	for i := 0; i < 20; i++ {
		s, _ = Step(p, s, ev, t0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var fx []Effect
		s, fx = Step(p, s, ev, t0)
		if len(fx) != 11 || s.Status != StatusWaitingReply {
			b.Fatalf("turn: %d effects, status %s", len(fx), s.Status)
		}
	}
}

// acker is the cheapest performer: it accepts every send.
type acker struct{}

func (acker) Perform(_ context.Context, _ *Session, e *Effect) (Event, bool) {
	if e.Kind == EffectSend {
		return SendResult{EffectID: e.Send.ID, MessageID: "m"}.Event(), true
	}
	return Event{}, false
}

// BenchmarkDriverTurn is BenchmarkTurn through the Driver, the way the
// executor runs it: the send's outcome is fed back (a second Step) and the
// wait's timer changes are netted.
func BenchmarkDriverTurn(b *testing.B) {
	p := mustCompile(b, flowTurn)
	d := NewDriver(p, func() time.Time { return t0 })
	ctx := context.Background()
	s, _ := d.Turn(ctx, nil, run("r"), acker{})
	ev := Inbound(message.Inbound{ID: "wamid.1", Contact: ann, Kind: message.KindText, Text: "order 42", Timestamp: t0})
	for i := 0; i < 20; i++ {
		s, _ = d.Turn(ctx, s, ev, acker{})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var tc *TimerChanges
		s, tc = d.Turn(ctx, s, ev, acker{})
		if len(tc.Set) != 1 || len(tc.Cancel) != 1 || s.Status != StatusWaitingReply {
			b.Fatalf("turn: timers %+v, status %s", *tc, s.Status)
		}
	}
}

// bigSpec generates a valid flow of n nodes: Start, then blocks of
// SendMessage → WaitForReply → Condition → SetVariables, each block's
// condition branching to the next block or to an End.
func bigSpec(n int) *v1alpha1.ChatFlowSpec {
	spec := &v1alpha1.ChatFlowSpec{Trigger: v1alpha1.Trigger{Type: v1alpha1.TriggerWhatsApp},
		Variables: []v1alpha1.Variable{{Name: "count", Value: "0"}}}
	id := func(i int) string { return fmt.Sprintf("n%d", i) }
	spec.Nodes = append(spec.Nodes, v1alpha1.Node{ID: "start", Type: v1alpha1.NodeStart, Next: id(0)})
	blocks := (n - 2) / 4
	expr := "int(vars.count) + 1"
	for b := 0; b < blocks; b++ {
		i := b * 4
		next := id(i + 4) // the last block leads into the padding, then End
		val := "{{ message.text }}"
		spec.Nodes = append(spec.Nodes,
			v1alpha1.Node{ID: id(i), Type: v1alpha1.NodeSendMessage, Next: id(i + 1),
				SendMessage: &v1alpha1.SendMessageNode{Text: "Step {{ vars.count }} for {{ contact.name }}",
					Buttons: []v1alpha1.Button{{ID: "yes", Title: "Yes"}, {ID: "no", Title: "No"}}}},
			v1alpha1.Node{ID: id(i + 1), Type: v1alpha1.NodeWaitForReply, Next: id(i + 2), OnTimeout: "end",
				WaitForReply: &v1alpha1.WaitForReplyNode{Timeout: &metav1.Duration{Duration: 3600e9}, SaveAs: "answer"}},
			v1alpha1.Node{ID: id(i + 2), Type: v1alpha1.NodeCondition,
				Condition: &v1alpha1.ConditionNode{Default: id(i + 3), Branches: []v1alpha1.Branch{
					{When: `message.buttonId == "no"`, Next: "end"},
					{When: `vars.answer.size() > 100`, Next: id(i)},
				}}},
			v1alpha1.Node{ID: id(i + 3), Type: v1alpha1.NodeSetVariables, Next: next,
				SetVariables: &v1alpha1.SetVariablesNode{Variables: []v1alpha1.Assignment{
					{Name: "count", Expr: &expr}, {Name: "last", Value: &val}}}},
		)
	}
	for i := blocks * 4; len(spec.Nodes) < n-1; i++ {
		next := id(i + 1)
		if len(spec.Nodes) == n-2 {
			next = "end"
		}
		spec.Nodes = append(spec.Nodes, v1alpha1.Node{ID: id(i), Type: v1alpha1.NodeSendMessage, Next: next,
			SendMessage: &v1alpha1.SendMessageNode{Text: "Bye {{ contact.name }}"}})
	}
	if len(spec.Nodes) == n-1 && spec.Nodes[len(spec.Nodes)-1].Next == id(blocks*4) {
		spec.Nodes[len(spec.Nodes)-1].Next = "end"
	}
	spec.Nodes = append(spec.Nodes, v1alpha1.Node{ID: "end", Type: v1alpha1.NodeEnd})
	return spec
}

func BenchmarkCompile(b *testing.B) {
	spec := bigSpec(500)
	if len(spec.Nodes) != 500 {
		b.Fatalf("%d nodes", len(spec.Nodes))
	}
	if _, errs := Compile(spec, Options{Channel: message.WhatsApp}); len(errs) > 0 {
		b.Fatal(errs)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, errs := Compile(spec, Options{Channel: message.WhatsApp}); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}
