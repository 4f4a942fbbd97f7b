package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
)

// messageIDs are the WhatsApp message ids of a webhook body, in order.
func messageIDs(t *testing.T, body []byte) []string {
	t.Helper()
	var env struct {
		Entry []struct {
			Changes []struct {
				Value struct {
					Messages []struct {
						ID string `json:"id"`
					} `json:"messages"`
				} `json:"value"`
			} `json:"changes"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("forwarded body %q: %v", body, err)
	}
	var ids []string
	for _, e := range env.Entry {
		for _, c := range e.Changes {
			for _, m := range c.Value.Messages {
				ids = append(ids, m.ID)
			}
		}
	}
	return ids
}

// burst holds the executor's first maxInflight forwards until waiting
// webhooks for the same binding are queued behind them, then lets
// everything through; joined is the executor's answer to a forward of
// more than one message. It returns each waiting webhook's status and the
// ids those webhooks carried.
func burst(t *testing.T, f *fixture, waiting int, joined func(body []byte) int) (codes []int, ids []string) {
	t.Helper()
	gate := make(chan struct{})
	held := make(chan struct{}, maxInflight)
	var mu sync.Mutex
	calls := 0
	f.answer = func(body []byte) int {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n <= maxInflight {
			held <- struct{}{}
			<-gate
			return http.StatusOK
		}
		if bytes.Count(body, []byte(`"wamid.`)) > 1 {
			return joined(body)
		}
		return http.StatusOK
	}
	gw := httptest.NewServer(f.srv.Handler())
	defer gw.Close()
	post := func(id string) int {
		body, _ := whatsapp(t, id)
		req, _ := http.NewRequest(http.MethodPost, gw.URL+"/webhooks/whatsapp", bytes.NewReader(body))
		req.Header.Set(meta.SignatureHeader, meta.Sign(body, testAppSecret))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	var first sync.WaitGroup
	for i := range maxInflight {
		first.Go(func() {
			if code := post(fmt.Sprintf("wamid.held.%d", i)); code != http.StatusOK {
				t.Errorf("held webhook %d: %d", i, code)
			}
		})
	}
	for range maxInflight {
		<-held
	}
	codes = make([]int, waiting)
	var rest sync.WaitGroup
	for i := range waiting {
		id := fmt.Sprintf("wamid.waiting.%02d", i)
		ids = append(ids, id)
		rest.Go(func() { codes[i] = post(id) })
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.srv.waitingParts() < waiting {
		if time.Now().After(deadline) {
			t.Fatalf("%d parts waiting, want %d", f.srv.waitingParts(), waiting)
		}
		time.Sleep(time.Millisecond)
	}
	close(gate)
	first.Wait()
	rest.Wait()
	if n := f.srv.waitingParts(); n != 0 {
		t.Errorf("%d parts still waiting", n)
	}
	f.srv.lanes.mu.Lock()
	defer f.srv.lanes.mu.Unlock()
	if len(f.srv.lanes.m) != 0 {
		t.Errorf("lanes left behind: %v", f.srv.lanes.m)
	}
	return codes, ids
}

// waitingParts counts the parts waiting on every lane.
func (s *Server) waitingParts() int {
	s.lanes.mu.Lock()
	defer s.lanes.mu.Unlock()
	n := 0
	for _, l := range s.lanes.m {
		n += len(l.waiting)
	}
	return n
}

// TestJoinsPartsWhileForwardsAreInFlight: webhooks that arrive while the
// binding's forwards are all in flight go to the executor as one request,
// a batch in Meta's shape signed with the binding's secret, holding every
// message once and in order; each webhook is answered 200.
func TestJoinsPartsWhileForwardsAreInFlight(t *testing.T) {
	f := newFixture(t)
	codes, ids := burst(t, f, 10, func([]byte) int { return http.StatusOK })
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("waiting webhook %d: %d", i, c)
		}
	}
	bodies := f.forwarded()
	if len(bodies) != maxInflight+1 {
		t.Fatalf("%d forwards, want the %d held and one joined", len(bodies), maxInflight)
	}
	joined := bodies[maxInflight]
	got := messageIDs(t, joined)
	slices.Sort(got)
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Errorf("the joined forward holds %v, want %v", got, ids)
	}
	if err := meta.VerifySignature(f.sigs[maxInflight], joined, testAppSecret); err != nil {
		t.Errorf("joined forward's signature: %v", err)
	}
	env, err := meta.DecodeEnvelope(joined)
	if err != nil || env.Object != meta.ObjectWhatsApp || len(env.Entry) != 10 {
		t.Errorf("joined forward is not a WhatsApp batch of 10 entries: %v", err)
	}
	if n := counterValue(t, f.srv.metrics.joined.WithLabelValues("whatsapp")); n != 10 {
		t.Errorf("joined parts counted: %v, want 10", n)
	}
	if n := counterValue(t, f.srv.metrics.events.WithLabelValues("whatsapp", resultForwarded)); n != 10+maxInflight {
		t.Errorf("forwarded events counted: %v, want %d", n, 10+maxInflight)
	}
}

// TestJoinedForwardRefusedGoesAlone: an executor's 4xx to a joined
// forward is a verdict on content, so each part is sent again alone,
// exactly as it came, and gets its own verdict.
func TestJoinedForwardRefusedGoesAlone(t *testing.T) {
	f := newFixture(t)
	codes, ids := burst(t, f, 5, func([]byte) int { return http.StatusBadRequest })
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("waiting webhook %d: %d, want 200 once sent alone", i, c)
		}
	}
	bodies := f.forwarded()
	if len(bodies) != maxInflight+1+5 {
		t.Fatalf("%d forwards, want %d held, one joined and 5 alone", len(bodies), maxInflight)
	}
	var alone []string
	for i, b := range bodies[maxInflight+1:] {
		got := messageIDs(t, b)
		if len(got) != 1 {
			t.Fatalf("a part sent alone holds %v", got)
		}
		want, _ := whatsapp(t, got[0])
		if !bytes.Equal(b, want) || f.sigs[maxInflight+1+i] != meta.Sign(want, testAppSecret) {
			t.Errorf("part %s was not sent as it came", got[0])
		}
		alone = append(alone, got[0])
	}
	slices.Sort(alone)
	if fmt.Sprint(alone) != fmt.Sprint(ids) {
		t.Errorf("sent alone: %v, want %v", alone, ids)
	}
}

// TestJoinedForwardFailingIsRedelivered: when the executor fails a joined
// forward (5xx), every webhook in it is answered 5xx, so the channel
// redelivers each.
func TestJoinedForwardFailingIsRedelivered(t *testing.T) {
	f := newFixture(t)
	codes, _ := burst(t, f, 4, func([]byte) int { return http.StatusServiceUnavailable })
	for i, c := range codes {
		if c != http.StatusBadGateway {
			t.Errorf("waiting webhook %d: %d, want 502", i, c)
		}
	}
	if n := counterValue(t, f.srv.metrics.events.WithLabelValues("whatsapp", resultFailed)); n != 4 {
		t.Errorf("failed events counted: %v, want 4", n)
	}
}

// counterValue reads a counter's value.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestJoinedForwardIsTraced: a joined forward's client span is a child of
// the span of the request that sends it, and links the spans of the other
// requests it carries, so each webhook's trace reaches its forward.
func TestJoinedForwardIsTraced(t *testing.T) {
	f := newFixture(t)
	rec := tracetest.NewSpanRecorder()
	f.srv.tracing = newTracing(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	codes, _ := burst(t, f, 5, func([]byte) int { return http.StatusOK })
	for i, c := range codes {
		if c != http.StatusOK {
			t.Fatalf("waiting webhook %d: %d", i, c)
		}
	}
	servers := map[trace.SpanID]bool{}
	var joined sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch {
		case s.SpanKind() == trace.SpanKindServer:
			servers[s.SpanContext().SpanID()] = true
		case s.SpanKind() == trace.SpanKindClient && len(s.Links()) > 0:
			joined = s
		}
	}
	if joined == nil {
		t.Fatal("no forward span with links")
	}
	carried := map[trace.SpanID]bool{joined.Parent().SpanID(): true}
	for _, l := range joined.Links() {
		carried[l.SpanContext.SpanID()] = true
	}
	for id := range carried {
		if !servers[id] {
			t.Errorf("the joined forward's parent or link %s is no request's span", id)
		}
	}
	if len(carried) != 5 {
		t.Errorf("the joined forward reaches %d request spans, want the 5 it carries", len(carried))
	}
	for _, a := range joined.Attributes() {
		if a.Key == "chatflow.joined_parts" && a.Value.AsInt64() != 5 {
			t.Errorf("chatflow.joined_parts = %d, want 5", a.Value.AsInt64())
		}
	}
}
