package executor_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/internal/sandbox"
	"github.com/chatflow-dev/chatflow/test/procs"
)

const (
	pageID = "1234567890"
	igID   = "17841472110558136"
)

// menuFlow asks with quick replies, then answers the choice; the "human"
// branch replies with the HUMAN_AGENT tag.
func menuFlow(trigger string) string {
	return fmt.Sprintf(`
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: menu, namespace: test}
spec:
  trigger: {type: %s}
  nodes:
  - {id: start, type: Start, next: ask}
  - id: ask
    type: SendMessage
    sendMessage:
      text: "Hi! Hours or a human?"
      quickReplies: [{id: hours, title: Hours}, {id: human, title: Human}]
    next: wait
  - {id: wait, type: WaitForReply, waitForReply: {timeout: 1h}, next: route}
  - id: route
    type: Condition
    condition:
      branches:
      - {name: hours, when: 'message.buttonId == "hours"', next: hours}
      - {name: human, when: 'message.buttonId == "human"', next: human}
      default: ask
  - {id: hours, type: SendMessage, sendMessage: {text: "We are open 9 to 5."}, next: end}
  - {id: human, type: SendMessage, sendMessage: {text: "An agent will write to you.", tag: HUMAN_AGENT}, next: end}
  - {id: end, type: End}
`, trigger)
}

func metaBinding(channel, account, apiBaseURL string) string {
	return fmt.Sprintf(`
apiVersion: chatflow.dev/v1alpha1
kind: ChannelBinding
metadata: {name: page, namespace: test}
spec:
  flowRef: {name: menu}
  channel: %s
  account: {name: Page, id: %q}
  credentialsRef: {name: page}
  apiBaseURL: %s
`, channel, account, apiBaseURL)
}

// sandboxBodies waits for n messages to a contact and returns their bodies.
func sandboxBodies(t *testing.T, url, to string, n int) []procs.SandboxMessage {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := procs.SandboxMessages(context.Background(), url, to, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func metaTexts(ms []procs.SandboxMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = procs.MetaText(m.Body)
	}
	return out
}

func TestMessengerAndInstagramConversation(t *testing.T) {
	for _, ch := range []struct {
		name, account string
		instagram     bool
		path          string
	}{{"Messenger", pageID, false, "/webhooks/messenger"}, {"Instagram", igID, true, "/webhooks/instagram"}} {
		for storeName, store := range stores(t) {
			t.Run(ch.name+"/"+storeName, func(t *testing.T) {
				sb := httptest.NewServer(sandbox.New(sandbox.Options{
					Tokens: map[string]string{ch.account: credentials["accessToken"]}, Instagram: []string{igID}}))
				defer sb.Close()
				e := procs.StartExecutor(t, procs.ExecutorSpec{Flow: menuFlow(ch.name), Binding: metaBinding(ch.name, ch.account, sb.URL+"/v21.0"),
					Credentials: credentials, Store: store()})
				client := &http.Client{Timeout: 10 * time.Second}
				post := func(body []byte, err error) {
					t.Helper()
					if err != nil {
						t.Fatal(err)
					}
					code, err := procs.PostWebhook(context.Background(), client, e.URL, ch.path, body, appSecret)
					if err != nil || code != http.StatusOK {
						t.Fatalf("webhook: %d %v\n%s", code, err, e.Log())
					}
				}
				user := "psid-" + storeName
				// The same message twice in one batch is one message.
				post(procs.MessengerWebhook(ch.instagram, ch.account,
					procs.MetaMessage{From: user, ID: "m1", Text: "hello"}, procs.MetaMessage{From: user, ID: "m1", Text: "hello"}))
				got := sandboxBodies(t, sb.URL, user, 1)
				if len(got) != 1 || procs.MetaText(got[0].Body) != "Hi! Hours or a human?" || !strings.Contains(string(got[0].Body), `"quick_replies"`) ||
					!strings.Contains(string(got[0].Body), `"messaging_type":"RESPONSE"`) || got[0].Channel != strings.ToLower(ch.name) {
					t.Fatalf("first reply %+v\n%s", got, e.Log())
				}
				// A quick-reply tap, then the same tap redelivered.
				tap, err := procs.MessengerWebhook(ch.instagram, ch.account, procs.MetaMessage{From: user, ID: "m2", Text: "Human", Payload: "human"})
				post(tap, err)
				post(tap, err)
				got = sandboxBodies(t, sb.URL, user, 2)
				time.Sleep(300 * time.Millisecond)
				got = sandboxBodies(t, sb.URL, user, 2)
				if want := []string{"Hi! Hours or a human?", "An agent will write to you."}; !equal(metaTexts(got), want) {
					t.Fatalf("got %q, want %q\n%s", metaTexts(got), want, e.Log())
				}
				if !strings.Contains(string(got[1].Body), `"messaging_type":"MESSAGE_TAG"`) || !strings.Contains(string(got[1].Body), `"tag":"HUMAN_AGENT"`) {
					t.Fatalf("tagged reply %s", got[1].Body)
				}
				// Another Page's webhook is accepted (200) and ignored.
				post(procs.MessengerWebhook(ch.instagram, "other-page", procs.MetaMessage{From: user, ID: "m3", Text: "hello"}))
				// The handshake.
				resp, err := client.Get(e.URL + ch.path + "?hub.mode=subscribe&hub.challenge=42&hub.verify_token=" + credentials["verifyToken"])
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("handshake %v %v", resp, err)
				}
				resp.Body.Close()
				// A wrong signature is refused.
				if code, _ := procs.PostWebhook(context.Background(), client, e.URL, ch.path, tap, "wrong"); code != http.StatusUnauthorized {
					t.Fatalf("wrong signature: %d", code)
				}
				time.Sleep(200 * time.Millisecond)
				if n := len(sandboxBodies(t, sb.URL, user, 0)); n != 2 {
					t.Fatalf("%d messages after the ignored webhooks", n)
				}
			})
		}
	}
}

// A Messenger postback (button template tap, Get Started) starts and
// drives a run like a message, and an outside-window error takes onError.
func TestMessengerPostbackAndSendError(t *testing.T) {
	sbx := sandbox.New(sandbox.Options{Tokens: map[string]string{pageID: credentials["accessToken"]}})
	sb := httptest.NewServer(sbx)
	defer sb.Close()
	flow := `
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: menu, namespace: test}
spec:
  trigger: {type: Messenger}
  nodes:
  - {id: start, type: Start, next: ask}
  - {id: ask, type: SendMessage, sendMessage: {text: "Pick", buttons: [{id: a, title: A}, {id: b, title: B}]}, next: wait}
  - {id: wait, type: WaitForReply, waitForReply: {timeout: 1h}, next: answer}
  - {id: answer, type: SendMessage, sendMessage: {text: "you picked {{ message.buttonId }}"}, next: end, onError: failed}
  - {id: failed, type: SendMessage, sendMessage: {text: "could not answer"}, next: end}
  - {id: end, type: End}
`
	e := procs.StartExecutor(t, procs.ExecutorSpec{Flow: flow, Binding: metaBinding("Messenger", pageID, sb.URL+"/v21.0"), Credentials: credentials, Store: "memory"})
	client := &http.Client{Timeout: 10 * time.Second}
	post := func(body []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if code, err := procs.PostWebhook(context.Background(), client, e.URL, "/webhooks/messenger", body, appSecret); err != nil || code != 200 {
			t.Fatalf("%d %v", code, err)
		}
	}
	post(procs.MessengerPostback(pageID, "u1", "pb1", "Get Started", "get_started"))
	if got := sandboxBodies(t, sb.URL, "u1", 1); len(got) != 1 || !strings.Contains(string(got[0].Body), `"template_type":"button"`) {
		t.Fatalf("%+v\n%s", got, e.Log())
	}
	post(procs.MessengerPostback(pageID, "u1", "pb2", "B", "b"))
	if got := metaTexts(sandboxBodies(t, sb.URL, "u1", 2)); len(got) != 2 || got[1] != "you picked b" {
		t.Fatalf("%q\n%s", got, e.Log())
	}
	// u2: the answer fails with 551 (user unavailable): onError runs.
	post(procs.MessengerPostback(pageID, "u2", "pb3", "Get Started", "get_started"))
	sandboxBodies(t, sb.URL, "u2", 1)
	if _, err := sbx.AddFault(sandbox.Fault{Channel: "messenger", To: "u2", Code: 551}); err != nil {
		t.Fatal(err)
	}
	post(procs.MessengerPostback(pageID, "u2", "pb4", "A", "a"))
	if got := metaTexts(sandboxBodies(t, sb.URL, "u2", 2)); len(got) != 2 || got[1] != "could not answer" {
		t.Fatalf("%q\n%s", got, e.Log())
	}
}
