package messenger_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/channel/messenger"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// sameJSON compares two JSON documents by value.
func sameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want invalid JSON %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON differs:\n got %s\nwant %s", got, want)
	}
}

// withField returns the fixture with top-level field k set to v (courier's
// fixtures use messaging_type UPDATE, a flow's replies are RESPONSE).
func withField(t *testing.T, name, k string, v any) []byte {
	var m map[string]any
	if err := json.Unmarshal(fixture(t, name), &m); err != nil {
		t.Fatal(err)
	}
	m[k] = v
	b, _ := json.Marshal(m)
	return b
}

func to(id string, ch message.Channel) message.Contact { return message.Contact{ID: id, Channel: ch} }

func TestRenderFixtures(t *testing.T) {
	tests := []struct {
		name   string
		flavor messenger.Flavor
		mtype  string
		out    message.Outbound
		want   []byte
	}{
		{name: "text RESPONSE", flavor: messenger.Messenger,
			out:  message.Outbound{To: to("12345", message.Messenger), Text: "Simple Message"},
			want: fixture(t, "messenger/send_text_request_RESPONSE.json")},
		{name: "text HUMAN_AGENT", flavor: messenger.Messenger,
			out:  message.Outbound{To: to("12345", message.Messenger), Text: "Simple Message", Tag: "HUMAN_AGENT"},
			want: fixture(t, "messenger/send_text_request_HUMAN_AGENT_tag.json")},
		{name: "quick replies (courier, UPDATE)", flavor: messenger.Messenger, mtype: messenger.MessagingTypeUpdate,
			out: message.Outbound{To: to("12345", message.Messenger), Text: "Are you happy?",
				QuickReplies: []message.Button{{ID: "Yes", Title: "Yes"}, {ID: "No", Title: "No"}}},
			want: fixture(t, "messenger/send_quick_replies_request_courier.json")},
		{name: "image (courier, UPDATE)", flavor: messenger.Messenger, mtype: messenger.MessagingTypeUpdate,
			out:  message.Outbound{To: to("12345", message.Messenger), Media: &message.Media{Kind: message.Image, URL: "https://foo.bar/image.jpg"}},
			want: fixture(t, "messenger/send_image_attachment_request.json")},
		{name: "instagram quick replies", flavor: messenger.Instagram,
			out: message.Outbound{To: to("<IGSID>", message.Instagram), Text: "<SOME_TEXT>",
				QuickReplies: []message.Button{{ID: "<POSTBACK_PAYLOAD_1>", Title: "<TITLE_1>"}, {ID: "<POSTBACK_PAYLOAD_2>", Title: "<TITLE_2>"}}},
			want: fixture(t, "instagram/send_quick_replies_request.json")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bodies, err := messenger.Render(tt.out, tt.flavor, tt.mtype)
			if err != nil {
				t.Fatal(err)
			}
			if len(bodies) != 1 {
				t.Fatalf("%d bodies", len(bodies))
			}
			sameJSON(t, bodies[0], tt.want)
		})
	}
	// Meta's own quick-reply example adds image_url, which a flow's quick
	// replies do not have; everything else matches.
	var meta map[string]any
	_ = json.Unmarshal(fixture(t, "messenger/send_quick_replies_request.json"), &meta)
	for _, q := range meta["message"].(map[string]any)["quick_replies"].([]any) {
		delete(q.(map[string]any), "image_url")
	}
	want, _ := json.Marshal(meta)
	bodies, err := messenger.Render(message.Outbound{To: to("<PSID>", message.Messenger), Text: "Pick a color:",
		QuickReplies: []message.Button{{ID: "<POSTBACK_PAYLOAD>", Title: "Red"}, {ID: "<POSTBACK_PAYLOAD>", Title: "Green"}}}, messenger.Messenger, "")
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, bodies[0], want)
}

func TestRenderButtonsAndMedia(t *testing.T) {
	out := message.Outbound{To: to("u1", message.Messenger), Text: "Pick one",
		Media:   &message.Media{Kind: message.Image, URL: "https://x/i.png", Caption: "our shop"},
		Buttons: []message.Button{{ID: "a", Title: "A"}, {ID: "b", Title: "B"}}}
	bodies, err := messenger.Render(out, messenger.Messenger, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"recipient":{"id":"u1"},"messaging_type":"RESPONSE","message":{"attachment":{"type":"image","payload":{"url":"https://x/i.png","is_reusable":true}}}}`,
		`{"recipient":{"id":"u1"},"messaging_type":"RESPONSE","message":{"text":"our shop"}}`,
		`{"recipient":{"id":"u1"},"messaging_type":"RESPONSE","message":{"attachment":{"type":"template","payload":{"template_type":"button","text":"Pick one","buttons":[{"type":"postback","title":"A","payload":"a"},{"type":"postback","title":"B","payload":"b"}]}}}}`,
	}
	if len(bodies) != len(want) {
		t.Fatalf("got %d bodies: %s", len(bodies), bodies)
	}
	for i := range want {
		sameJSON(t, bodies[i], []byte(want[i]))
	}
	// Instagram has no buttons: the same choices become quick replies.
	out.To.Channel, out.Media = message.Instagram, nil
	bodies, err = messenger.Render(out, messenger.Instagram, "")
	if err != nil || len(bodies) != 1 {
		t.Fatal(bodies, err)
	}
	sameJSON(t, bodies[0], []byte(`{"recipient":{"id":"u1"},"messaging_type":"RESPONSE","message":{"text":"Pick one","quick_replies":[{"content_type":"text","title":"A","payload":"a"},{"content_type":"text","title":"B","payload":"b"}]}}`))
	// Quick replies on a media-only message ride on the attachment.
	bodies, err = messenger.Render(message.Outbound{To: to("u1", message.Messenger), Media: &message.Media{Kind: message.Audio, URL: "https://x/a.mp3"},
		QuickReplies: []message.Button{{ID: "ok", Title: "OK"}}}, messenger.Messenger, "")
	if err != nil || len(bodies) != 1 {
		t.Fatal(bodies, err)
	}
	sameJSON(t, bodies[0], []byte(`{"recipient":{"id":"u1"},"messaging_type":"RESPONSE","message":{"attachment":{"type":"audio","payload":{"url":"https://x/a.mp3","is_reusable":true}},"quick_replies":[{"content_type":"text","title":"OK","payload":"ok"}]}}`))
}

func TestRenderRefuses(t *testing.T) {
	u := to("u1", message.Messenger)
	thirteen := make([]message.Button, 14)
	for i := range thirteen {
		thirteen[i] = message.Button{ID: "id", Title: "t"}
	}
	tests := []struct {
		name   string
		flavor messenger.Flavor
		out    message.Outbound
		want   string
	}{
		{"no recipient", messenger.Messenger, message.Outbound{Text: "x"}, "no recipient"},
		{"empty", messenger.Messenger, message.Outbound{To: u}, "nothing to send"},
		{"template", messenger.Messenger, message.Outbound{To: u, Template: &message.Template{Name: "x", Language: "en"}}, "WhatsApp only"},
		{"list", messenger.Messenger, message.Outbound{To: u, Text: "x", List: &message.List{Button: "b"}}, "WhatsApp only"},
		{"long text", messenger.Messenger, message.Outbound{To: u, Text: strings.Repeat("x", 2000)}, "2000 characters, more than 1999"},
		{"long instagram text", messenger.Instagram, message.Outbound{To: u, Text: strings.Repeat("x", 1000)}, "1000 characters, more than 999"},
		{"four buttons", messenger.Messenger, message.Outbound{To: u, Text: "x", Buttons: thirteen[:4]}, "4 buttons"},
		{"long button template text", messenger.Messenger, message.Outbound{To: u, Text: strings.Repeat("x", 641), Buttons: thirteen[:1]}, "more than 640"},
		{"buttons without text", messenger.Messenger, message.Outbound{To: u, Buttons: thirteen[:1]}, "need a text"},
		{"14 quick replies", messenger.Messenger, message.Outbound{To: u, Text: "x", QuickReplies: thirteen}, "14 quick replies"},
		{"long quick reply", messenger.Messenger, message.Outbound{To: u, Text: "x", QuickReplies: []message.Button{{ID: "a", Title: strings.Repeat("t", 21)}}}, "title is 21"},
		{"quick reply without id", messenger.Messenger, message.Outbound{To: u, Text: "x", QuickReplies: []message.Button{{Title: "a"}}}, "needs an id"},
		{"both choices", messenger.Messenger, message.Outbound{To: u, Text: "x", Buttons: thirteen[:1], QuickReplies: thirteen[:1]}, "cannot be combined"},
		{"sticker", messenger.Messenger, message.Outbound{To: u, Media: &message.Media{Kind: message.Sticker, URL: "https://x"}}, "sticker attachments"},
		{"instagram document", messenger.Instagram, message.Outbound{To: u, Media: &message.Media{Kind: message.Document, URL: "https://x"}}, "document attachments"},
		{"media without URL", messenger.Messenger, message.Outbound{To: u, Media: &message.Media{Kind: message.Image, ID: "1"}}, "without a URL"},
		{"retired tag", messenger.Messenger, message.Outbound{To: u, Text: "x", Tag: "ACCOUNT_UPDATE"}, "not accepted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := messenger.Render(tt.out, tt.flavor, "")
			if !errors.Is(err, messenger.ErrInvalidMessage) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrInvalidMessage with %q", err, tt.want)
			}
		})
	}
}
