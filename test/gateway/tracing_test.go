package gateway_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/internal/sandbox"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/test/procs"
)

// One trace from the gateway to the reply: a batch for two numbers comes
// with an ingress's traceparent; the gateway's span is its child, each
// forward a client span of the gateway's, and each executor's request
// span the child of its forward, down to the turn and its send.
func TestTracesCrossTheGateway(t *testing.T) {
	recv := procs.StartOTLPReceiver(t)
	env := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + recv.URL, "OTEL_BSP_SCHEDULE_DELAY=50"}
	sb := httptest.NewServer(sandbox.New(sandbox.Options{}))
	t.Cleanup(sb.Close)
	flows := []flow{{name: "orders", channel: "WhatsApp", account: "111"}, {name: "support", channel: "WhatsApp", account: "222"}}
	execs := map[string]string{}
	var manifests []string
	for _, f := range flows {
		e := procs.StartExecutor(t, procs.ExecutorSpec{Flow: echoFlow(f.name, f.channel), Binding: f.bindingYAML(sb.URL),
			Credentials: f.credentials(), Env: env})
		execs[ns+"/"+f.name+"-executor"] = e.URL
		manifests = append(manifests, f.secretYAML(), f.bindingYAML(sb.URL))
	}
	g := procs.StartGateway(t, procs.GatewaySpec{Manifests: strings.Join(manifests, "---\n"), Executors: execs, Env: env})

	body, err := procs.WhatsAppWebhook("111",
		procs.WhatsAppMessage{From: "15550001", Name: "Ann", ID: "wamid.t1", Text: "hi"},
		procs.WhatsAppMessage{From: "15550002", Name: "Bob", ID: "wamid.t2", Text: "hello", PhoneNumberID: "222"})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/webhooks/whatsapp", bytes.NewReader(body))
	req.Header.Set(meta.SignatureHeader, meta.Sign(body, appSecret))
	req.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the batch: %v %v\n%s", resp, err, g.Log())
	}
	resp.Body.Close()

	traceID, _ := hex.DecodeString("0af7651916cd43dd8448eb211c80319c")
	ingress, _ := hex.DecodeString("b7ad6b7169203331")
	var spans []procs.Span
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		spans = recv.Trace(traceID)
		// Two processes export their spans in batches of their own, and
		// a span may reach the receiver after its children: wait for
		// every span the checks below look at.
		want := map[string]int{"chatflow-gateway/POST /webhooks/whatsapp": 1, "chatflow-gateway/POST": 2,
			"chatflow-executor/POST /webhooks/whatsapp": 2, "chatflow-executor/send WhatsApp": 2, "chatflow-executor/turn message": 2}
		for _, name := range names(spans) {
			want[name]--
		}
		complete := true
		for _, n := range want {
			complete = complete && n <= 0
		}
		if complete {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the trace holds %d spans, not both sends and turns yet: %v\n%s", len(spans), names(spans), g.Log())
		}
	}
	byID := map[string]procs.Span{}
	for _, s := range spans {
		byID[string(s.SpanId)] = s
	}
	parent := func(s procs.Span) procs.Span { return byID[string(s.ParentSpanId)] }
	var server procs.Span
	var forwards, executors, turns int
	for _, s := range spans {
		switch {
		case s.Service == "chatflow-gateway" && s.Name == "POST /webhooks/whatsapp":
			server = s
			if !bytes.Equal(s.ParentSpanId, ingress) {
				t.Errorf("the gateway's span has parent %x, want the ingress's %x", s.ParentSpanId, ingress)
			}
		case s.Service == "chatflow-gateway" && s.Name == "POST":
			forwards++
		case s.Service == "chatflow-executor" && s.Name == "POST /webhooks/whatsapp":
			executors++
			if p := parent(s); p.Service != "chatflow-gateway" || p.Name != "POST" {
				t.Errorf("an executor's request span has parent %q of %q, want the gateway's forward", p.Name, p.Service)
			}
		case s.Name == "turn message":
			turns++
			if p := parent(s); p.Name != "POST /webhooks/whatsapp" || p.Service != "chatflow-executor" {
				t.Errorf("a turn's parent is %q of %q, want its executor's request span", p.Name, p.Service)
			}
		}
	}
	if server.Span == nil || forwards != 2 || executors != 2 || turns != 2 {
		t.Fatalf("gateway span %v, %d forwards, %d executor requests, %d turns; want 1, 2, 2, 2: %v", server.Span != nil, forwards, executors, turns, names(spans))
	}
	for _, s := range spans {
		if s.Service == "chatflow-gateway" && s.Name == "POST" && !bytes.Equal(s.ParentSpanId, server.SpanId) {
			t.Errorf("a forward's parent is %x, want the gateway's request span %x", s.ParentSpanId, server.SpanId)
		}
		for k, v := range s.Attrs() {
			if strings.Contains(v, "15550001") || strings.Contains(v, "15550002") {
				t.Errorf("%s: %s = %q holds a contact id in clear", s.Name, k, v)
			}
		}
	}
}

func names(spans []procs.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, fmt.Sprintf("%s/%s", s.Service, s.Name))
	}
	return out
}
