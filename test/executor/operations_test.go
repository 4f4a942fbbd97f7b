package executor_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/test/procs"
)

func TestManualRunSendsTheTemplate(t *testing.T) {
	sample, err := os.ReadFile(filepath.Join(procs.RepoRoot(), "config", "samples", "appointment-reminder.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t)
	e := r.executor(string(sample), "memory")
	post := func(token, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, e.URL+"/v1/runs", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := r.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	run := `{"contact": {"id": "15550003333", "name": "Ana"}, "idempotencyKey": "appt-42",
	  "variables": {"patientName": "Ana", "appointmentTime": "Tue 14 May, 10:30", "undeclared": "dropped"}}`
	if code, _ := post("", run); code != http.StatusUnauthorized {
		t.Fatalf("a run without the token got %d, want 401", code)
	}
	if code, _ := post("wrong", run); code != http.StatusUnauthorized {
		t.Fatalf("a run with a wrong token got %d, want 401", code)
	}
	if code, body := post("test-run-token", `{"contact": {"id": "1"}, "variables": {}}`); code != http.StatusBadRequest ||
		!strings.Contains(body, "patientName") {
		t.Fatalf("a run missing required inputs got %d %q, want 400 naming them", code, body)
	}
	code, body := post("test-run-token", run)
	if code != http.StatusAccepted {
		t.Fatalf("run: %d %s", code, body)
	}
	if code, body := post("test-run-token", run); code != http.StatusAccepted || !strings.Contains(body, `"duplicate":true`) {
		t.Fatalf("the same idempotency key again: %d %s, want 202 duplicate", code, body)
	}
	msgs := r.waitMessages("15550003333", 1, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	msgs = r.waitMessages("15550003333", 1, 0)
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want exactly 1 template (the idempotency key must dedupe)", len(msgs))
	}
	var sent struct {
		Type     string `json:"type"`
		Template struct {
			Name       string `json:"name"`
			Components []struct {
				Type       string `json:"type"`
				Parameters []struct {
					Text string `json:"text"`
				} `json:"parameters"`
			} `json:"components"`
		} `json:"template"`
	}
	if err := json.Unmarshal(msgs[0].Body, &sent); err != nil {
		t.Fatal(err)
	}
	if sent.Type != "template" || sent.Template.Name != "appointment_reminder" ||
		sent.Template.Components[0].Parameters[0].Text != "Ana" ||
		sent.Template.Components[0].Parameters[1].Text != "Tue 14 May, 10:30" {
		t.Fatalf("unexpected template message: %s", msgs[0].Body)
	}
}

func (r *rig) waitMessages(to string, n int, within time.Duration) []procs.SandboxMessage {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, err := procs.SandboxMessages(context.Background(), r.sandbox, to, 0, 0)
		if err != nil {
			r.t.Fatal(err)
		}
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMetricsProbesAndRotatedCredentials(t *testing.T) {
	r := newRig(t)
	e := r.executor(echoFlow, "memory")
	r.send(e, "666", "wamid.m1", "count me")
	r.waitTexts("666", 1, 10*time.Second)
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		resp, err := r.client.Get(e.URL + path)
		if err != nil || resp.StatusCode != want {
			t.Errorf("%s: %v %v", path, resp, err)
		}
	}
	resp, err := r.client.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`chatflow_webhooks_total{channel="whatsapp",flow="echo",namespace="test",result="accepted"} 1`,
		`chatflow_sends_total{flow="echo",kind="text",namespace="test",result="ok"} 1`,
		"chatflow_turns_total", "chatflow_store_latency_seconds_bucket", "chatflow_queue_depth",
		"chatflow_node_errors_total", "chatflow_retries_total",
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// Rotate the app secret the way a Secret volume does: the old signature
	// stops working and the new one works, without a restart.
	if err := os.WriteFile(filepath.Join(e.Dir, "credentials", "appSecret"), []byte("rotated-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	body, _ := procs.WhatsAppWebhook(phoneID, procs.WhatsAppMessage{From: "666", Name: "R", ID: "wamid.m2", Text: "rotated"})
	deadline := time.Now().Add(10 * time.Second)
	code := 0
	for time.Now().Before(deadline) {
		code, _ = procs.PostWebhook(context.Background(), r.client, e.URL, "/webhooks/whatsapp", body, "rotated-secret")
		if code == http.StatusOK {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code != http.StatusOK {
		t.Fatalf("the rotated app secret was not picked up: %d", code)
	}
	if code, _ := procs.PostWebhook(context.Background(), r.client, e.URL, "/webhooks/whatsapp", body, appSecret); code != http.StatusUnauthorized {
		t.Fatalf("the old app secret still works after rotation: %d", code)
	}
	if got := r.waitTexts("666", 2, 10*time.Second); !equal(got, []string{"you said count me", "you said rotated"}) {
		t.Fatalf("got %q", got)
	}
}

func TestGracefulShutdownFinishesAcknowledgedWork(t *testing.T) {
	url, _ := redisURL(t)
	r := newRig(t)
	e := r.executor(echoFlow, url)
	for i := range 20 {
		body, _ := procs.WhatsAppWebhook(phoneID, procs.WhatsAppMessage{
			From: "777", Name: "S", ID: "wamid.s" + string(rune('a'+i)), Text: string(rune('a' + i))})
		if code, err := procs.PostWebhook(context.Background(), r.client, e.URL, "/webhooks/whatsapp", body, appSecret); err != nil || code != 200 {
			t.Fatalf("webhook %d: %d %v", i, code, err)
		}
	}
	if err := e.Stop(); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, e.Log())
	}
	if !strings.Contains(e.Log(), `"msg":"stopped"`) {
		t.Fatalf("the executor did not shut down gracefully:\n%s", e.Log())
	}
	// Whatever the stopped replica had not finished, a new one finishes:
	// every acknowledged message gets its reply.
	e2 := r.executor(echoFlow, url)
	got := r.waitTexts("777", 20, 20*time.Second)
	if len(got) != 20 {
		t.Fatalf("after a graceful stop and a restart, %d of 20 replies arrived\n%s", len(got), e2.Log())
	}
}

// TestShutdownDelayServesWhileNotReady: with --shutdown-delay, a SIGTERMed
// executor fails /readyz at once but keeps accepting webhooks until the
// delay has passed (a Service still routes new connections to it for a
// moment), and the work it accepted then is answered.
func TestShutdownDelayServesWhileNotReady(t *testing.T) {
	url, _ := redisURL(t)
	r := newRig(t)
	e := r.executor(echoFlow, url, "--shutdown-delay", "3s")
	stopped := make(chan error, 1)
	go func() { stopped <- e.Stop() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := r.client.Get(e.URL + "/readyz")
		if err != nil {
			t.Fatalf("/readyz refused the connection right after SIGTERM: %v\n%s", err, e.Log())
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d after SIGTERM", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.send(e, "888", "wamid.delay", "during the delay")
	if err := <-stopped; err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, e.Log())
	}
	r.executor(echoFlow, url)
	if got := r.waitTexts("888", 1, 20*time.Second); !equal(got, []string{"you said during the delay"}) {
		t.Fatalf("the webhook accepted during the delay: replies %q", got)
	}
}
