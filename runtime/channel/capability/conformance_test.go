package capability_test

// This external test wires the table to everything that reads it: lint
// (the flow compiler), the interpreter that turns a SendMessage node into
// a message, each channel's real client and renderer, and the sandbox
// that checks the channels' wire contracts. The package itself imports
// none of them.

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/internal/sandbox"
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/capability"
	"github.com/chatflow-dev/chatflow/runtime/channel/messenger"
	"github.com/chatflow-dev/chatflow/runtime/channel/viber"
	"github.com/chatflow-dev/chatflow/runtime/channel/whatsapp"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// crdTitleMax is the CRD's bound on a button or quick reply title
// (api/v1alpha1 Button.title): below some channels' own.
const crdTitleMax = 64

// feature is one thing a SendMessage node can ask of a channel, at the
// table's limits.
type feature struct {
	name    string
	allowed bool
	send    map[string]any
}

func repeat(s string, n int) string { return strings.Repeat(s, max(n, 1)) }

// titles makes n distinct titles of length size.
func choices(n, size int) []any {
	out := make([]any, n)
	for i := range out {
		t := fmt.Sprintf("%02d", i) + repeat("t", size-2)
		out[i] = map[string]any{"id": fmt.Sprintf("c%d", i), "title": t}
	}
	return out
}

func features(c capability.Capabilities) []feature {
	fs := []feature{
		{"text at the limit", true, map[string]any{"text": repeat("a", c.TextMax)}},
		{"text past the limit", false, map[string]any{"text": repeat("a", c.TextMax+1)}},
		{"a retired message tag", false, map[string]any{"text": "x", "tag": "ACCOUNT_UPDATE"}},
		{"the HUMAN_AGENT tag", c.SupportsTag("HUMAN_AGENT"), map[string]any{"text": "x", "tag": "HUMAN_AGENT"}},
		{"a template", c.Templates, map[string]any{"template": map[string]any{"name": "order_update", "language": "en_US",
			"components": []any{map[string]any{"type": "body", "parameters": []any{map[string]any{"type": "text", "text": "42"}}}}}}},
	}
	for _, k := range []message.MediaKind{message.Image, message.Video, message.Audio, message.Document, message.Sticker} {
		kind := strings.ToUpper(string(k)[:1]) + string(k)[1:]
		media := map[string]any{"type": kind, "url": "https://cdn.example.com/file-" + string(k)}
		if k == message.Document {
			media["filename"] = "file.pdf"
		}
		fs = append(fs, feature{"a " + string(k), c.SupportsMedia(k), map[string]any{"media": media}})
	}
	if b := c.Buttons; b.Supported {
		text := c.TextMax
		if b.TextMax > 0 {
			text = b.TextMax
		}
		title := min(b.TitleMax, crdTitleMax)
		fs = append(fs,
			feature{"buttons at the limits", true, map[string]any{"text": repeat("a", text), "buttons": choices(b.Max, title)}},
			feature{"one button too many", false, map[string]any{"text": "x", "buttons": choices(b.Max+1, 2)}},
			feature{"a button title past the limit", false, map[string]any{"text": "x", "buttons": choices(1, min(b.TitleMax, crdTitleMax)+1)}})
	} else {
		fs = append(fs, feature{"a button", false, map[string]any{"text": "x", "buttons": choices(1, 2)}})
	}
	if q := c.QuickReplies; q.Supported {
		fs = append(fs,
			feature{"quick replies at the limits", true, map[string]any{"text": "x", "quickReplies": choices(q.Max, min(q.TitleMax, crdTitleMax))}},
			feature{"one quick reply too many", false, map[string]any{"text": "x", "quickReplies": choices(q.Max+1, 2)}})
	} else {
		fs = append(fs, feature{"a quick reply", false, map[string]any{"text": "x", "quickReplies": choices(1, 2)}})
	}
	list := func(rows int) map[string]any {
		rs := make([]any, rows)
		for i := range rs {
			rs[i] = map[string]any{"id": fmt.Sprintf("r%d", i), "title": fmt.Sprintf("%02d", i) + repeat("t", c.List.RowTitleMax-2),
				"description": repeat("d", c.List.RowDescriptionMax)}
		}
		return map[string]any{"text": "Pick one", "list": map[string]any{"button": repeat("b", c.List.ButtonMax),
			"sections": []any{map[string]any{"title": repeat("s", c.List.SectionTitleMax), "rows": rs}}}}
	}
	if c.List.Supported {
		fs = append(fs, feature{"a list at the limits", true, list(c.List.MaxRows)}, feature{"one list row too many", false, list(c.List.MaxRows + 1)})
	} else {
		fs = append(fs, feature{"a list", false, map[string]any{"text": "x", "list": map[string]any{"button": "Go",
			"sections": []any{map[string]any{"rows": []any{map[string]any{"id": "r", "title": "R"}}}}}}})
	}
	return fs
}

// contacts are what the channels' webhooks deliver as sender ids.
var contacts = map[message.Channel]string{
	message.WhatsApp:  "15550100100",
	message.Messenger: "6543210987654321",
	message.Instagram: "6543210987654322",
	message.Viber:     "01234567890A=",
}

func sender(t *testing.T, ch message.Channel, base string) channel.Sender {
	t.Helper()
	token := func(context.Context) (string, error) { return "token", nil }
	delivery := channel.Delivery{Retry: channel.RetryPolicy{MaxAttempts: 1}}
	var s channel.Sender
	var err error
	switch ch {
	case message.WhatsApp:
		s, err = whatsapp.NewClient(whatsapp.Config{PhoneNumberID: "106540352242922", AccessToken: token, APIBaseURL: base, Delivery: delivery})
	case message.Messenger, message.Instagram:
		flavor, _ := messenger.FlavorOf(ch)
		s, err = messenger.NewClient(messenger.Config{Flavor: flavor, AccountID: "106540352242923", AccessToken: token, APIBaseURL: base, Delivery: delivery})
	case message.Viber:
		s, err = viber.NewClient(viber.Config{AccountID: "pa-1", AuthToken: token, Sender: viber.Sender{Name: "Shop"}, APIBaseURL: base, Delivery: delivery})
	}
	if err != nil || s == nil {
		t.Fatalf("%s client: %v", ch, err)
	}
	return s
}

// lintFlow lints a flow of the channel whose second node sends send.
func lintFlow(t *testing.T, ch message.Channel, send map[string]any) *lint.Result {
	t.Helper()
	doc, err := yaml.Marshal(map[string]any{
		"apiVersion": "chatflow.dev/v1alpha1", "kind": "ChatFlow", "metadata": map[string]any{"name": "caps"},
		"spec": map[string]any{
			"trigger": map[string]any{"type": string(ch)},
			"nodes": []any{
				map[string]any{"id": "start", "type": "Start", "next": "say"},
				map[string]any{"id": "say", "type": "SendMessage", "sendMessage": send, "next": "end"},
				map[string]any{"id": "end", "type": "End"},
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return lint.Lint([]manifest.Source{{Name: "caps.yaml", Data: doc}})
}

// TestTableMatchesRenderers: for every channel, what the capability table
// allows a SendMessage node to ask lints clean, is turned into a message
// by the interpreter, rendered and sent by the channel's real client, and
// accepted by the sandbox's check of the channel's contract; what the
// table refuses, lint refuses.
func TestTableMatchesRenderers(t *testing.T) {
	sb := sandbox.New(sandbox.Options{})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	ctx := context.Background()
	allowed, refused := 0, 0
	for _, c := range capability.All() {
		client := sender(t, c.Channel, srv.URL)
		for _, f := range features(c) {
			t.Run(string(c.Channel)+"/"+f.name, func(t *testing.T) {
				r := lintFlow(t, c.Channel, f.send)
				if !f.allowed {
					refused++
					for _, p := range r.Problems {
						if strings.HasPrefix(p.Field, "spec.nodes[1].sendMessage") {
							return
						}
					}
					t.Fatalf("the table refuses it, lint does not: %v", r.Problems)
				}
				allowed++
				fl, err := r.Valid("caps")
				if err != nil {
					t.Fatal(err)
				}
				contact := message.Contact{ID: contacts[c.Channel], Channel: c.Channel}
				_, fx := flow.Step(fl.Program, nil, flow.Inbound(message.Inbound{ID: "in-1", Contact: contact, Kind: message.KindText, Text: "hi", Timestamp: time.Now()}), time.Now())
				var out *message.Outbound
				for i := range fx {
					if fx[i].Kind == flow.EffectSend {
						out = &fx[i].Send.Message
					}
				}
				if out == nil {
					t.Fatalf("the flow sent nothing: %v", fx)
				}
				rc := client.Send(ctx, *out)
				if rc.Error != nil {
					t.Fatalf("the table allows it, sending fails: %+v", rc.Error)
				}
				recs := sb.Messages(sandbox.Query{To: contact.ID})
				if len(recs) == 0 || recs[len(recs)-1].MessageID != rc.MessageID {
					t.Fatalf("the sandbox has no record of message %s: %v", rc.MessageID, recs)
				}
			})
		}
	}
	if allowed < 20 || refused < 20 {
		t.Errorf("only %d allowed and %d refused cases", allowed, refused)
	}
}
