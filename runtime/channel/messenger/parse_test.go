package messenger_test

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/messenger"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// envelope wraps one messaging[] event (Meta's reference examples are
// single events) in a webhook envelope for entry id account, keeping the
// event's bytes as they are.
func envelope(object, account string, event []byte) []byte {
	return []byte(`{"object":"` + object + `","entry":[{"id":"` + account + `","time":1458692752478,"messaging":[` + string(event) + `]}]}`)
}

func ms(v int64) time.Time { return time.UnixMilli(v).UTC() }

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// The courier fixtures address Page / account 1234567890 from user 5678.
const courierAccount = "1234567890"

var (
	fbUser = message.Contact{ID: "5678", Channel: message.Messenger}
	igUser = message.Contact{ID: "5678", Channel: message.Instagram}
)

func TestParseFixtures(t *testing.T) {
	tests := []struct {
		name     string
		flavor   messenger.Flavor
		account  string
		body     []byte
		messages []message.Inbound
		statuses []message.Status
		ignored  []string // substrings of What+" "+Reason, in order
	}{
		// Messenger.
		{name: "messenger/text_message.json", flavor: messenger.Messenger, account: courierAccount,
			messages: []message.Inbound{{ID: "external_id", Contact: fbUser, Kind: message.KindText, Text: "Hello World", Timestamp: ms(1459991487970)}}},
		{name: "messenger/image_attachment.json", flavor: messenger.Messenger, account: courierAccount,
			messages: []message.Inbound{{ID: "external_id", Contact: fbUser, Kind: message.KindMedia,
				Media: &message.Media{Kind: message.Image, URL: "https://image-url/foo.png"}, Timestamp: ms(1459991487970)}}},
		{name: "messenger/postback.json", flavor: messenger.Messenger, account: courierAccount,
			messages: []message.Inbound{{ID: "postback:5678:1459991487970", Contact: fbUser, Kind: message.KindButton,
				ButtonID: "postback payload", Text: "postback title", Payload: "postback ref", Timestamp: ms(1459991487970)}}},
		{name: "messenger/postback_get_started.json", flavor: messenger.Messenger, account: courierAccount,
			messages: []message.Inbound{{ID: "postback:5678:1459991487970", Contact: fbUser, Kind: message.KindButton,
				ButtonID: "get_started", Text: "postback title", Timestamp: ms(1459991487970)}}},
		{name: "messenger/delivery.json", flavor: messenger.Messenger, account: courierAccount,
			statuses: []message.Status{{MessageID: "mid.1458668856218:ed81099e15d3f4f233", Contact: fbUser, State: "delivered", Timestamp: ms(1458668856253)}}},
		{name: "messenger/echo.json", flavor: messenger.Messenger, account: courierAccount,
			ignored: []string{"entry[0].messaging[0] echo echo of a message this account sent"}},
		{name: "messenger/quick_reply_message_event.json", flavor: messenger.Messenger, account: "<PAGE_ID>",
			body: envelope("page", "<PAGE_ID>", fixture(t, "messenger/quick_reply_message_event.json")),
			messages: []message.Inbound{{ID: "mid.1457764197618:41d102a3e1ae206a38", Contact: message.Contact{ID: "<PSID>", Channel: message.Messenger},
				Kind: message.KindButton, ButtonID: "<DEVELOPER_DEFINED_PAYLOAD>", Text: "hello, world!", Timestamp: ms(1458692752478)}}},
		{name: "messenger/delivery_event.json", flavor: messenger.Messenger, account: "<PAGE_ID>",
			body: envelope("page", "<PAGE_ID>", fixture(t, "messenger/delivery_event.json")),
			statuses: []message.Status{{MessageID: "mid.1458668856218:ed81099e15d3f4f233", Contact: message.Contact{ID: "<PSID>", Channel: message.Messenger},
				State: "delivered", Timestamp: ms(1458668856253)}}},
		{name: "messenger/read_event.json", flavor: messenger.Messenger, account: "<PAGE_ID>",
			body: envelope("page", "<PAGE_ID>", fixture(t, "messenger/read_event.json")),
			statuses: []message.Status{{Contact: message.Contact{ID: "<PSID>", Channel: message.Messenger},
				State: "read", Timestamp: ms(1458668856253)}}},
		// Instagram.
		{name: "instagram/text.json", flavor: messenger.Instagram, account: courierAccount,
			messages: []message.Inbound{{ID: "external_id", Contact: igUser, Kind: message.KindText, Text: "Hello World", Timestamp: ms(1459991487970)}}},
		{name: "instagram/image.json", flavor: messenger.Instagram, account: courierAccount,
			messages: []message.Inbound{{ID: "external_id", Contact: igUser, Kind: message.KindMedia,
				Media: &message.Media{Kind: message.Image, URL: "https://image-url/foo.png"}, Timestamp: ms(1459991487970)}}},
		{name: "instagram/postback_icebreaker.json", flavor: messenger.Instagram, account: courierAccount,
			messages: []message.Inbound{{ID: "postback:5678:1459991487970", Contact: igUser, Kind: message.KindButton,
				ButtonID: "get_started", Text: "icebreaker question", Timestamp: ms(1459991487970)}}},
		{name: "instagram/quick_reply.json", flavor: messenger.Instagram, account: "<IGID>",
			messages: []message.Inbound{{ID: "<MID>", Contact: message.Contact{ID: "<IGSID>", Channel: message.Instagram},
				Kind: message.KindButton, ButtonID: "<PAYLOAD>", Text: "<SOME_TEXT>", Timestamp: ms(1502905976377)}}},
		{name: "instagram/echo.json", flavor: messenger.Instagram, account: courierAccount,
			ignored: []string{"echo echo of a message this account sent"}},
		{name: "instagram/like_heart.json", flavor: messenger.Instagram, account: courierAccount,
			ignored: []string{"like like_heart is a like"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if body == nil {
				body = fixture(t, tt.name)
			}
			b, err := messenger.Parse(body, tt.flavor, tt.account)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(b.Messages, tt.messages) {
				t.Errorf("messages:\n got %s\nwant %s", js(b.Messages), js(tt.messages))
			}
			if !reflect.DeepEqual(b.Statuses, tt.statuses) {
				t.Errorf("statuses:\n got %s\nwant %s", js(b.Statuses), js(tt.statuses))
			}
			checkIgnored(t, b.Ignored, tt.ignored)

			// Another account's events are routed away, not an error.
			other, err := messenger.Parse(body, tt.flavor, "999")
			if err != nil || len(other.Messages)+len(other.Statuses) != 0 || len(other.Ignored) != 1 ||
				!strings.Contains(other.Ignored[0].Reason, "not to this binding's account 999") {
				t.Errorf("other account: %s, %v", js(other), err)
			}
			// The other flavour does not take the body.
			wrong := messenger.Instagram
			if tt.flavor == messenger.Instagram {
				wrong = messenger.Messenger
			}
			if o, err := messenger.Parse(body, wrong, tt.account); err != nil || len(o.Messages)+len(o.Statuses) != 0 || len(o.Ignored) != 1 {
				t.Errorf("wrong flavour: %s, %v", js(o), err)
			}
		})
	}
}

func checkIgnored(t *testing.T, got []channel.Ignored, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("ignored = %s, want %d entries %q", js(got), len(want), want)
	}
	for i, w := range want {
		if s := got[i].What + " " + got[i].Reason; !strings.Contains(s, w) {
			t.Errorf("ignored[%d] = %q, want it to contain %q", i, s, w)
		}
	}
}

// event builds a Messenger body from the text fixture with its message
// event replaced by ev (sender, recipient and timestamp kept).
func event(t *testing.T, ev map[string]any) []byte {
	t.Helper()
	var root map[string]any
	if err := json.Unmarshal(fixture(t, "messenger/text_message.json"), &root); err != nil {
		t.Fatal(err)
	}
	entry := root["entry"].([]any)[0].(map[string]any)
	m := entry["messaging"].([]any)[0].(map[string]any)
	delete(m, "message")
	for k, v := range ev {
		m[k] = v
	}
	b, _ := json.Marshal(root)
	return b
}

func TestParseEvents(t *testing.T) {
	tests := []struct {
		name    string
		ev      map[string]any
		want    *message.Inbound
		ignored string
	}{
		{name: "reaction", ev: map[string]any{"reaction": map[string]any{"mid": "m1", "action": "react", "reaction": "love", "emoji": "❤️"}},
			ignored: "reaction reactions are not messages"},
		{name: "edit", ev: map[string]any{"message_edit": map[string]any{"mid": "m1", "num_edit": 1}},
			ignored: "message_edit edits of an earlier message"},
		{name: "like sticker", ev: map[string]any{"message": map[string]any{"mid": "m2",
			"attachments": []any{map[string]any{"type": "image", "payload": map[string]any{"url": "https://x/like.png", "sticker_id": 369239263222822}}}}},
			ignored: "sticker 369239263222822 is a like"},
		{name: "other sticker", ev: map[string]any{"message": map[string]any{"mid": "m3",
			"attachments": []any{map[string]any{"type": "image", "payload": map[string]any{"url": "https://x/s.png", "sticker_id": 42}}}}},
			want: &message.Inbound{ID: "m3", Kind: message.KindMedia, Media: &message.Media{Kind: message.Sticker, URL: "https://x/s.png", ID: "42"}}},
		{name: "video", ev: map[string]any{"message": map[string]any{"mid": "m4", "text": "look",
			"attachments": []any{map[string]any{"type": "video", "payload": map[string]any{"url": "https://x/v.mp4"}}}}},
			want: &message.Inbound{ID: "m4", Kind: message.KindMedia, Text: "look", Media: &message.Media{Kind: message.Video, URL: "https://x/v.mp4"}}},
		{name: "file", ev: map[string]any{"message": map[string]any{"mid": "m5",
			"attachments": []any{map[string]any{"type": "file", "payload": map[string]any{"url": "https://x/f.pdf"}}}}},
			want: &message.Inbound{ID: "m5", Kind: message.KindMedia, Media: &message.Media{Kind: message.Document, URL: "https://x/f.pdf"}}},
		{name: "share", ev: map[string]any{"message": map[string]any{"mid": "m6",
			"attachments": []any{map[string]any{"type": "share", "payload": map[string]any{"url": "https://x/post"}}}}},
			want: &message.Inbound{ID: "m6", Kind: message.KindOther, Payload: "https://x/post"}},
		{name: "reply", ev: map[string]any{"message": map[string]any{"mid": "m7", "text": "yes", "reply_to": map[string]any{"mid": "m0"}}},
			want: &message.Inbound{ID: "m7", Kind: message.KindText, Text: "yes", ReplyTo: "m0"}},
		{name: "unsupported", ev: map[string]any{"message": map[string]any{"mid": "m8", "is_unsupported": true}},
			want: &message.Inbound{ID: "m8", Kind: message.KindOther}},
		{name: "deleted", ev: map[string]any{"message": map[string]any{"mid": "m9", "is_deleted": true}},
			ignored: "deleted the contact deleted a message"},
		{name: "postback with mid", ev: map[string]any{"postback": map[string]any{"mid": "m10", "title": "Yes", "payload": "yes"}},
			want: &message.Inbound{ID: "m10", Kind: message.KindButton, ButtonID: "yes", Text: "Yes"}},
		{name: "undecodable", ev: map[string]any{"message": "not an object"}, ignored: "undecodable event"},
		{name: "no mid", ev: map[string]any{"message": map[string]any{"text": "x"}}, ignored: "message without a mid"},
		{name: "optin", ev: map[string]any{"optin": map[string]any{"ref": "x"}}, ignored: "optin"},
		{name: "unknown", ev: map[string]any{"account_linking": map[string]any{}}, ignored: "event type not used"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := messenger.Parse(event(t, tt.ev), messenger.Messenger, courierAccount)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				if len(b.Messages) != 0 || len(b.Statuses) != 0 {
					t.Fatalf("got %s, want nothing", js(b))
				}
				checkIgnored(t, b.Ignored, []string{tt.ignored})
				return
			}
			want := *tt.want
			want.Contact, want.Timestamp = fbUser, ms(1459991487970)
			if len(b.Messages) != 1 || !reflect.DeepEqual(b.Messages[0], want) {
				t.Fatalf("got %s\nwant %s", js(b.Messages), js(want))
			}
		})
	}
}

// Meta batches: every entry and every messaging[] event is processed, the
// same mid twice is one message, and entries of another Page are skipped.
func TestParseBatch(t *testing.T) {
	one := string(fixture(t, "messenger/quick_reply_message_event.json"))
	read := string(fixture(t, "messenger/read_event.json"))
	body := `{"object":"page","entry":[
		{"id":"<PAGE_ID>","time":1,"messaging":[` + one + `,` + read + `]},
		{"id":"<PAGE_ID>","time":2,"messaging":[` + one + `]},
		{"id":"other-page","time":3,"messaging":[` + one + `]}]}`
	b, err := messenger.Parse([]byte(body), messenger.Messenger, "<PAGE_ID>")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Messages) != 1 || len(b.Statuses) != 1 || len(b.Ignored) != 2 {
		t.Fatalf("%s", js(b))
	}
	checkIgnored(t, b.Ignored, []string{"entry[2] addressed to account other-page", "duplicate mid"})
}

func TestParseMalformed(t *testing.T) {
	for _, body := range []string{"", "[]", "{", `{"object":"page","entry":{}}`, "null"} {
		if _, err := messenger.Parse([]byte(body), messenger.Messenger, "1"); !errors.Is(err, channel.ErrMalformed) {
			t.Errorf("%q: %v, want ErrMalformed", body, err)
		}
	}
	// A WhatsApp body is not an error, just not ours.
	b, err := messenger.Parse([]byte(`{"object":"whatsapp_business_account","entry":[]}`), messenger.Messenger, "1")
	if err != nil || len(b.Ignored) != 1 {
		t.Fatalf("%s %v", js(b), err)
	}
}
