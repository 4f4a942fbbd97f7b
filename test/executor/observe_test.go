package executor_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/executor"
	"github.com/chatflow-dev/chatflow/test/procs"
)

// ordersFlow asks for an order number, looks it up over HTTP (a loopback
// target), says whether it shipped and waits for a confirmation code,
// which it keeps as sensitive, like the pin it declares.
const ordersFlow = `
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: orders, namespace: shop}
spec:
  trigger: {type: WhatsApp}
  variables: [{name: pin, value: "4711", sensitive: true}, {name: greeting, value: "hello"}]
  nodes:
  - {id: start, type: Start, next: ask}
  - {id: ask, type: SendMessage, sendMessage: {text: "Your order number?"}, next: wait}
  - {id: wait, type: WaitForReply, waitForReply: {timeout: 1h, saveAs: order}, next: lookup}
  - {id: lookup, type: HTTPRequest, httpRequest: {url: "%s/orders/{{ vars.order }}", timeout: 5s, saveAs: res}, next: route, onError: sorry}
  - id: route
    type: Condition
    condition:
      branches: [{name: shipped, when: 'vars.res.body.status == "shipped"', next: shipped}]
      default: other
  - {id: shipped, type: SendMessage, sendMessage: {text: "Shipped! Your code?"}, next: confirm}
  - {id: other, type: SendMessage, sendMessage: {text: "Not yet."}, next: end}
  - {id: sorry, type: SendMessage, sendMessage: {text: "Lookup failed."}, next: end}
  - {id: confirm, type: WaitForReply, waitForReply: {timeout: 1h, saveAs: code, sensitive: true}, next: end}
  - {id: end, type: End}
`

// target is the HTTP API the flow looks orders up in: it records the
// traceparent of each request.
type target struct {
	mu          sync.Mutex
	traceparent []string
}

func (tg *target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tg.mu.Lock()
	tg.traceparent = append(tg.traceparent, r.Header.Get("Traceparent"))
	tg.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, "/999") {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"shipped"}`))
}

// observeRig is an executor process of ordersFlow with tracing to an
// in-test OTLP receiver, and the target its HTTPRequest calls.
type observeRig struct {
	*rig
	e      *procs.Executor
	otlp   *procs.OTLPReceiver
	target *target
}

func newObserveRig(t *testing.T, store string) *observeRig {
	o := &observeRig{rig: newRig(t), otlp: procs.StartOTLPReceiver(t), target: &target{}}
	api := httptest.NewServer(o.target)
	t.Cleanup(api.Close)
	o.e = procs.StartExecutor(t, procs.ExecutorSpec{
		Flow: fmt.Sprintf(ordersFlow, api.URL), Binding: binding(o.sandbox), Credentials: credentials, Store: store,
		Args: []string{"--allow-private-networks", "127.0.0.0/8"},
		Env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + o.otlp.URL, "OTEL_BSP_SCHEDULE_DELAY=50",
			"OTEL_EXPORTER_OTLP_COMPRESSION=gzip", "OTEL_SERVICE_NAME=orders-executor"},
	})
	return o
}

// say posts a signed text message; traceparent, when set, is the
// caller's span (the gateway's, once there is one).
func (o *observeRig) say(from, id, text, traceparent string) {
	o.t.Helper()
	body, err := procs.WhatsAppWebhook(phoneID, procs.WhatsAppMessage{From: from, Name: "Kerry", ID: id, Text: text})
	if err != nil {
		o.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, o.e.URL+"/webhooks/whatsapp", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(meta.SignatureHeader, meta.Sign(body, appSecret))
	if traceparent != "" {
		req.Header.Set("Traceparent", traceparent)
	}
	resp, err := o.client.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		o.t.Fatalf("webhook: %v %v\n%s", resp, err, o.e.Log())
	}
	resp.Body.Close()
}

// get calls an inspector route with the run token in header (empty: none).
func (o *observeRig) get(path, header, token string, into any) int {
	o.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, o.e.URL+path, nil)
	switch header {
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+token)
	case "proxy":
		req.Header.Set(executor.RunTokenHeader, token)
	}
	resp, err := o.client.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && into != nil {
		if err := json.Unmarshal(data, into); err != nil {
			o.t.Fatalf("GET %s: %v\n%s", path, err, data)
		}
	}
	return resp.StatusCode
}

// metrics scrapes the executor's /metrics.
func (o *observeRig) metrics() map[string]*dto.MetricFamily {
	o.t.Helper()
	resp, err := o.client.Get(o.e.URL + "/metrics")
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		o.t.Fatal(err)
	}
	return fams
}

// value is the series of fams[name] with exactly these labels (besides
// namespace="shop" and flow="orders", which every one has); -1 when there
// is none.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	want := map[string]string{}
	for k, v := range labels {
		want[k] = v
	}
	want["namespace"], want["flow"] = "shop", "orders"
	for _, m := range fams[name].GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if len(got) != len(want) {
			continue
		}
		match := true
		for k, v := range want {
			if got[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

func (o *observeRig) eventually(what string, within time.Duration, check func() error) {
	o.t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			o.t.Fatalf("%s: %v\n%s", what, err, procs.Indent(o.e.Log()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestObservingAConversation holds a scripted conversation with a real
// executor process (on the Redis store, then the memory store) and checks
// what it tells about it: the per-node metrics, the trace of a turn at an
// in-test OTLP receiver, and the session inspector's answers, sensitive
// values redacted.
func TestObservingAConversation(t *testing.T) {
	t.Run("redis", func(t *testing.T) {
		url, _ := redisURL(t)
		observeConversation(t, url)
	})
	t.Run("memory", func(t *testing.T) { observeConversation(t, "memory") })
}

func observeConversation(t *testing.T, store string) {
	o := newObserveRig(t, store)
	const (
		ann, bob, cat, dan, eve = "15550201001", "15550201002", "15550201003", "15550201004", "15550201005"
	)
	// The turn traced: Ann's order number, as if the gateway's span
	// (gatewaySpan of trace traceID) had forwarded it.
	traceID, _ := hex.DecodeString("4bf92f3577b34da6a3ce929d0e0e4736")
	gatewaySpan, _ := hex.DecodeString("00f067aa0ba902b7")
	o.say(ann, "wamid.a1", "hi", "")
	o.waitTexts(ann, 1, 10*time.Second)
	o.say(ann, "wamid.a2", "10452", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if got := o.waitTexts(ann, 2, 10*time.Second); len(got) != 2 || got[1] != "Shipped! Your code?" {
		t.Fatalf("Ann's replies: %q", got)
	}
	for _, c := range []string{bob, dan, eve} {
		o.say(c, "wamid.hi."+c, "hi", "")
	}
	o.say(cat, "wamid.c1", "hi", "")
	o.waitTexts(cat, 1, 10*time.Second)
	o.say(cat, "wamid.c2", "999", "") // the target answers 503
	if got := o.waitTexts(cat, 2, 10*time.Second); len(got) != 2 || got[1] != "Lookup failed." {
		t.Fatalf("Cat's replies: %q", got)
	}
	for _, c := range []string{bob, dan, eve} {
		o.waitTexts(c, 1, 10*time.Second)
	}

	t.Run("metrics", func(t *testing.T) {
		// Ann waits at confirm, Bob, Dan and Eve at wait; Cat is done.
		// The gauge comes from the store's index, sampled every 5 s.
		o.eventually("the waiting gauge", 15*time.Second, func() error {
			f := o.metrics()
			if w, c := value(f, "chatflow_node_waiting", map[string]string{"node": "wait"}), value(f, "chatflow_node_waiting", map[string]string{"node": "confirm"}); w != 3 || c != 1 {
				return fmt.Errorf("waiting at wait %v, at confirm %v; want 3 and 1", w, c)
			}
			return nil
		})
		f := o.metrics()
		for _, c := range []struct {
			name   string
			labels map[string]string
			want   float64
		}{
			{"chatflow_node_entered_total", map[string]string{"node": "start"}, 5},
			{"chatflow_node_entered_total", map[string]string{"node": "ask"}, 5},
			{"chatflow_node_entered_total", map[string]string{"node": "wait"}, 5},
			{"chatflow_node_entered_total", map[string]string{"node": "lookup"}, 2},
			{"chatflow_node_entered_total", map[string]string{"node": "shipped"}, 1},
			{"chatflow_node_entered_total", map[string]string{"node": "other"}, 0},
			{"chatflow_node_entered_total", map[string]string{"node": "sorry"}, 1},
			{"chatflow_node_entered_total", map[string]string{"node": "end"}, 1},
			{"chatflow_node_left_total", map[string]string{"node": "wait", "branch": "replied"}, 2},
			{"chatflow_node_left_total", map[string]string{"node": "wait", "branch": "timeout"}, 0},
			{"chatflow_node_left_total", map[string]string{"node": "lookup", "branch": "success"}, 1},
			{"chatflow_node_left_total", map[string]string{"node": "lookup", "branch": "error"}, 1},
			{"chatflow_node_left_total", map[string]string{"node": "route", "branch": "shipped"}, 1},
			{"chatflow_node_left_total", map[string]string{"node": "route", "branch": "default"}, 0},
			{"chatflow_node_errors_total", map[string]string{"node": "lookup", "reason": "http_error"}, 1},
			{"chatflow_node_errors_total", map[string]string{"node": "lookup", "reason": "timeout"}, 0},
			{"chatflow_node_errors_total", map[string]string{"node": "ask", "reason": "send_refused"}, 0},
			{"chatflow_node_waiting", map[string]string{"node": "lookup"}, 0},
			{"chatflow_sends_total", map[string]string{"kind": "text", "result": "ok"}, 7},
			{"chatflow_turn_latency_seconds", map[string]string{"trigger": "message"}, 7},
			{"chatflow_turns_total", nil, 7},
		} {
			if got := value(f, c.name, c.labels); got != c.want {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
			}
		}
	})

	t.Run("trace", func(t *testing.T) {
		var spans []procs.Span
		o.eventually("the spans of Ann's traced turn", 10*time.Second, func() error {
			spans = o.otlp.Trace(traceID)
			if len(spans) < 9 {
				return fmt.Errorf("%d spans so far", len(spans))
			}
			return nil
		})
		byName := map[string]*tracepb.Span{}
		for _, s := range spans {
			if byName[s.Name] != nil {
				t.Errorf("two spans named %q", s.Name)
			}
			byName[s.Name] = s.Span
		}
		// The tree: gateway → webhook → turn → nodes → send / HTTP call.
		tree := []struct{ name, parent string }{
			{"POST /webhooks/whatsapp", ""},
			{"turn message", "POST /webhooks/whatsapp"},
			{"node wait", "turn message"},
			{"node lookup", "turn message"},
			{"GET", "node lookup"},
			{"node route", "turn message"},
			{"node shipped", "turn message"},
			{"send WhatsApp", "node shipped"},
			{"node confirm", "turn message"},
		}
		for _, n := range tree {
			s := byName[n.name]
			if s == nil {
				t.Errorf("no span %q in the trace: %v", n.name, spanNames(spans))
				continue
			}
			want := gatewaySpan
			if n.parent != "" && byName[n.parent] != nil {
				want = byName[n.parent].SpanId
			}
			if !bytes.Equal(s.ParentSpanId, want) {
				t.Errorf("%q's parent is %x, want %s (%x)", n.name, s.ParentSpanId, orGateway(n.parent), want)
			}
		}
		if len(spans) != len(tree) {
			t.Errorf("the trace has %d spans, want %d: %v", len(spans), len(tree), spanNames(spans))
		}
		kinds := map[string]tracepb.Span_SpanKind{"POST /webhooks/whatsapp": tracepb.Span_SPAN_KIND_SERVER, "turn message": tracepb.Span_SPAN_KIND_CONSUMER,
			"GET": tracepb.Span_SPAN_KIND_CLIENT, "send WhatsApp": tracepb.Span_SPAN_KIND_CLIENT, "node route": tracepb.Span_SPAN_KIND_INTERNAL}
		for name, k := range kinds {
			if s := byName[name]; s != nil && s.Kind != k {
				t.Errorf("%q is a %v span, want %v", name, s.Kind, k)
			}
		}
		attrs := func(name string) map[string]string {
			if s := byName[name]; s != nil {
				return procs.Span{Span: s}.Attrs()
			}
			return nil
		}
		for name, want := range map[string]map[string]string{
			"node wait":     {"chatflow.node.branch": "replied", "chatflow.node.resumed": "true", "chatflow.node.outcome": "left"},
			"node route":    {"chatflow.node.branch": "shipped", "chatflow.node.type": "Condition"},
			"node confirm":  {"chatflow.node.outcome": "waiting"},
			"GET":           {"http.response.status_code": "200", "server.address": "127.0.0.1", "http.request.method": "GET"},
			"send WhatsApp": {"chatflow.send.result": "ok", "chatflow.message.kind": "text"},
			"turn message":  {"chatflow.flow": "orders", "chatflow.namespace": "shop", "chatflow.status": "WaitingReply", "chatflow.trigger": "message"},
		} {
			got := attrs(name)
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%q: %s = %q, want %q", name, k, got[k], v)
				}
			}
		}
		// The target got the HTTP call span's context.
		call := byName["GET"]
		if call != nil {
			want := fmt.Sprintf("00-%x-%x-01", traceID, call.SpanId)
			o.target.mu.Lock()
			got := slices.Clone(o.target.traceparent)
			o.target.mu.Unlock()
			if !slices.Contains(got, want) {
				t.Errorf("the target received traceparent %q, want %q among them", got, want)
			}
		}
		// Cat's failed lookup is an error span, in a trace of its own.
		var failed int
		for _, s := range o.otlp.Spans() {
			if s.Name == "node lookup" && s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR {
				failed++
				if bytes.Equal(s.TraceId, traceID) {
					t.Error("Cat's turn joined Ann's trace")
				}
			}
		}
		if failed != 1 {
			t.Errorf("%d failed lookup spans, want 1", failed)
		}
		// No contact id in clear, in any attribute of any span.
		for _, s := range o.otlp.Spans() {
			for _, kv := range append(slices.Clone(s.Attributes), eventAttrs(s.Span)...) {
				v := kv.GetValue().GetStringValue()
				for _, c := range []string{ann, bob, cat, dan, eve} {
					if strings.Contains(v, c) {
						t.Errorf("span %q: attribute %s = %q holds contact %s in clear", s.Name, kv.Key, v, c)
					}
				}
			}
		}
		if res := o.otlp.Resources(); len(res) == 0 || !slices.Contains(res[0], "service.name=orders-executor") || !slices.Contains(res[0], "k8s.namespace.name=shop") {
			t.Errorf("resource attributes: %v", res)
		}
	})

	t.Run("inspector", func(t *testing.T) {
		var v executor.ContactView
		if code := o.get("/v1/contacts/"+ann, "", "", nil); code != http.StatusUnauthorized {
			t.Errorf("without the token: %d, want 401", code)
		}
		if code := o.get("/v1/contacts/"+ann, "bearer", "wrong", nil); code != http.StatusUnauthorized {
			t.Errorf("with a wrong token: %d, want 401", code)
		}
		if code := o.get("/v1/contacts/15550209999", "bearer", credentials["runToken"], nil); code != http.StatusNotFound {
			t.Errorf("a contact without a session: %d, want 404", code)
		}
		if code := o.get("/v1/contacts/"+ann, "bearer", credentials["runToken"], &v); code != http.StatusOK {
			t.Fatalf("Ann's session: %d", code)
		}
		if v.Status != "WaitingReply" || v.Node == nil || v.Node.ID != "confirm" || v.Flow != "orders" || v.Namespace != "shop" ||
			v.RunID == "" || v.Revision != v.LiveRevision || !strings.Contains(v.WaitingFor, "reply") {
			t.Errorf("Ann's session: %+v", v)
		}
		if len(v.Timers) != 1 || v.Timers[0].Then != "timeout" || v.Timers[0].At.Before(time.Now().Add(50*time.Minute)) {
			t.Errorf("Ann's timers: %+v", v.Timers)
		}
		if v.Variables["pin"] != "[redacted]" || v.Variables["order"] != "10452" || v.Variables["greeting"] != "hello" ||
			!slices.Equal(v.Redacted, []string{"pin"}) {
			t.Errorf("Ann's variables: %v (redacted %v)", v.Variables, v.Redacted)
		}
		if v.LastMessage == nil || v.LastMessage.Text != "[redacted]" {
			t.Errorf("the last message of a flow whose replies are sensitive: %+v", v.LastMessage)
		}
		var path []string
		for _, e := range v.Events {
			if e.RunID != v.RunID {
				t.Errorf("an event of another run: %+v", e)
			}
			if e.Event == "node_left" {
				path = append(path, e.NodeID+":"+e.Branch)
			}
		}
		if want := []string{"start:next", "ask:next", "wait:replied", "lookup:success", "route:shipped", "shipped:next"}; !slices.Equal(path, want) {
			t.Errorf("Ann's path: %v, want %v", path, want)
		}

		// Ann answers with her code: a sensitive saveAs.
		o.say(ann, "wamid.a3", "7731", "")
		o.eventually("Ann's run to end", 10*time.Second, func() error {
			v = executor.ContactView{}
			o.get("/v1/contacts/"+ann, "proxy", credentials["runToken"], &v)
			if v.Status != "Ended" {
				return fmt.Errorf("status %q", v.Status)
			}
			return nil
		})
		if v.Variables["code"] != "[redacted]" || !slices.Equal(v.Redacted, []string{"code", "pin"}) || len(v.Timers) != 0 {
			t.Errorf("Ann's ended session: variables %v, redacted %v, timers %v", v.Variables, v.Redacted, v.Timers)
		}
		raw := ""
		req, _ := http.NewRequest(http.MethodGet, o.e.URL+"/v1/contacts/"+ann, nil)
		req.Header.Set(executor.RunTokenHeader, credentials["runToken"])
		if resp, err := o.client.Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			raw = string(b)
		}
		if strings.Contains(raw, "7731") || strings.Contains(raw, "4711") {
			t.Errorf("a sensitive value in the inspector's answer: %s", raw)
		}

		// Who waits at wait: Bob, Dan and Eve, by pages of 2.
		if code := o.get("/v1/nodes/nope/contacts", "bearer", credentials["runToken"], nil); code != http.StatusNotFound {
			t.Errorf("a node the flow lacks: %d, want 404", code)
		}
		if code := o.get("/v1/nodes/wait/contacts", "", "", nil); code != http.StatusUnauthorized {
			t.Errorf("the node listing without the token: %d, want 401", code)
		}
		if code := o.get("/v1/nodes/wait/contacts?limit=0", "bearer", credentials["runToken"], nil); code != http.StatusBadRequest {
			t.Errorf("limit=0: %d, want 400", code)
		}
		if store != "memory" { // the memory store's cursor is a contact id: any string is one
			if code := o.get("/v1/nodes/wait/contacts?cursor=nope", "bearer", credentials["runToken"], nil); code != http.StatusBadRequest {
				t.Errorf("a cursor Redis never handed out: %d, want 400", code)
			}
		}
		seen := map[string]bool{}
		cursor := ""
		for page := 0; ; page++ {
			var p executor.WaitingPage
			if code := o.get("/v1/nodes/wait/contacts?limit=2&cursor="+cursor, "proxy", credentials["runToken"], &p); code != http.StatusOK || page > 5 {
				t.Fatalf("page %d: %d", page, code)
			}
			for _, c := range p.Contacts {
				if c.Status != "WaitingReply" || c.Since.IsZero() || c.Deadline.IsZero() {
					t.Errorf("%+v", c)
				}
				seen[c.Contact] = true
			}
			if cursor = p.Next; cursor == "" {
				break
			}
		}
		if len(seen) != 3 || !seen[bob] || !seen[dan] || !seen[eve] {
			t.Errorf("waiting at wait: %v, want Bob, Dan and Eve", seen)
		}
		var p executor.WaitingPage
		o.get("/v1/nodes/confirm/contacts", "bearer", credentials["runToken"], &p)
		if len(p.Contacts) != 0 {
			t.Errorf("waiting at confirm after Ann answered: %+v", p.Contacts)
		}
		var nodes executor.NodesView
		if code := o.get("/v1/nodes", "bearer", credentials["runToken"], &nodes); code != http.StatusOK || len(nodes.Nodes) != 10 {
			t.Fatalf("GET /v1/nodes: %d %+v", code, nodes)
		}
		for _, n := range nodes.Nodes {
			if want := map[string]int64{"wait": 3}[n.ID]; n.Waiting != want {
				t.Errorf("GET /v1/nodes: %d waiting at %s, want %d", n.Waiting, n.ID, want)
			}
		}

		// Erasing Bob takes what the inspector kept of him too.
		req, _ = http.NewRequest(http.MethodDelete, o.e.URL+"/v1/contacts/"+bob, nil)
		req.Header.Set("Authorization", "Bearer "+credentials["runToken"])
		if resp, err := o.client.Do(req); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("erasing Bob: %v %v", resp, err)
		} else {
			resp.Body.Close()
		}
		if code := o.get("/v1/contacts/"+bob, "bearer", credentials["runToken"], nil); code != http.StatusNotFound {
			t.Errorf("Bob's session after his erasure: %d, want 404 (no session, no events)", code)
		}
		o.get("/v1/nodes", "bearer", credentials["runToken"], &nodes)
		for _, n := range nodes.Nodes {
			if n.ID == "wait" && n.Waiting != 2 {
				t.Errorf("the node index after Bob's erasure: %d at wait, want 2", n.Waiting)
			}
		}
	})
}

func spanNames(spans []procs.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

func orGateway(parent string) string {
	if parent == "" {
		return "the gateway's span"
	}
	return parent
}

func eventAttrs(s *tracepb.Span) []*commonpb.KeyValue {
	var out []*commonpb.KeyValue
	for _, e := range s.Events {
		out = append(out, e.Attributes...)
	}
	return out
}
