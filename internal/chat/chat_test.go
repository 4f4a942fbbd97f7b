package chat

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/internal/sandbox"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/channel/whatsapp"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// echoExecutor is a stand-in for an executor: it checks the signature,
// parses the WhatsApp webhook and answers through the sandbox's send API
// (a text with two buttons to a text, the picked id to a tap).
func echoExecutor(t *testing.T, sandboxURL string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/webhooks/whatsapp" {
			http.NotFound(w, r)
			return
		}
		if err := meta.VerifySignature(r.Header.Get(meta.SignatureHeader), body, "app-secret"); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		b, err := whatsapp.Parse(body, account)
		if err != nil || len(b.Messages) != 1 {
			http.Error(w, "bad webhook", http.StatusBadRequest)
			return
		}
		in := b.Messages[0]
		out := message.Outbound{To: in.Contact}
		if in.Kind == message.KindButton {
			out.Text = "You picked " + in.ButtonID
		} else {
			out.Text = "Hi " + in.Contact.Name + ", you said: " + in.Text
			out.Buttons = []message.Button{{ID: "yes", Title: "Yes"}, {ID: "no", Title: "No"}}
		}
		send, err := whatsapp.Render(out)
		if err != nil {
			t.Error(err)
			return
		}
		req, _ := http.NewRequest(http.MethodPost, sandboxURL+"/"+account+"/messages", bytes.NewReader(send))
		req.Header.Set("Authorization", "Bearer token")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
		w.WriteHeader(http.StatusOK)
	}))
}

func TestScriptedChat(t *testing.T) {
	sb := httptest.NewServer(sandbox.New(sandbox.Options{}))
	defer sb.Close()
	ex := echoExecutor(t, sb.URL)
	defer ex.Close()

	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := Start(ctx, Config{
		Flow: "echo", Channel: message.WhatsApp, Account: account, Phone: "+15550001111", Secret: "app-secret",
		ExecutorURL: ex.URL, SandboxURL: sb.URL, ContactID: "15550100100", ContactName: "Alex",
		In: strings.NewReader("hello there\n2\n/quit\nnever sent\n"), Out: &out, Echo: true,
		Quiet: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `Chatting with flow echo on WhatsApp as Alex (15550100100). Type a message; a number picks a choice; /quit ends.
you> hello there
bot> Hi Alex, you said: hello there
     1) Yes
     2) No
you> 2
bot> You picked no
you> /quit
`
	if out.String() != want {
		t.Errorf("transcript:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestChatReportsARefusedWebhook(t *testing.T) {
	sb := httptest.NewServer(sandbox.New(sandbox.Options{}))
	defer sb.Close()
	ex := echoExecutor(t, sb.URL)
	defer ex.Close()
	var out bytes.Buffer
	err := Start(context.Background(), Config{
		Flow: "echo", Channel: message.WhatsApp, Account: account, Secret: "wrong-secret",
		ExecutorURL: ex.URL, SandboxURL: sb.URL, ContactID: "1", ContactName: "A",
		In: strings.NewReader("hi\n"), Out: &out, Echo: true,
	})
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err = %v, want the executor's 401", err)
	}
}
