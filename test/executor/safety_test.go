package executor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/store"
	"github.com/chatflow-dev/chatflow/test/procs"
)

// chatflowCLI runs the chatflow binary and returns its output.
func chatflowCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin, err := procs.Binary()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

// itemKey is the flow's key in the tests that play someone with and
// without it.
const itemKey = "0123456789abcdef0123456789abcdef"

// Something that reaches Redis without the flow's key can write to the
// flow's keys, but what it queues is refused before it is decoded: no
// send, a dead letter with the reason, counted and logged. An item the
// flow's key sealed but that does not decode is a dead letter too. The
// dead letters are listed and retried with `chatflow deadletters`, and a
// forged one cannot be retried; `chatflow contacts erase` removes a
// contact's. Contact ids reach the process log only hashed.
func TestForgedItemsAreRefusedAndDeadLettersManaged(t *testing.T) {
	r := newRig(t)
	url, _ := redisURL(t)
	e := procs.StartExecutor(t, procs.ExecutorSpec{Flow: echoFlow, Binding: binding(r.sandbox), Credentials: credentials,
		Store: url, Keys: map[string]string{"itemKey": itemKey, "contactHashKey": "the installation's key"}})
	ctx := context.Background()
	open := func(key string) store.Store {
		s, err := store.NewRedis(ctx, url, store.Options{Namespace: "test/echo", ItemKey: []byte(key)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	// A pod that reaches Redis, guessing at the key.
	intruder := open("a guess at the flow's key......")
	spam := `{"event":{"kind":"inbound","inbound":{"id":"x","contact":{"id":"15550009999","channel":"WhatsApp"},"kind":"text","text":"spam"}}}`
	if _, err := intruder.Enqueue(ctx, "15550009999", store.Item{ID: "in:forged", Payload: []byte(spam)}); err != nil {
		t.Fatal(err)
	}
	// The flow's own key, but no queued event.
	insider := open(itemKey)
	if _, err := insider.Enqueue(ctx, "15550008888", store.Item{ID: "in:garbage", Payload: []byte("not an event")}); err != nil {
		t.Fatal(err)
	}
	for series, want := range map[string]float64{
		`chatflow_forged_total{what="item"}`:                1,
		`chatflow_dead_letters_total{reason="forged"}`:      1,
		`chatflow_dead_letters_total{reason="undecodable"}`: 1,
	} {
		if !r.metricReaches(e, series, want) {
			t.Fatalf("%s did not reach %v\n%s", series, want, e.Log())
		}
	}
	if got := r.waitTexts("15550009999", 0, 0); len(got) != 0 {
		t.Errorf("the forged item made the flow send %q", got)
	}
	if log := e.Log(); !strings.Contains(log, "inbox item kept as a dead letter") || strings.Contains(log, "15550009999") || strings.Contains(log, "15550008888") {
		t.Errorf("the log should tell of the dead letters, with contact ids hashed:\n%s", log)
	}
	// The replica goes on: the contact's real messages are answered.
	r.send(e, "15550009999", "wamid.real", "hello")
	if got := r.waitTexts("15550009999", 1, 10*time.Second); len(got) != 1 || got[0] != "you said hello" {
		t.Fatalf("after the forged item: %q\n%s", got, e.Log())
	}

	api := []string{"--executor", e.URL, "--run-token", credentials["runToken"]}
	out, err := chatflowCLI(t, append([]string{"deadletters", "echo"}, api...)...)
	if err != nil || !strings.Contains(out, "15550009999") || !strings.Contains(out, "forged: cannot be retried") ||
		!strings.Contains(out, "15550008888") || !strings.Contains(out, "undecodable:") {
		t.Fatalf("chatflow deadletters: %v\n%s", err, out)
	}
	out, err = chatflowCLI(t, append([]string{"deadletters", "echo", "--json"}, api...)...)
	var list struct {
		DeadLetters []struct{ ID, Contact string } `json:"deadLetters"`
	}
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.DeadLetters) != 2 {
		t.Fatalf("chatflow deadletters --json: %v\n%s", err, out)
	}
	ids := map[string]string{}
	for _, d := range list.DeadLetters {
		ids[d.Contact] = d.ID
	}
	out, err = chatflowCLI(t, append([]string{"deadletters", "echo", "--retry", ids["15550009999"]}, api...)...)
	if err == nil || !strings.Contains(out, "409") || !strings.Contains(out, "cannot be retried") {
		t.Errorf("retrying the forged item: %v\n%s", err, out)
	}
	out, err = chatflowCLI(t, append([]string{"deadletters", "echo", "--retry", ids["15550008888"]}, api...)...)
	if err != nil || !strings.Contains(out, "queued again") {
		t.Fatalf("retrying the undecodable item: %v\n%s", err, out)
	}
	// Queued again, processed again: still no event, so a dead letter again.
	if !r.metricReaches(e, `chatflow_dead_letters_total{reason="undecodable"}`, 2) {
		t.Fatalf("the retried item was not processed again\n%s", e.Log())
	}
	out, err = chatflowCLI(t, append([]string{"contacts", "erase", "echo", "15550008888"}, api...)...)
	if err != nil || !strings.Contains(out, "erased contact 15550008888 of flow echo: no session, 0 queued items, 0 timers, 1 dedupe records, 1 dead letters") {
		t.Fatalf("chatflow contacts erase: %v\n%s", err, out)
	}
	out, _ = chatflowCLI(t, append([]string{"deadletters", "echo"}, api...)...)
	if strings.Contains(out, "15550008888") || !strings.Contains(out, "15550009999") {
		t.Errorf("after erasing one contact, the dead letters are:\n%s", out)
	}
	if out, err := chatflowCLI(t, "deadletters", "echo", "--executor", e.URL, "--run-token", "wrong"); err == nil || !strings.Contains(out, "401") {
		t.Errorf("a wrong runToken: %v\n%s", err, out)
	}
}

// DELETE /v1/contacts/{id} erases a contact's session, pending timer and
// dedupe records: the timer never fires, the next message starts a new run,
// and the same message id counts as new.
func TestEraseAContact(t *testing.T) {
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			r := newRig(t)
			e := r.executor(timeoutFlow, store())
			r.send(e, "333", "wamid.1", "hi")
			if got := r.waitTexts("333", 1, 10*time.Second); len(got) != 1 || got[0] != "hello" {
				t.Fatalf("greeting: %q", got)
			}
			// The reply is sent before the turn commits: wait for the
			// session to rest at the wait, as the inspector shows it.
			deadline := time.Now().Add(10 * time.Second)
			for {
				req, _ := http.NewRequest(http.MethodGet, e.URL+"/v1/contacts/333", nil)
				req.Header.Set("Authorization", "Bearer "+credentials["runToken"])
				resp, err := r.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"status":"WaitingReply"`) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the session never rested at the wait: %d %s", resp.StatusCode, body)
				}
				time.Sleep(20 * time.Millisecond)
			}
			erase := func(token string) (int, string) {
				req, _ := http.NewRequest(http.MethodDelete, e.URL+"/v1/contacts/333", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := r.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(body)
			}
			if code, _ := erase("wrong"); code != http.StatusUnauthorized {
				t.Errorf("erase with a wrong token: %d, want 401", code)
			}
			code, body := erase(credentials["runToken"])
			if code != http.StatusOK || !strings.Contains(body, `"session":true`) || !strings.Contains(body, `"timers":1`) ||
				!strings.Contains(body, `"dedupeRecords":1`) {
				t.Fatalf("erase: %d %s", code, body)
			}
			time.Sleep(2500 * time.Millisecond) // the 1s WaitForReply timer would have fired
			if got := r.waitTexts("333", 2, 0); len(got) != 1 {
				t.Errorf("after the erase: %q, want no timeout message", got)
			}
			r.send(e, "333", "wamid.1", "hi again") // the same id: its dedupe record is gone
			if got := r.waitTexts("333", 2, 10*time.Second); len(got) != 2 || got[1] != "hello" {
				t.Errorf("the next message after the erase: %q, want a new run's hello", got)
			}
		})
	}
}

// A contact whose inbox is full (its turn is slow and it keeps writing)
// gets 503 for its next webhook, so the channel retries later; the oldest
// messages are kept and answered in order, and the retried one too.
func TestFullInboxIsRefusedWith503(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.WriteHeader(http.StatusNoContent)
	}))
	defer api.Close()
	defer once.Do(func() { close(release) })
	slowFlow := fmt.Sprintf(`
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: slow, namespace: test}
spec:
  trigger: {type: WhatsApp}
  nodes:
  - {id: start, type: Start, next: call}
  - {id: call, type: HTTPRequest, httpRequest: {url: "%s/slow"}, next: reply}
  - {id: reply, type: SendMessage, sendMessage: {text: "got {{ message.text }}"}, next: wait}
  - {id: wait, type: WaitForReply, waitForReply: {timeout: 1h}, next: call, onTimeout: end}
  - {id: end, type: End}
`, api.URL)
	r := newRig(t)
	e := r.executor(slowFlow, "memory", "--inbox-cap", "2", "--allow-private-networks", "127.0.0.0/8")
	r.send(e, "444", "wamid.1", "one") // its turn waits on the API
	r.send(e, "444", "wamid.2", "two") // the inbox: one (in progress) and two
	// A batch: the full inbox's contact, and another whose enqueue goes at
	// the same time; the batch is refused as a whole and redelivered, and
	// the other contact is answered once either way.
	body, err := procs.WhatsAppWebhook(phoneID, procs.WhatsAppMessage{From: "444", Name: "Kerry", ID: "wamid.3", Text: "three"},
		procs.WhatsAppMessage{From: "555", Name: "Lee", ID: "wamid.5", Text: "five"})
	if err != nil {
		t.Fatal(err)
	}
	code, err := procs.PostWebhook(context.Background(), r.client, e.URL, "/webhooks/whatsapp", body, appSecret)
	if err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("a webhook for a full inbox: %d %v, want 503", code, err)
	}
	for series, want := range map[string]float64{
		`chatflow_webhooks_total{channel="whatsapp",result="inbox_full"}`: 1,
		`chatflow_budget_exceeded_total{budget="inbox"}`:                  1,
	} {
		if !r.metricReaches(e, series, want) {
			t.Errorf("%s did not reach %v", series, want)
		}
	}
	once.Do(func() { close(release) })
	if got := r.waitTexts("444", 2, 10*time.Second); len(got) != 2 || got[0] != "got one" {
		t.Fatalf("the kept messages: %q", got)
	}
	// The channel's retry, once there is room.
	code, err = procs.PostWebhook(context.Background(), r.client, e.URL, "/webhooks/whatsapp", body, appSecret)
	if err != nil || code != http.StatusOK {
		t.Fatalf("the retried webhook: %d %v, want 200", code, err)
	}
	if got := r.waitTexts("444", 3, 10*time.Second); strings.Join(got, ", ") != "got one, got two, got three" {
		t.Errorf("replies %q, want one, two, three in order", got)
	}
	if got := r.waitTexts("555", 1, 10*time.Second); strings.Join(got, ", ") != "got five" {
		t.Errorf("the other contact of the batch got %q, want one reply", got)
	}
}

// An HTTPRequest's call carries an Idempotency-Key derived from its effect:
// when the replica making it dies mid-call, the replica that replays the
// turn sends the same key, so the API can tell the retry from a new call.
func TestIdempotencyKeySurvivesATakeover(t *testing.T) {
	var (
		mu      sync.Mutex
		keys    []string
		arrived = make(chan struct{}, 4)
	)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		first := len(keys) == 1
		mu.Unlock()
		arrived <- struct{}{}
		if first {
			<-r.Context().Done() // the replica dies before the answer
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer api.Close()
	callFlow := fmt.Sprintf(`
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: caller, namespace: test}
spec:
  trigger: {type: WhatsApp}
  nodes:
  - {id: start, type: Start, next: call}
  - {id: call, type: HTTPRequest, httpRequest: {method: POST, url: "%s/orders"}, next: done}
  - {id: done, type: SendMessage, sendMessage: {text: "ordered"}, next: end}
  - {id: end, type: End}
`, api.URL)
	r := newRig(t)
	url, _ := redisURL(t)
	args := []string{"--lease-ttl", "1s", "--allow-private-networks", "127.0.0.0/8"}
	first := r.executor(callFlow, url, args...)
	r.send(first, "555", "wamid.order", "buy")
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatalf("the call was not made\n%s", first.Log())
	}
	first.Kill()
	second := r.executor(callFlow, url, args...)
	if got := r.waitTexts("555", 1, 15*time.Second); len(got) != 1 || got[0] != "ordered" {
		t.Fatalf("after the takeover: %q\n%s", got, second.Log())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(keys) != 2 || len(keys[0]) != 32 || keys[0] != keys[1] {
		t.Errorf("Idempotency-Keys %q, want the same one on the call and its replay", keys)
	}
}
