package executor_test

import (
	"context"
	"encoding/json"
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
	botID     = "pa-chatflow"
	authToken = "44dafb7e0f40021e-61a47a1e6778d187-f2c5a676a07050b3"
)

// viberFlow greets with a keyboard; its first SendMessage uses only
// contact.name, so it is also the welcome message.
const viberFlow = `
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: viber-menu, namespace: test}
spec:
  trigger: {type: Viber}
  nodes:
  - {id: start, type: Start, next: hello}
  - id: hello
    type: SendMessage
    sendMessage: {text: "Hello {{ contact.name }}! Coffee?", buttons: [{id: "yes", title: "Yes please"}, {id: "no", title: "No"}]}
    next: wait
  - {id: wait, type: WaitForReply, waitForReply: {timeout: 1h}, next: answer}
  - {id: answer, type: SendMessage, sendMessage: {text: "you chose {{ message.buttonId }}"}, next: end, onError: end}
  - {id: end, type: End}
`

func viberBinding(apiBaseURL, publicURL string) string {
	hook := ""
	if publicURL != "" {
		hook = fmt.Sprintf("  webhook: {publicURL: %q, register: true}\n", publicURL)
	}
	return fmt.Sprintf(`
apiVersion: chatflow.dev/v1alpha1
kind: ChannelBinding
metadata: {name: bot, namespace: test}
spec:
  flowRef: {name: viber-menu}
  channel: Viber
  account: {name: Chatflow Cafe, id: %q}
  credentialsRef: {name: bot}
  apiBaseURL: %s
%s`, botID, apiBaseURL, hook)
}

func TestViberConversation(t *testing.T) {
	for storeName, store := range stores(t) {
		t.Run(storeName, func(t *testing.T) {
			sbx := sandbox.New(sandbox.Options{Tokens: map[string]string{botID: authToken}, ViberCallback: true})
			sb := httptest.NewServer(sbx)
			defer sb.Close()
			port, err := procs.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			public := fmt.Sprintf("http://127.0.0.1:%d", port)
			e := procs.StartExecutor(t, procs.ExecutorSpec{Flow: viberFlow, Binding: viberBinding(sb.URL, public),
				Credentials: map[string]string{"authToken": authToken}, Store: store(), Port: port})
			client := &http.Client{Timeout: 10 * time.Second}
			path := "/webhooks/viber/" + botID
			post := func(body []byte, err error) []byte {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				code, resp, err := procs.PostViberWebhook(context.Background(), client, e.URL, path, body, authToken)
				if err != nil || code != http.StatusOK {
					t.Fatalf("webhook: %d %v %s\n%s", code, err, resp, e.Log())
				}
				return resp
			}
			// The executor registered its webhook; Viber's signed check got 200.
			deadline := time.Now().Add(10 * time.Second)
			for len(sbx.Webhooks()) == 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if hooks := sbx.Webhooks(); len(hooks) != 1 || hooks[0].URL != public+path || !hooks[0].Checked || hooks[0].Account != botID {
				t.Fatalf("webhooks %+v\n%s", hooks, e.Log())
			}
			user := "jc9HsWTZ2Yf2NkRZ8KcNug=="
			// conversation_started: the welcome message is the response body.
			welcome := post(procs.ViberConversationStarted(user, "John McClane", 4912661846655238145))
			var w struct {
				Receiver string `json:"receiver"`
				Type     string `json:"type"`
				Text     string `json:"text"`
				Sender   struct{ Name string }
				Keyboard struct{ Buttons []struct{ ActionBody string } }
			}
			if err := json.Unmarshal(welcome, &w); err != nil || w.Receiver != "" || w.Type != "text" || w.Text != "Hello John McClane! Coffee?" ||
				w.Sender.Name != "Chatflow Cafe" || len(w.Keyboard.Buttons) != 2 {
				t.Fatalf("welcome %s %v", welcome, err)
			}
			// The welcome was the run's first message: the contact's tap on
			// its keyboard answers the wait that follows it, and nothing is
			// sent twice.
			_, tracking := procs.ViberText(welcome)
			tap, err := procs.ViberMessage(user, "John McClane", 4912661846655238147, "Yes please", tracking)
			post(tap, err)
			post(tap, err) // Viber's retry: deduplicated by message_token
			got := sandboxBodies(t, sb.URL, user, 1)
			time.Sleep(300 * time.Millisecond)
			got = sandboxBodies(t, sb.URL, user, 1)
			if text, _ := procs.ViberText(got[len(got)-1].Body); len(got) != 1 || text != "you chose yes" {
				t.Fatalf("%d messages, last %q\n%s", len(got), text, e.Log())
			}
			// The run ended; the next message starts a new one, sent through
			// the API with its keyboard.
			post(procs.ViberMessage(user, "John McClane", 4912661846655238148, "again", ""))
			got = sandboxBodies(t, sb.URL, user, 2)
			if text, _ := procs.ViberText(got[1].Body); len(got) != 2 || text != "Hello John McClane! Coffee?" ||
				!strings.Contains(string(got[1].Body), `"keyboard"`) {
				t.Fatalf("%+v\n%s", got, e.Log())
			}
			// The contact unsubscribes while the run waits: the session
			// ends, so the next message starts a new run (hello again)
			// instead of answering the old wait.
			post(procs.ViberUnsubscribed(user, 4912661846655238149))
			time.Sleep(300 * time.Millisecond)
			post(procs.ViberMessage(user, "John McClane", 4912661846655238150, "back", ""))
			got = sandboxBodies(t, sb.URL, user, 3)
			if text, _ := procs.ViberText(got[len(got)-1].Body); len(got) != 3 || text != "Hello John McClane! Coffee?" {
				t.Fatalf("after unsubscribe: %d messages, last %q\n%s", len(got), text, e.Log())
			}
			// Wrong bot id in the path: 404; wrong signature: 401; the
			// webhook check: 200 without a body.
			body, _ := procs.ViberMessage(user, "x", 1, "x", "")
			if code, _, _ := procs.PostViberWebhook(context.Background(), client, e.URL, "/webhooks/viber/other-bot", body, authToken); code != http.StatusNotFound {
				t.Errorf("other bot: %d", code)
			}
			if code, _, _ := procs.PostViberWebhook(context.Background(), client, e.URL, path, body, "wrong-token"); code != http.StatusUnauthorized {
				t.Errorf("wrong signature: %d", code)
			}
			if code, resp, _ := procs.PostViberWebhook(context.Background(), client, e.URL, path,
				[]byte(`{"event":"webhook","timestamp":4977069964384421269,"message_token":1478683725125}`), authToken); code != 200 || len(resp) != 0 {
				t.Errorf("webhook check: %d %s", code, resp)
			}
		})
	}
}
