// Package executor_test drives the chatflow executor as a real process
// through its HTTP port, with a real redis-server and the channel sandbox
// standing in for the WhatsApp send API.
package executor_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/internal/sandbox"
	"github.com/chatflow-dev/chatflow/runtime/store/redistest"
	"github.com/chatflow-dev/chatflow/test/procs"
)

const (
	phoneID   = "106540352242922"
	appSecret = "test-app-secret"
)

var credentials = map[string]string{
	"accessToken": "test-access-token",
	"appSecret":   appSecret,
	"verifyToken": "test-verify-token",
	"runToken":    "test-run-token",
}

// echoFlow answers every message with "you said <text>".
const echoFlow = `
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: echo, namespace: test}
spec:
  trigger: {type: WhatsApp}
  nodes:
  - {id: start, type: Start, next: reply}
  - {id: reply, type: SendMessage, sendMessage: {text: "you said {{ message.text }}"}, next: wait}
  - {id: wait, type: WaitForReply, waitForReply: {timeout: 1h}, next: loop}
  - {id: loop, type: Jump, jump: {target: reply, maxJumps: 100}, next: end}
  - {id: end, type: End}
`

// timeoutFlow greets, waits one second, and says so when nothing came.
const timeoutFlow = `
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: timeouts, namespace: test}
spec:
  trigger: {type: WhatsApp}
  nodes:
  - {id: start, type: Start, next: hello}
  - {id: hello, type: SendMessage, sendMessage: {text: "hello"}, next: wait}
  - {id: wait, type: WaitForReply, waitForReply: {timeout: 1s}, next: end, onTimeout: late}
  - {id: late, type: SendMessage, sendMessage: {text: "timed out"}, next: end}
  - {id: end, type: End}
`

func binding(apiBaseURL string) string {
	return fmt.Sprintf(`
apiVersion: chatflow.dev/v1alpha1
kind: ChannelBinding
metadata: {name: shop, namespace: test}
spec:
  flowRef: {name: any}
  channel: WhatsApp
  account: {name: Shop, id: %q}
  credentialsRef: {name: shop}
  apiBaseURL: %s
`, phoneID, apiBaseURL)
}

// startSandbox serves the channel sandbox in-process.
func startSandbox(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(sandbox.New(sandbox.Options{Tokens: map[string]string{phoneID: credentials["accessToken"]}}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type rig struct {
	t       *testing.T
	sandbox string
	client  *http.Client
}

func newRig(t *testing.T) *rig {
	return &rig{t: t, sandbox: startSandbox(t), client: &http.Client{Timeout: 10 * time.Second}}
}

func (r *rig) executor(flow, store string, args ...string) *procs.Executor {
	return procs.StartExecutor(r.t, procs.ExecutorSpec{
		Flow: flow, Binding: binding(r.sandbox), Credentials: credentials, Store: store, Args: args,
	})
}

// send posts one signed text message and expects 200.
func (r *rig) send(e *procs.Executor, from, id, text string) {
	r.t.Helper()
	body, err := procs.WhatsAppWebhook(phoneID, procs.WhatsAppMessage{From: from, Name: "Kerry", ID: id, Text: text})
	if err != nil {
		r.t.Fatal(err)
	}
	code, err := procs.PostWebhook(context.Background(), r.client, e.URL, "/webhooks/whatsapp", body, appSecret)
	if err != nil || code != http.StatusOK {
		r.t.Fatalf("webhook: status %d, error %v\n%s", code, err, e.Log())
	}
}

// waitTexts waits until the sandbox holds n messages for a contact and
// returns their texts.
func (r *rig) waitTexts(to string, n int, within time.Duration) []string {
	r.t.Helper()
	deadline := time.Now().Add(within)
	var got []procs.SandboxMessage
	for {
		var err error
		got, err = procs.SandboxMessages(context.Background(), r.sandbox, to, 0, 0)
		if err != nil {
			r.t.Fatal(err)
		}
		if len(got) >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return procs.Texts(got)
}

func redisURL(t *testing.T) (string, *redistest.Server) {
	url, srv := redistest.Start(t)
	return url, srv
}

func stores(t *testing.T) map[string]func() string {
	return map[string]func() string{
		"memory": func() string { return "memory" },
		"redis":  func() string { u, _ := redisURL(t); return u },
	}
}

func TestOrderStatusConversation(t *testing.T) {
	orders := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Authorization") != "Bearer sandbox-orders-token" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		if !strings.HasSuffix(req.URL.Path, "/v1/orders/10452") {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status": "shipped", "eta": "Friday"}`))
	}))
	defer orders.Close()
	sample, err := os.ReadFile(filepath.Join(procs.RepoRoot(), "config", "samples", "order-status.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	flow := strings.ReplaceAll(string(sample), "https://orders.example.com", orders.URL)

	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			r := newRig(t)
			secrets := t.TempDir()
			if err := os.MkdirAll(filepath.Join(secrets, "orders-api"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(secrets, "orders-api", "token"), []byte("Bearer sandbox-orders-token"), 0o600); err != nil {
				t.Fatal(err)
			}
			e := r.executor(flow, store(), "--allow-private-networks", "127.0.0.0/8", "--secrets", secrets)
			contact := "15550009999"
			r.send(e, contact, "wamid.1", "hi")
			want := []string{"Hi Kerry! What is your order number?"}
			if got := r.waitTexts(contact, 1, 10*time.Second); !equal(got, want) {
				t.Fatalf("after hi: got %q, want %q\n%s", got, want, e.Log())
			}
			r.send(e, contact, "wamid.2", "abc")
			want = append(want, "Order numbers are 4 to 10 digits, like 10452. Please try again.")
			if got := r.waitTexts(contact, 2, 10*time.Second); !equal(got, want) {
				t.Fatalf("after abc: got %q, want %q\n%s", got, want, e.Log())
			}
			r.send(e, contact, "wamid.3", " 10452 ")
			want = append(want, "Good news: order 10452 has shipped and should arrive by Friday.")
			if got := r.waitTexts(contact, 3, 10*time.Second); !equal(got, want) {
				t.Fatalf("after the order number: got %q, want %q\n%s", got, want, e.Log())
			}
			if !strings.Contains(e.Log(), `"event":"run_ended"`) {
				t.Errorf("the event log has no run_ended line:\n%s", e.Log())
			}
			if strings.Contains(e.Log(), contact) || strings.Contains(e.Log(), "sandbox-orders-token") {
				t.Errorf("the event log leaks the contact id or a secret:\n%s", e.Log())
			}
		})
	}
}

func TestDuplicateDeliveryIsProcessedOnce(t *testing.T) {
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			r := newRig(t)
			e := r.executor(echoFlow, store())
			// The same message twice inside one POST, and that POST twice at once.
			body, err := procs.WhatsAppWebhook(phoneID,
				procs.WhatsAppMessage{From: "111", Name: "A", ID: "wamid.dup", Text: "once"},
				procs.WhatsAppMessage{From: "111", Name: "A", ID: "wamid.dup", Text: "once"})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					code, err := procs.PostWebhook(context.Background(), r.client, e.URL, "/webhooks/whatsapp", body, appSecret)
					if err != nil || code != http.StatusOK {
						t.Errorf("webhook: %d %v", code, err)
					}
				}()
			}
			wg.Wait()
			r.send(e, "111", "wamid.next", "twice?")
			got := r.waitTexts("111", 2, 10*time.Second)
			time.Sleep(300 * time.Millisecond) // give a wrongly doubled reply time to show up
			got = r.waitTexts("111", 2, 0)
			if want := []string{"you said once", "you said twice?"}; !equal(got, want) {
				t.Fatalf("got %q, want %q\n%s", got, want, e.Log())
			}
		})
	}
}

func TestBadRequestsAreRejectedAndNothingIsProcessed(t *testing.T) {
	r := newRig(t)
	e := r.executor(echoFlow, "memory")
	body, err := procs.WhatsAppWebhook(phoneID, procs.WhatsAppMessage{From: "222", Name: "B", ID: "wamid.bad", Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cases := []struct {
		name   string
		body   []byte
		secret string
		want   int
	}{
		{"missing signature", body, "", http.StatusUnauthorized},
		{"wrong signature", body, "another-secret", http.StatusUnauthorized},
		// Meta's batches reach a few MiB: up to 4 MiB is read (here it
		// then does not parse), beyond is refused unread.
		{"a 3 MiB body", append(append([]byte(nil), body...), make([]byte, 3<<20)...), appSecret, http.StatusBadRequest},
		{"oversized body", append(append([]byte(nil), body...), make([]byte, 4<<20)...), appSecret, http.StatusRequestEntityTooLarge},
		{"malformed JSON", []byte(`{"object": "whatsapp_business_account", "entry": [`), appSecret, http.StatusBadRequest},
	}
	for _, c := range cases {
		code, err := procs.PostWebhook(ctx, r.client, e.URL, "/webhooks/whatsapp", c.body, c.secret)
		if err != nil || code != c.want {
			t.Errorf("%s: got %d (%v), want %d", c.name, code, err, c.want)
		}
	}
	// A body signed with a tampered byte is refused too.
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)/2] ^= 1
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/webhooks/whatsapp", strings.NewReader(string(tampered)))
	req.Header.Set("X-Hub-Signature-256", signature(body))
	resp, err := r.client.Do(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("tampered body: %v %v", resp, err)
	}
	time.Sleep(300 * time.Millisecond)
	if got := r.waitTexts("", 0, 0); len(got) != 0 {
		t.Fatalf("a rejected webhook was processed: %q", got)
	}
	// The verify handshake: right token echoes the challenge, wrong is 403.
	for token, want := range map[string]int{"test-verify-token": 200, "wrong": 403} {
		resp, err := r.client.Get(e.URL + "/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=" + token)
		if err != nil || resp.StatusCode != want {
			t.Errorf("handshake with %q: %v %v, want %d", token, resp, err, want)
		}
	}
}

// TestMetaSizedBatchIsAccepted: Meta's batches reach about 3 MB; such a
// body is read, verified and processed, not refused as too large.
func TestMetaSizedBatchIsAccepted(t *testing.T) {
	r := newRig(t)
	e := r.executor(echoFlow, "memory")
	body, err := procs.WhatsAppWebhook(phoneID, procs.WhatsAppMessage{From: "333", Name: "C", ID: "wamid.big", Text: "big"})
	if err != nil {
		t.Fatal(err)
	}
	// JSON allows whitespace after the value: 3 MB of it, signed with the rest.
	body = append(body, []byte(strings.Repeat(" ", 3<<20))...)
	code, err := procs.PostWebhook(context.Background(), r.client, e.URL, "/webhooks/whatsapp", body, appSecret)
	if err != nil || code != http.StatusOK {
		t.Fatalf("a 3 MB batch: %d, %v; want 200", code, err)
	}
	if got := r.waitTexts("333", 1, 10*time.Second); !equal(got, []string{"you said big"}) {
		t.Fatalf("got %q\n%s", got, e.Log())
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
