package executor_test

import (
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

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/test/procs"
)

const handoffSecret = "test-handoff-secret"

// handoffFlow asks, hands off to the agents' system at agentURL, and after
// the agent resumes, repeats what the contact last wrote.
func handoffFlow(agentURL string) string {
	return fmt.Sprintf(`
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: desk, namespace: test}
spec:
  trigger: {type: WhatsApp}
  nodes:
  - {id: start, type: Start, next: hello}
  - {id: hello, type: SendMessage, sendMessage: {text: "Hi! What do you need?"}, next: ask}
  - {id: ask, type: WaitForReply, waitForReply: {timeout: 1h}, next: human}
  - {id: human, type: Handoff, handoff: {notifyURL: "%s/hooks/desk", queue: billing, timeout: 2h}, next: back}
  - {id: back, type: SendMessage, sendMessage: {text: "Back with the bot. You last wrote: {{ message.text }}"}, next: end}
  - {id: end, type: End}
`, agentURL)
}

// agentDesk stands in for the agents' system: it records what it is sent
// and refuses the first refuse requests with 503.
type agentDesk struct {
	mu       sync.Mutex
	refuse   int
	requests []deskRequest
}

type deskRequest struct {
	Header http.Header
	Body   []byte
	Status int
}

func (d *agentDesk) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	d.mu.Lock()
	defer d.mu.Unlock()
	status := http.StatusOK
	if d.refuse > 0 {
		d.refuse--
		status = http.StatusServiceUnavailable
	}
	d.requests = append(d.requests, deskRequest{Header: r.Header.Clone(), Body: body, Status: status})
	w.WriteHeader(status)
}

func (d *agentDesk) wait(t *testing.T, n int, within time.Duration) []deskRequest {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		d.mu.Lock()
		got := append([]deskRequest(nil), d.requests...)
		d.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(25 * time.Millisecond)
	}
}

type deskNotice struct {
	Event      string `json:"event"`
	ID         string `json:"id"`
	Flow       string `json:"flow"`
	Node       string `json:"node"`
	Queue      string `json:"queue"`
	Resume     string `json:"resume"`
	Contact    struct{ ID, Name string }
	Transcript []struct {
		From, Text string
	} `json:"transcript"`
	Message *struct {
		Kind, Text string
	} `json:"message"`
}

// A hand-off notification carries the recent conversation, is signed over
// its raw body, and is retried from a durable timer until the agents'
// system takes it, across a crash of the executor (Redis store). What the
// contact writes during the hand-off reaches the agent too, and the
// resumed flow sees it.
func TestHandoffNotificationIsSignedRetriedAndForwardsMessages(t *testing.T) {
	desk := &agentDesk{refuse: 1}
	agent := httptest.NewServer(desk)
	defer agent.Close()
	url, _ := redisURL(t)
	r := newRig(t)
	creds := map[string]string{"handoffSecret": handoffSecret}
	for k, v := range credentials {
		creds[k] = v
	}
	e := procs.StartExecutor(t, procs.ExecutorSpec{Flow: handoffFlow(agent.URL), Binding: binding(r.sandbox),
		Credentials: creds, Store: url, Args: []string{"--allow-private-networks", "127.0.0.0/8"}})
	contact := "15550004444"
	r.send(e, contact, "wamid.h1", "hi")
	r.waitTexts(contact, 1, 10*time.Second)
	r.send(e, contact, "wamid.h2", "I was charged twice")

	// The first attempt is refused; once the turn is committed (with the
	// retry's timer) the executor dies, before the retry.
	first := desk.wait(t, 1, 10*time.Second)
	if len(first) != 1 || first[0].Status != http.StatusServiceUnavailable {
		t.Fatalf("desk requests after the hand-off: %+v\n%s", first, e.Log())
	}
	if !r.metricReaches(e, "chatflow_turns_total", 2) || !r.metricReaches(e, `chatflow_handoff_notifications_total{result="retried"}`, 1) {
		t.Fatalf("the hand-off turn was not committed with a retry\n%s", e.Log())
	}
	e.Kill()
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	// The restarted executor retries from the durable timer (5 s at most).
	got := desk.wait(t, 2, 20*time.Second)
	if len(got) != 2 || got[1].Status != http.StatusOK {
		t.Fatalf("the notification was not retried after the restart: %d requests\n%s", len(got), e.Log())
	}
	if string(got[0].Body) != string(got[1].Body) || got[0].Header.Get("X-Chatflow-Delivery") != got[1].Header.Get("X-Chatflow-Delivery") {
		t.Errorf("the retry differs from the first attempt:\n%s\n%s", got[0].Body, got[1].Body)
	}
	for i, req := range got {
		sig, ok := strings.CutPrefix(req.Header.Get("X-Chatflow-Signature-256"), "sha256=")
		if _, valid := channel.VerifyHMACSHA256(sig, req.Body, handoffSecret); !ok || !valid {
			t.Errorf("attempt %d: the signature %q is not HMAC-SHA256 of the body with the handoffSecret", i+1, req.Header.Get("X-Chatflow-Signature-256"))
		}
	}
	var n deskNotice
	if err := json.Unmarshal(got[1].Body, &n); err != nil {
		t.Fatal(err)
	}
	if n.Event != "handoff" || got[1].Header.Get("X-Chatflow-Event") != "handoff" || n.Flow != "desk" || n.Node != "human" ||
		n.Queue != "billing" || n.Contact.ID != contact || n.Resume != "/v1/contacts/"+contact+"/resume" {
		t.Errorf("notice: %s", got[1].Body)
	}
	var lines []string
	for _, l := range n.Transcript {
		lines = append(lines, l.From+": "+l.Text)
	}
	want := []string{"contact: hi", "flow: Hi! What do you need?", "contact: I was charged twice"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("transcript:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	// The contact writes during the hand-off: forwarded, signed, not lost.
	r.send(e, contact, "wamid.h3", "hello? anyone?")
	got = desk.wait(t, 3, 10*time.Second)
	if len(got) != 3 {
		t.Fatalf("the message during the hand-off was not forwarded\n%s", e.Log())
	}
	var m deskNotice
	if err := json.Unmarshal(got[2].Body, &m); err != nil {
		t.Fatal(err)
	}
	sig, _ := strings.CutPrefix(got[2].Header.Get("X-Chatflow-Signature-256"), "sha256=")
	if _, valid := channel.VerifyHMACSHA256(sig, got[2].Body, handoffSecret); m.Event != "message" || m.Message == nil ||
		m.Message.Text != "hello? anyone?" || m.Node != "human" || !valid {
		t.Errorf("forwarded message (signature valid: %v): %s", valid, got[2].Body)
	}

	// The agent gives the contact back: the flow goes on and sees the
	// message written meanwhile.
	req, _ := http.NewRequest(http.MethodPost, e.URL+n.Resume, nil)
	req.Header.Set("Authorization", "Bearer "+credentials["runToken"])
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("resume: %s", resp.Status)
	}
	texts := r.waitTexts(contact, 2, 10*time.Second)
	if len(texts) != 2 || texts[1] != "Back with the bot. You last wrote: hello? anyone?" {
		t.Fatalf("after the resume: %q\n%s", texts, e.Log())
	}
}

// metricReaches waits until the executor's /metrics shows the series at
// least at want. series is name{label="value",...}: a line matches with
// that name and at least those labels (every chatflow_ series also has the
// flow's namespace and flow).
func (r *rig) metricReaches(e *procs.Executor, series string, want float64) bool {
	r.t.Helper()
	name, labels, _ := strings.Cut(strings.TrimSuffix(series, "}"), "{")
	var pairs []string
	if labels != "" {
		pairs = strings.Split(labels, ",")
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(25 * time.Millisecond) {
		resp, err := r.client.Get(e.URL + "/metrics")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
	lines:
		for _, line := range strings.Split(string(body), "\n") {
			got, value, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			gotName, gotLabels, _ := strings.Cut(strings.TrimSuffix(got, "}"), "{")
			if gotName != name {
				continue
			}
			have := strings.Split(gotLabels, ",")
			for _, p := range pairs {
				if !slices.Contains(have, p) {
					continue lines
				}
			}
			var v float64
			if _, err := fmt.Sscan(value, &v); err == nil && v >= want {
				return true
			}
		}
	}
	return false
}
