package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/testenv"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
	"github.com/chatflow-dev/chatflow/runtime/store"
	"github.com/chatflow-dev/chatflow/runtime/store/redistest"
)

// metricValue reads a counter or gauge of the executor's registry; labels
// are name=value pairs the series must have.
func metricValue(t *testing.T, e *Executor, name string, labels ...string) float64 {
	t.Helper()
	fams, err := e.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue series
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}

// manualFlow runs an HTTP-free Manual flow: it needs no binding and no
// network, so a test sees the store and the metrics only.
func manualFlow(t *testing.T, st store.Store, clock func() time.Time) *Executor {
	t.Helper()
	f := &v1alpha1.ChatFlow{Spec: v1alpha1.ChatFlowSpec{
		Trigger: v1alpha1.Trigger{Type: v1alpha1.TriggerManual},
		Nodes: []v1alpha1.Node{
			{ID: "start", Type: v1alpha1.NodeStart, Next: "set"},
			{ID: "set", Type: v1alpha1.NodeSetVariables, Next: "end", SetVariables: &v1alpha1.SetVariablesNode{
				Variables: []v1alpha1.Assignment{{Name: "done", Value: ptr("yes")}}}},
			{ID: "end", Type: v1alpha1.NodeEnd},
		},
	}}
	f.Name = "m"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "runToken"), []byte("t"), 0o600); err != nil {
		t.Fatal(err)
	}
	creds, err := NewCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{Flow: f, Store: st, Workers: 1, Now: clock, EventLog: io.Discard, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// runUntilTurns runs the executor's workers until it committed n turns (or
// 10 s passed), then stops them.
func runUntilTurns(t *testing.T, e *Executor, n float64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.Run(ctx, time.Second); close(done) }()
	for deadline := time.Now().Add(10 * time.Second); metricValue(t, e, "chatflow_turns_total") < n && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
}

func runPayload(t *testing.T, contact string) []byte {
	t.Helper()
	b, err := json.Marshal(queued{Event: flow.RunStarted{RunID: "r-" + contact, Contact: message.Contact{ID: contact}}.Event()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The queue-depth gauge counts the items waiting, not the contacts or
// signals that have some: on the memory store and on Redis.
func TestQueueDepthCountsItems(t *testing.T) {
	stores := map[string]func(t *testing.T) store.Store{
		"memory": func(*testing.T) store.Store { return store.NewMemory(store.Options{}) },
		"redis": func(t *testing.T) store.Store {
			url, _ := redistest.Start(t)
			s, err := store.Open(context.Background(), url, store.Options{Namespace: "test/depth"})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			defer st.Close()
			e := manualFlow(t, st, nil)
			ctx := context.Background()
			// Two contacts, five items, three enqueues (three signals).
			for _, c := range []struct {
				contact string
				n       int
			}{{"a", 2}, {"a", 1}, {"b", 2}} {
				items := make([]store.Item, c.n)
				for i := range items {
					items[i] = store.Item{Payload: runPayload(t, c.contact)}
				}
				if _, err := st.Enqueue(ctx, c.contact, items...); err != nil {
					t.Fatal(err)
				}
			}
			e.sampleQueueOnce(ctx)
			if got := metricValue(t, e, "chatflow_queue_depth"); got != 5 {
				t.Errorf("chatflow_queue_depth = %v, want 5 items", got)
			}
			// The workers drain the queue; the gauge follows.
			runUntilTurns(t, e, 5)
			e.sampleQueueOnce(ctx)
			if got, turns := metricValue(t, e, "chatflow_queue_depth"), metricValue(t, e, "chatflow_turns_total"); got != 0 || turns != 5 {
				t.Errorf("after the workers ran: depth %v, turns %v; want 0 and 5", got, turns)
			}
		})
	}
}

// A stored session or queued item that does not decode is counted and
// logged, and the contact goes on: the item is kept as a dead letter, the
// session starts over.
func TestDecodeFailuresAreCountedAndLogged(t *testing.T) {
	logs := captureLog(t)

	st := store.NewMemory(store.Options{})
	defer st.Close()
	ctx := context.Background()
	// A session that is not JSON, written as a (buggy or older) replica
	// would have.
	if _, err := st.Enqueue(ctx, "c1", store.Item{Payload: []byte("seed")}); err != nil {
		t.Fatal(err)
	}
	l, err := st.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(ctx, l); err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(ctx, l, store.Commit{Consumed: 1, State: []byte("{not json"), Release: true}); err != nil {
		t.Fatal(err)
	}
	// Then an item that is not JSON, and a good run.
	if _, err := st.Enqueue(ctx, "c1", store.Item{Payload: []byte("garbage")}, store.Item{Payload: runPayload(t, "c1")}); err != nil {
		t.Fatal(err)
	}
	e := manualFlow(t, st, nil)
	runUntilTurns(t, e, 1)
	if got := metricValue(t, e, "chatflow_decode_errors_total", "what", "session"); got != 1 {
		t.Errorf("session decode errors: %v, want 1", got)
	}
	if got := metricValue(t, e, "chatflow_decode_errors_total", "what", "item"); got != 1 {
		t.Errorf("item decode errors: %v, want 1", got)
	}
	if got := metricValue(t, e, "chatflow_turns_total"); got != 1 {
		t.Errorf("turns: %v, want 1 (the good run after the garbage)", got)
	}
	if got := metricValue(t, e, "chatflow_dead_letters_total", "reason", "undecodable"); got != 1 {
		t.Errorf("undecodable dead letters: %v, want 1", got)
	}
	dl, err := st.DeadLetters(ctx, 10)
	if err != nil || len(dl) != 1 || string(dl[0].Item.Payload) != "garbage" || !strings.HasPrefix(dl[0].Reason, "undecodable: ") {
		t.Errorf("dead letters %+v %v, want the garbage item, undecodable", dl, err)
	}
	for _, want := range []string{`"msg":"a stored session does not decode"`, `"msg":"a stored item does not decode"`,
		`"msg":"inbox item kept as a dead letter"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %s:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), `"c1"`) {
		t.Errorf("the log names the contact in clear:\n%s", logs.String())
	}
}

func ptr[T any](v T) *T { return &v }

// captureLog sends the process's log (slog's default) to the buffer it
// returns until the test ends.
func captureLog(t *testing.T) *bytes.Buffer {
	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return &logs
}

// Every executor metric docs/operations.md lists is registered with
// exactly the labels it shows (besides namespace and flow, which every one
// has), and every chatflow_ metric registered is listed (the gateway's,
// chatflow_gateway_*, are internal/gateway's).
func TestDocumentedMetricsMatchTheRegistry(t *testing.T) {
	// Vectors without a series are not gathered: give each one.
	m := newMetrics("ns", "f")
	m.webhooks.WithLabelValues("whatsapp", "accepted")
	m.sends.WithLabelValues("text", "ok")
	m.storeLatency.WithLabelValues("commit")
	m.turnLatency.WithLabelValues("message")
	m.nodeEntered.WithLabelValues("n")
	m.nodeLeft.WithLabelValues("n", "next")
	m.nodeErrors.WithLabelValues("n", "render")
	m.nodeWaiting.WithLabelValues("n")
	m.initModelSeries([]flow.AINode{{ID: "n", Type: v1alpha1.NodeAIReply, Model: "m"}})
	m.modelLatency.WithLabelValues("n")
	// The docs say once that every metric carries the flow's namespace and
	// name: check that each has them, then compare the rest.
	stripped := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		fams, err := m.registry.Gather()
		for _, f := range fams {
			if !strings.HasPrefix(f.GetName(), "chatflow_") {
				continue
			}
			for _, s := range f.GetMetric() {
				var rest []*dto.LabelPair
				flowLabels := 0
				for _, l := range s.GetLabel() {
					switch {
					case l.GetName() == "namespace" && l.GetValue() == "ns", l.GetName() == "flow" && l.GetValue() == "f":
						flowLabels++
					default:
						rest = append(rest, l)
					}
				}
				if flowLabels != 2 {
					t.Errorf("%s lacks the flow's namespace or name: %v", f.GetName(), s.GetLabel())
				}
				s.Label = rest
			}
		}
		return fams, err
	})
	testenv.CheckDocumentedMetrics(t, "executor", stripped, func(name string) bool {
		return !strings.HasPrefix(name, "chatflow_gateway_")
	})
}

func TestMetricNames(t *testing.T) {
	names := MetricNames()
	for _, want := range []string{"chatflow_node_entered_total", "chatflow_node_waiting", "chatflow_turn_latency_seconds_bucket", "chatflow_sends_total"} {
		if !slices.Contains(names, want) {
			t.Errorf("MetricNames lacks %s: %v", want, names)
		}
	}
	if slices.Contains(names, "chatflow_turn_latency_seconds") || slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "go_") }) {
		t.Errorf("MetricNames lists a histogram's bare name or the Go runtime's: %v", names)
	}
}
