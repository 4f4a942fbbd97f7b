package studio

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/internal/dev/statefile"
	"github.com/chatflow-dev/chatflow/internal/sandbox"
	"github.com/chatflow-dev/chatflow/test/procs"
)

// counterFlow greets, waits for a reply, and looks it up at an API that
// fails, so each of the canvas's counters has something to count.
const counterFlow = `apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: lookup, namespace: shop}
spec:
  trigger: {type: WhatsApp}
  nodes:
  - {id: start, type: Start, next: greet}
  - {id: greet, type: SendMessage, sendMessage: {text: "Order number?"}, next: wait}
  - {id: wait, type: WaitForReply, waitForReply: {timeout: 1h, saveAs: order}, next: fetch}
  - {id: fetch, type: HTTPRequest, httpRequest: {url: "%s/orders/{{ vars.order }}"}, next: end, onError: sorry}
  - {id: sorry, type: SendMessage, sendMessage: {text: "Try later."}, next: end}
  - {id: end, type: End}
`

// TestLiveCountersMove holds a conversation with a real executor process
// and reads the studio's counter endpoint, which scrapes the executors of
// chatflow dev's state: entered, errors and waiting move as the contact
// goes through the flow.
func TestLiveCountersMove(t *testing.T) {
	box := httptest.NewServer(sandbox.New(sandbox.Options{Tokens: map[string]string{"106540352242922": "token"}}))
	defer box.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusBadGateway) }))
	defer api.Close()
	exe := procs.StartExecutor(t, procs.ExecutorSpec{
		Flow: fmt.Sprintf(counterFlow, api.URL),
		Binding: fmt.Sprintf(`apiVersion: chatflow.dev/v1alpha1
kind: ChannelBinding
metadata: {name: lookup, namespace: shop}
spec:
  flowRef: {name: lookup}
  channel: WhatsApp
  account: {name: Shop, id: "106540352242922"}
  credentialsRef: {name: lookup}
  apiBaseURL: %s
`, box.URL),
		Credentials: map[string]string{"accessToken": "token", "appSecret": "app-secret", "verifyToken": "v"},
		Store:       "memory",
		Args:        []string{"--allow-private-networks", "127.0.0.0/8"},
	})
	// The executor as chatflow dev's state shows it to the studio.
	devDir := t.TempDir()
	if err := statefile.WriteState(devDir, &statefile.State{PID: os.Getpid(), Executors: map[string]statefile.Executor{
		"shop/lookup-executor": {Namespace: "shop", Deployment: "lookup-executor", Flow: "lookup", Revision: "r",
			Replicas: []statefile.Replica{{Name: "lookup-executor-0", URL: exe.URL, Revision: "r", Ready: true}}},
	}}); err != nil {
		t.Fatal(err)
	}
	st := startStudio(t, Options{DevDir: devDir, Paths: []string{t.TempDir()}})
	counters := func() map[string]Counters {
		t.Helper()
		out := st.ok("GET", "/api/live/counters?namespace=shop&name=lookup", nil)
		if out["replicas"] != float64(1) {
			t.Fatalf("replicas: %v (%v)", out["replicas"], out["errors"])
		}
		got := map[string]Counters{}
		nodes, _ := out["nodes"].(map[string]any)
		for id, v := range nodes {
			m := v.(map[string]any)
			got[id] = Counters{Entered: m["entered"].(float64), Errors: m["errors"].(float64), Waiting: m["waiting"].(float64)}
		}
		return got
	}
	// Every node is on the canvas at zero before anything ran.
	if got := counters(); len(got) != 6 || got["greet"] != (Counters{}) {
		t.Errorf("before the conversation: %v", got)
	}
	say := func(id, text string) {
		body, err := procs.WhatsAppWebhook("106540352242922", procs.WhatsAppMessage{From: "15550400001", Name: "Lee", ID: id, Text: text})
		if err != nil {
			t.Fatal(err)
		}
		if code, err := procs.PostWebhook(context.Background(), http.DefaultClient, exe.URL, "/webhooks/whatsapp", body, "app-secret"); err != nil || code != http.StatusOK {
			t.Fatalf("webhook: %d %v", code, err)
		}
	}
	eventually := func(what string, ok func(map[string]Counters) bool) {
		t.Helper()
		var got map[string]Counters
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if got = counters(); ok(got) {
				return
			}
		}
		t.Fatalf("%s: %v\n%s", what, got, exe.Log())
	}
	say("wamid.1", "hi")
	eventually("the contact at wait", func(c map[string]Counters) bool {
		return c["greet"].Entered == 1 && c["wait"] == Counters{Entered: 1, Waiting: 1} && c["fetch"].Entered == 0
	})
	say("wamid.2", "10452")
	eventually("the failed lookup", func(c map[string]Counters) bool {
		return c["fetch"] == Counters{Entered: 1, Errors: 1} && c["sorry"].Entered == 1 && c["end"].Entered == 1 && c["wait"].Waiting == 0
	})
}
