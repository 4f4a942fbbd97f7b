package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
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

// postWebhook posts the test number's signed webhook with message id to
// a gateway at url and returns its status (0 when none came).
func postWebhook(t *testing.T, url, id string) int {
	body, _ := whatsapp(t, id)
	req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/whatsapp", bytes.NewReader(body))
	req.Header.Set(meta.SignatureHeader, meta.Sign(body, testAppSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// expectAnswers checks that every waiting webhook was answered want (why:
// the circumstance, for the message).
func expectAnswers(t *testing.T, codes []int, want int, why string) {
	t.Helper()
	for i, c := range codes {
		if c != want {
			t.Errorf("waiting webhook %d: %d, want %d %s", i, c, want, why)
		}
	}
}

// joinedGets is an executor that answers code to a forward of more than
// one message, 200 to the others.
func joinedGets(code int) func(body []byte) int {
	return func(body []byte) int {
		if bytes.Count(body, []byte(`"wamid.`)) > 1 {
			return code
		}
		return http.StatusOK
	}
}

// burst holds the executor's first maxInflight forwards until waiting
// webhooks for the same binding are queued behind them, then lets
// everything through; answer is the executor's to every later forward.
// It returns each waiting webhook's status and the ids those webhooks
// carried.
func burst(t *testing.T, f *fixture, waiting int, answer func(body []byte) int) (codes []int, ids []string) {
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
		return answer(body)
	}
	gw := httptest.NewServer(f.srv.Handler())
	defer gw.Close()
	post := func(id string) int { return postWebhook(t, gw.URL, id) }
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
	codes, ids := burst(t, f, 10, joinedGets(http.StatusOK))
	expectAnswers(t, codes, http.StatusOK, "")
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
	codes, ids := burst(t, f, 5, joinedGets(http.StatusBadRequest))
	expectAnswers(t, codes, http.StatusOK, "once sent alone")
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
	codes, _ := burst(t, f, 4, joinedGets(http.StatusServiceUnavailable))
	expectAnswers(t, codes, http.StatusBadGateway, "")
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
	codes, _ := burst(t, f, 5, joinedGets(http.StatusOK))
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

// TestJoinedForwardToldToWaitIsRedelivered: 408 and 429 say "not now" to
// any body, so a joined forward that gets one is not sent again part by
// part: every webhook in it is answered 5xx and redelivered.
func TestJoinedForwardToldToWaitIsRedelivered(t *testing.T) {
	for _, code := range []int{http.StatusRequestTimeout, http.StatusTooManyRequests} {
		f := newFixture(t)
		codes, _ := burst(t, f, 4, joinedGets(code))
		expectAnswers(t, codes, http.StatusBadGateway, fmt.Sprintf("after %d to the joined forward", code))
		if n := len(f.forwarded()); n != maxInflight+1 {
			t.Errorf("%d to the joined forward: %d forwards, want %d held and the joined one", code, n, maxInflight)
		}
	}
}

// TestRefusedJoinResendsStayInTheLane: the parts of a refused joined
// forward are sent again alone, no more at once than a lane lets forwards
// run, each traced under its own request, and each webhook gets its own
// part's verdict.
func TestRefusedJoinResendsStayInTheLane(t *testing.T) {
	f := newFixture(t)
	rec := tracetest.NewSpanRecorder()
	f.srv.tracing = newTracing(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	var mu sync.Mutex
	current, peak := 0, 0
	const waiting = 30
	codes, _ := burst(t, f, waiting, func(body []byte) int {
		ids := messageIDs(t, body)
		if len(ids) > 1 {
			return http.StatusBadRequest
		}
		mu.Lock()
		current++
		peak = max(peak, current)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond) // long enough for re-sends to overlap
		mu.Lock()
		current--
		mu.Unlock()
		if ids[0] == "wamid.waiting.07" {
			return http.StatusBadRequest // this part alone is bad
		}
		return http.StatusOK
	})
	for i, c := range codes {
		if want := map[bool]int{true: http.StatusBadGateway, false: http.StatusOK}[i == 7]; c != want {
			t.Errorf("waiting webhook %d: %d, want %d", i, c, want)
		}
	}
	if peak > maxInflight {
		t.Errorf("%d parts of a refused join were sent again at once, a lane runs %d", peak, maxInflight)
	}
	if peak < 2 {
		t.Errorf("the re-sends ran one at a time (peak %d): the test proves nothing", peak)
	}
	// Every forward of a part alone is a child of its own request's span.
	servers := map[trace.SpanID]bool{}
	parents := map[trace.SpanID]int{}
	for _, s := range rec.Ended() {
		switch {
		case s.SpanKind() == trace.SpanKindServer:
			servers[s.SpanContext().SpanID()] = true
		case s.SpanKind() == trace.SpanKindClient && len(s.Links()) == 0:
			parents[s.Parent().SpanID()]++
		}
	}
	if len(parents) != maxInflight+waiting {
		t.Errorf("the forwards alone are children of %d request spans, want %d: each its own", len(parents), maxInflight+waiting)
	}
	for id, n := range parents {
		if !servers[id] || n != 1 {
			t.Errorf("request span %s: %d forwards alone under it (a request span: %v)", id, n, servers[id])
		}
	}
}

// TestAWaitingPartGoesAloneAfterHalfItsTime: while the binding's forwards
// hang, a waiting part does not wait for them past half its request's
// time: it is sent alone and answered.
func TestAWaitingPartGoesAloneAfterHalfItsTime(t *testing.T) {
	f := newFixture(t)
	f.srv.opts.ForwardTimeout = time.Second
	release := make(chan struct{})
	held := make(chan struct{}, maxInflight)
	var mu sync.Mutex
	calls := 0
	f.answer = func([]byte) int {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n <= maxInflight {
			held <- struct{}{}
			<-release // past every ForwardTimeout: these forwards fail
		}
		return http.StatusOK
	}
	gw := httptest.NewServer(f.srv.Handler())
	defer gw.Close()
	post := func(id string) int { return postWebhook(t, gw.URL, id) }
	var wg sync.WaitGroup
	var hung atomic.Int32
	for i := range maxInflight {
		wg.Go(func() {
			post(fmt.Sprintf("wamid.held.%d", i))
			hung.Add(1)
		})
	}
	for range maxInflight {
		<-held
	}
	if code := post("wamid.patient"); code != http.StatusOK {
		t.Errorf("the waiting webhook: %d, want 200 once sent alone", code)
	}
	if n := hung.Load(); n != 0 {
		t.Errorf("the waiting part waited for %d hanging forwards to time out", n)
	}
	mu.Lock()
	if calls != maxInflight+1 {
		t.Errorf("%d forwards, want the %d hanging and the waiting part's own", calls, maxInflight)
	}
	mu.Unlock()
	close(release)
	wg.Wait()
	if n := f.srv.waitingParts(); n != 0 {
		t.Errorf("%d parts still waiting", n)
	}
}

// TestWaitingPartsAreAnsweredWithinTheirTime: however long parts wait and
// are sent again after a refused join, each webhook is answered (200 only
// when its events were accepted) before the server's write deadline, a
// little past ForwardTimeout as the gateway's command sets it.
func TestWaitingPartsAreAnsweredWithinTheirTime(t *testing.T) {
	const forwardTimeout = time.Second
	f := newFixture(t)
	f.srv.opts.ForwardTimeout = forwardTimeout
	var mu sync.Mutex
	calls := 0
	accepted := map[string]bool{}
	f.answer = func(body []byte) int {
		mu.Lock()
		calls++
		mu.Unlock()
		time.Sleep(450 * time.Millisecond) // each forward within ForwardTimeout, not three
		ids := messageIDs(t, body)
		if len(ids) > 1 {
			return http.StatusBadRequest
		}
		mu.Lock()
		accepted[ids[0]] = true
		mu.Unlock()
		return http.StatusOK
	}
	_, addr := f.serveFrontend(t, &http.Server{WriteTimeout: forwardTimeout + forwardTimeout/5})
	post := func(id string) (int, error) {
		body, head := whatsapp(t, id)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, head+string(body)); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	var wg sync.WaitGroup
	for i := range maxInflight {
		wg.Go(func() { _, _ = post(fmt.Sprintf("wamid.held.%d", i)) })
	}
	for {
		mu.Lock()
		n := calls
		mu.Unlock()
		if n == maxInflight {
			break
		}
		time.Sleep(time.Millisecond)
	}
	codes, errs := make([]int, 3), make([]error, 3)
	for i := range codes {
		wg.Go(func() { codes[i], errs[i] = post(fmt.Sprintf("wamid.waiting.%d", i)) })
	}
	wg.Wait()
	for i := range codes {
		id := fmt.Sprintf("wamid.waiting.%d", i)
		switch {
		case errs[i] != nil:
			t.Errorf("%s got no answer: %v", id, errs[i])
		case codes[i] == http.StatusOK && !accepted[id]:
			t.Errorf("%s answered 200, but the executor never accepted it", id)
		case codes[i] != http.StatusOK && codes[i] != http.StatusBadGateway:
			t.Errorf("%s answered %d, want 200 or 502", id, codes[i])
		}
	}
}
