package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
	"github.com/chatflow-dev/chatflow/runtime/store"
)

// recordingSender stands where the channel's sender is: it records what it
// is asked to send and panics while panics > 0, as a buggy renderer would.
type recordingSender struct {
	mu     sync.Mutex
	panics int
	sent   []string
}

func (s *recordingSender) Send(_ context.Context, out message.Outbound) message.Receipt {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.panics > 0 {
		s.panics--
		panic("index out of range [3] with length 3")
	}
	s.sent = append(s.sent, out.To.ID+": "+out.Text)
	return message.Receipt{MessageID: "m" + out.To.ID}
}

func (s *recordingSender) texts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sent...)
}

// sendingFlow is a Manual flow that calls url (when set) and then sends.
func sendingFlow(t *testing.T, st store.Store, url string, opts func(*Config)) (*Executor, *recordingSender) {
	t.Helper()
	nodes := []v1alpha1.Node{{ID: "start", Type: v1alpha1.NodeStart, Next: "hello"}}
	if url != "" {
		nodes[0].Next = "call"
		nodes = append(nodes, v1alpha1.Node{ID: "call", Type: v1alpha1.NodeHTTPRequest, Next: "hello", OnError: "hello",
			HTTPRequest: &v1alpha1.HTTPRequestNode{URL: url}})
	}
	nodes = append(nodes,
		v1alpha1.Node{ID: "hello", Type: v1alpha1.NodeSendMessage, SendMessage: &v1alpha1.SendMessageNode{Text: "hello"}, Next: "end"},
		v1alpha1.Node{ID: "end", Type: v1alpha1.NodeEnd})
	f := &v1alpha1.ChatFlow{Spec: v1alpha1.ChatFlowSpec{Trigger: v1alpha1.Trigger{Type: v1alpha1.TriggerManual}, Nodes: nodes}}
	f.Name, f.Namespace = "greeter", "team"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "runToken"), []byte("t"), 0o600); err != nil {
		t.Fatal(err)
	}
	creds, err := NewCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Flow: f, Store: st, Workers: 1, EventLog: io.Discard, Credentials: creds,
		AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	if opts != nil {
		opts(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &recordingSender{}
	e.sender = s
	return e, s
}

// runWhile runs the workers until done reports true (or 10 s passed).
func runWhile(t *testing.T, e *Executor, done func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { _ = e.Run(ctx, time.Second); close(stopped) }()
	for deadline := time.Now().Add(10 * time.Second); !done() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-stopped
}

// A panic in a turn is recovered: the item becomes a dead letter with the
// reason, counted and logged, the replica goes on with other contacts, and
// the dead letter can be listed and retried through the API.
func TestPanicInATurnIsDeadLetteredAndRetried(t *testing.T) {
	logs := captureLog(t)

	st := store.NewMemory(store.Options{})
	defer st.Close()
	e, sender := sendingFlow(t, st, "", nil)
	sender.panics = 1
	ctx := context.Background()
	for _, c := range []string{"first", "second"} {
		if _, err := st.Enqueue(ctx, c, store.Item{ID: "run:" + c, Payload: runPayload(t, c)}); err != nil {
			t.Fatal(err)
		}
	}
	runWhile(t, e, func() bool { return metricValue(t, e, "chatflow_turns_total") >= 1 })
	if got := sender.texts(); len(got) != 1 || got[0] != "second: hello" {
		t.Fatalf("sent %q, want only the second contact's hello: the replica goes on after the panic", got)
	}
	if got := metricValue(t, e, "chatflow_dead_letters_total", "reason", "panic"); got != 1 {
		t.Errorf("panic dead letters: %v, want 1", got)
	}
	if !strings.Contains(logs.String(), `"msg":"a turn panicked: its item is kept as a dead letter"`) ||
		!strings.Contains(logs.String(), "index out of range") {
		t.Errorf("the panic is not logged with its value:\n%s", logs.String())
	}

	// Listed through the API, with the runToken.
	h := e.Handler()
	call := func(method, path, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := call(http.MethodGet, "/v1/deadletters", "wrong"); rec.Code != http.StatusUnauthorized {
		t.Errorf("GET /v1/deadletters with a wrong token: %d, want 401", rec.Code)
	}
	rec := call(http.MethodGet, "/v1/deadletters", "t")
	var list DeadLetters
	if err := json.Unmarshal(rec.Body.Bytes(), &list); rec.Code != http.StatusOK || err != nil || len(list.DeadLetters) != 1 {
		t.Fatalf("GET /v1/deadletters: %d %s %v", rec.Code, rec.Body, err)
	}
	d := list.DeadLetters[0]
	if d.Contact != "first" || d.Item != "run:first" || d.Forged || !strings.HasPrefix(d.Reason, "panic: index out of range") ||
		!strings.Contains(string(d.Payload), `"kind":"run"`) {
		t.Errorf("dead letter %+v", d)
	}
	if rec := call(http.MethodPost, "/v1/deadletters/nope/retry", "t"); rec.Code != http.StatusNotFound {
		t.Errorf("retrying an unknown dead letter: %d, want 404", rec.Code)
	}

	// The bug fixed (the sender no longer panics), a retry delivers.
	if rec := call(http.MethodPost, "/v1/deadletters/"+d.ID+"/retry", "t"); rec.Code != http.StatusAccepted {
		t.Fatalf("retry: %d %s", rec.Code, rec.Body)
	}
	runWhile(t, e, func() bool { return metricValue(t, e, "chatflow_turns_total") >= 2 })
	if got := sender.texts(); len(got) != 2 || got[1] != "first: hello" {
		t.Errorf("after the retry sent %q, want the first contact's hello too", got)
	}
	if rec := call(http.MethodGet, "/v1/deadletters", "t"); !strings.Contains(rec.Body.String(), `"deadLetters":[]`) {
		t.Errorf("dead letters after the retry: %s", rec.Body)
	}
}

// A lease lost mid-turn (another replica took the contact: here the
// store's clock moved past the lease) stops the turn before its next
// effect: nothing is sent, the item stays queued, and the next holder
// replays the turn — with the same Idempotency-Key on its HTTP call — and
// sends once.
func TestLostLeaseStopsTheTurnBeforeTheNextSend(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	st := store.NewMemory(store.Options{Clock: clock, LeaseTTL: 300 * time.Millisecond})
	defer st.Close()

	var (
		keys    []string
		arrived = make(chan struct{}, 4)
	)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get(IdempotencyKeyHeader))
		first := len(keys) == 1
		mu.Unlock()
		arrived <- struct{}{}
		if first {
			<-r.Context().Done() // the slow call the lease runs out during
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer api.Close()
	e, sender := sendingFlow(t, st, api.URL+"/slow", func(c *Config) { c.LeaseTTL = 300 * time.Millisecond })
	if _, err := st.Enqueue(context.Background(), "c", store.Item{ID: "run:c", Payload: runPayload(t, "c")}); err != nil {
		t.Fatal(err)
	}
	go func() {
		<-arrived
		mu.Lock()
		now = now.Add(time.Minute) // the lease expires in the store
		mu.Unlock()
	}()
	runWhile(t, e, func() bool { return metricValue(t, e, "chatflow_turns_total") >= 1 })
	if got := sender.texts(); len(got) != 1 || got[0] != "c: hello" {
		t.Errorf("sent %q, want one hello: none from the turn that lost its lease, one from the replay", got)
	}
	if got := metricValue(t, e, "chatflow_leases_lost_total"); got != 1 {
		t.Errorf("leases lost: %v, want 1", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(keys) != 2 || keys[0] == "" || keys[0] != keys[1] {
		t.Errorf("Idempotency-Keys of the call and its replay: %q, want the same key twice", keys)
	}
}

// The HTTP client of HTTPRequest nodes caps response headers and bodies
// (and says which budget bit), sends the Idempotency-Key, and keeps query
// strings out of its error messages.
func TestEgressBudgetsAndIdempotencyKey(t *testing.T) {
	var gotKey string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/headers":
			w.Header().Set("X-Big", strings.Repeat("h", maxHTTPResponseHeaders+1))
		case "/body":
			_, _ = w.Write(bytes.Repeat([]byte("b"), maxHTTPResponse+1))
		default:
			gotKey = r.Header.Get(IdempotencyKeyHeader)
			_, _ = w.Write([]byte(`{"ok":true}`))
		}
	}))
	defer srv.Close()
	c := newEgressClient([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
	ctx := context.Background()
	res, budget := doHTTPCall(ctx, c, httpCall(srv.URL+"/headers"), nil, "k", nil)
	if budget != budgetHTTPHeaders || !strings.Contains(res.Err, "headers are larger than") {
		t.Errorf("huge headers: %q, budget %q", res.Err, budget)
	}
	res, budget = doHTTPCall(ctx, c, httpCall(srv.URL+"/body"), nil, "k", nil)
	if budget != budgetHTTPBody || !strings.Contains(res.Err, "response larger than") {
		t.Errorf("huge body: %q, budget %q", res.Err, budget)
	}
	res, budget = doHTTPCall(ctx, c, httpCall(srv.URL+"/ok"), nil, "the-key", nil)
	if budget != "" || res.Err != "" || res.Status != 200 || gotKey != "the-key" {
		t.Errorf("a plain call: %+v, budget %q, Idempotency-Key %q", res, budget, gotKey)
	}
	closed := srv.URL
	srv.Close()
	res, _ = doHTTPCall(ctx, c, httpCall(closed+"/x?token=s3cret&contact=15550001111"), nil, "k", nil)
	if res.Err == "" || strings.Contains(res.Err, "s3cret") || strings.Contains(res.Err, "15550001111") {
		t.Errorf("a failed call's error names the query: %q", res.Err)
	}
}

func TestIdempotencyKeyAndContactHash(t *testing.T) {
	st := store.NewMemory(store.Options{})
	defer st.Close()
	e, _ := sendingFlow(t, st, "", nil)
	k := e.idempotencyKey("c", "r.1")
	if k != e.idempotencyKey("c", "r.1") || len(k) != 32 {
		t.Errorf("key %q is not stable or not 128 bits of hex", k)
	}
	if k == e.idempotencyKey("d", "r.1") || k == e.idempotencyKey("c", "r.2") {
		t.Errorf("keys of another contact or effect equal %q", k)
	}
	unkeyed := e.hashContact("15550001111")
	keyed, _ := sendingFlow(t, st, "", func(c *Config) { c.ContactHashKey = []byte("install key") })
	other, _ := sendingFlow(t, st, "", func(c *Config) { c.ContactHashKey = []byte("another key") })
	h := keyed.hashContact("15550001111")
	if h == unkeyed || h == other.hashContact("15550001111") || h != keyed.hashContact("15550001111") || len(h) != 16 {
		t.Errorf("contact hashes: unkeyed %s, keyed %s, other key %s: want stable per key and different across keys", unkeyed, h, other.hashContact("15550001111"))
	}
}

func httpCall(url string) flow.HTTPCall {
	return flow.HTTPCall{ID: "r.1", Method: http.MethodGet, URL: url, Timeout: 5 * time.Second}
}

// A campaign run whose turn panics is kept as a dead letter and counts
// failed in the campaign's ledger: the campaign, which waits for every run
// it handed over to end, can complete.
func TestPanickedCampaignRunCountsFailed(t *testing.T) {
	captureLog(t)
	mem := store.NewMemory(store.Options{})
	defer mem.Close()
	st := mem.(interface {
		store.Store
		store.Campaigns
	})
	e, sender := sendingFlow(t, st, "", nil)
	sender.panics = 1
	ctx := context.Background()
	for _, c := range []string{"first", "second"} {
		payload, err := json.Marshal(queued{Event: flow.RunStarted{RunID: campaignRunID("spring", c),
			Contact: message.Contact{ID: c}, Campaign: "spring"}.Event()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Enqueue(ctx, c, store.Item{ID: "run:spring/" + c, Payload: payload}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.CampaignMark(ctx, "spring", store.CampaignAccepted, "first", "second"); err != nil {
		t.Fatal(err)
	}
	counts := func() store.CampaignCounts {
		c, err := st.CampaignCounts(ctx, "spring")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	runWhile(t, e, func() bool { c := counts(); return c.Done+c.Failed >= 2 })
	if got, want := counts(), (store.CampaignCounts{Accepted: 2, Started: 2, Done: 1, Failed: 1}); got != want {
		t.Errorf("ledger %+v, want %+v: the panicked run failed, the other done", got, want)
	}
	states, err := st.CampaignStates(ctx, "spring", "first", "second")
	if err != nil || states[0] != store.CampaignFailed || states[1] != store.CampaignDone {
		t.Errorf("states %v (%v), want first failed and second done", states, err)
	}
}
