package whatsapp_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/channel/whatsapp"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

var recipient = message.Contact{ID: "250788123123", Channel: message.WhatsApp}

func TestRenderMatchesFixtures(t *testing.T) {
	image := &message.Media{Kind: message.Image, URL: "https://foo.bar/image.jpg"}
	tests := []struct {
		fixture string
		out     message.Outbound
	}{
		{"send_text_request.json", message.Outbound{To: recipient, Text: "Simple Message"}},
		{"send_interactive_buttons_request.json", message.Outbound{To: recipient, Text: "Interactive Button Msg",
			Buttons: []message.Button{{ID: "0", Title: "BUTTON1"}}}},
		{"send_interactive_buttons_image_header_request.json", message.Outbound{To: recipient, Text: "Interactive Button Msg",
			Media: image, Buttons: []message.Button{{ID: "0", Title: "BUTTON1"}}}},
		{"send_interactive_list_request.json", message.Outbound{To: recipient, Text: "Interactive List Msg",
			List: &message.List{Button: "Menu", Sections: []message.Section{{Rows: []message.Button{
				{ID: "0", Title: "ROW1"}, {ID: "1", Title: "ROW2"},
				{ID: "2", Title: "ROW3", Description: "Third description"}, {ID: "3", Title: "ROW4"}}}}}}},
		{"send_template_request.json", message.Outbound{To: recipient, Template: &message.Template{
			Name: "revive_issue", Language: "en_US", Components: []message.TemplateComponent{
				{Type: "body", Parameters: []message.TemplateParameter{{Type: "text", Text: "Chef"}, {Type: "text", Text: "tomorrow"}}}}}}},
		{"send_template_with_buttons_request.json", message.Outbound{To: recipient, Template: &message.Template{
			Name: "revive_issue", Language: "en_US", Components: []message.TemplateComponent{
				{Type: "header", Parameters: []message.TemplateParameter{{Type: "image", Link: "https://foo.bar/image.jpg"}}},
				{Type: "body", Parameters: []message.TemplateParameter{{Type: "text", Text: "Ryan Lewis"}, {Type: "text", Text: "niño"}}},
				{Type: "button", SubType: "quick_reply", Index: 0, Parameters: []message.TemplateParameter{{Type: "payload", Payload: "Sip"}}},
				{Type: "button", SubType: "url", Index: 1, Parameters: []message.TemplateParameter{{Type: "text", Text: "id00231"}}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			got, err := whatsapp.Render(tt.out)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, got, fixture(t, tt.fixture)) {
				t.Fatalf("\n got %s\nwant %s", got, fixture(t, tt.fixture))
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(va, vb)
}

func TestRenderOtherShapes(t *testing.T) {
	tests := []struct {
		name string
		out  message.Outbound
		want string
	}{
		{"image with caption", message.Outbound{To: recipient, Media: &message.Media{Kind: message.Image, URL: "https://x/i.jpg", Caption: "look"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"250788123123","type":"image","image":{"link":"https://x/i.jpg","caption":"look"}}`},
		{"text becomes the caption", message.Outbound{To: recipient, Text: "hi", Media: &message.Media{Kind: message.Video, URL: "https://x/v.mp4"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"250788123123","type":"video","video":{"link":"https://x/v.mp4","caption":"hi"}}`},
		{"document with filename", message.Outbound{To: recipient, Media: &message.Media{Kind: message.Document, URL: "https://x/a.pdf", Filename: "a.pdf"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"250788123123","type":"document","document":{"link":"https://x/a.pdf","filename":"a.pdf"}}`},
		{"audio", message.Outbound{To: recipient, Media: &message.Media{Kind: message.Audio, URL: "https://x/a.ogg"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"250788123123","type":"audio","audio":{"link":"https://x/a.ogg"}}`},
		{"sticker", message.Outbound{To: recipient, Media: &message.Media{Kind: message.Sticker, URL: "https://x/s.webp"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"250788123123","type":"sticker","sticker":{"link":"https://x/s.webp"}}`},
		{"quick replies become reply buttons", message.Outbound{To: recipient, Text: "Q", QuickReplies: []message.Button{{ID: "y", Title: "Yes"}}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"250788123123","type":"interactive","interactive":{"type":"button","body":{"text":"Q"},"action":{"buttons":[{"type":"reply","reply":{"id":"y","title":"Yes"}}]}}}`},
		{"business-scoped user id goes to recipient", message.Outbound{To: message.Contact{ID: "US.13491208655302741918"}, Text: "x"},
			`{"messaging_product":"whatsapp","recipient_type":"individual","recipient":"US.13491208655302741918","type":"text","text":{"body":"x","preview_url":false}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := whatsapp.Render(tt.out)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, got, []byte(tt.want)) {
				t.Fatalf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestRenderRefuses(t *testing.T) {
	four := []message.Button{{ID: "1", Title: "a"}, {ID: "2", Title: "b"}, {ID: "3", Title: "c"}, {ID: "4", Title: "d"}}
	rows := func(n int) []message.Button {
		var bs []message.Button
		for i := range n {
			bs = append(bs, message.Button{ID: string(rune('a' + i)), Title: "r"})
		}
		return bs
	}
	tests := []struct {
		name string
		out  message.Outbound
		want string
	}{
		{"nothing", message.Outbound{To: recipient}, "nothing to send"},
		{"no recipient", message.Outbound{Text: "x"}, "no recipient"},
		{"four buttons", message.Outbound{To: recipient, Text: "x", Buttons: four}, "4 reply buttons"},
		{"buttons without body", message.Outbound{To: recipient, Buttons: four[:1]}, "need a text body"},
		{"long button title", message.Outbound{To: recipient, Text: "x", Buttons: []message.Button{{ID: "1", Title: strings.Repeat("t", 21)}}}, "button title"},
		{"duplicate titles", message.Outbound{To: recipient, Text: "x", Buttons: []message.Button{{ID: "1", Title: "a"}, {ID: "2", Title: "a"}}}, "unique"},
		{"audio header", message.Outbound{To: recipient, Text: "x", Buttons: four[:1], Media: &message.Media{Kind: message.Audio, URL: "u"}}, "cannot head"},
		{"audio with text", message.Outbound{To: recipient, Text: "x", Media: &message.Media{Kind: message.Audio, URL: "u"}}, "cannot carry"},
		{"media without url", message.Outbound{To: recipient, Media: &message.Media{Kind: message.Image}}, "without a URL"},
		{"long text", message.Outbound{To: recipient, Text: strings.Repeat("é", 4097)}, "4097 characters"},
		{"eleven rows", message.Outbound{To: recipient, Text: "x", List: &message.List{Button: "M", Sections: []message.Section{{Rows: rows(11)}}}}, "11 list rows"},
		{"list without label", message.Outbound{To: recipient, Text: "x", List: &message.List{Sections: []message.Section{{Rows: rows(1)}}}}, "button label"},
		{"untitled sections", message.Outbound{To: recipient, Text: "x", List: &message.List{Button: "M", Sections: []message.Section{{Rows: rows(1)}, {Rows: rows(1)}}}}, "need titles"},
		{"template without language", message.Outbound{To: recipient, Template: &message.Template{Name: "t"}}, "language"},
		{"template parameter type", message.Outbound{To: recipient, Template: &message.Template{Name: "t", Language: "en",
			Components: []message.TemplateComponent{{Type: "body", Parameters: []message.TemplateParameter{{Type: "currency"}}}}}}, "currency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := whatsapp.Render(tt.out)
			if !errors.Is(err, whatsapp.ErrInvalidMessage) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalidMessage containing %q", err, tt.want)
			}
		})
	}
}
