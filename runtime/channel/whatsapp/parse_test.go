package whatsapp_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/whatsapp"
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

func ts(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

var (
	kerry  = message.Contact{ID: "5678", Name: "Kerry Fisher", Channel: message.WhatsApp}
	tester = message.Contact{ID: "972987654321", Name: "Test Name", Channel: message.WhatsApp}
)

// The account ids (phone_number_id) of the fixtures.
const (
	courierPhone = "1234567890"
	pywaPhone    = "1122334455667"
)

func TestParseFixtures(t *testing.T) {
	tests := []struct {
		file     string
		account  string
		messages []message.Inbound
		statuses []message.Status
		ignored  []string // substrings of What+Reason, in order
	}{
		{file: "text_message.json", account: courierPhone, messages: []message.Inbound{{
			ID: "external_id", Contact: kerry, Kind: message.KindText, Text: "Hello World", Timestamp: ts(1454119029)}}},
		{file: "button_reply.json", account: courierPhone, messages: []message.Inbound{{
			ID: "external_id", Contact: kerry, Kind: message.KindButton, ButtonID: "id_button_reply", Text: "Yes", Timestamp: ts(1454119029)}}},
		{file: "list_reply.json", account: courierPhone, messages: []message.Inbound{{
			ID: "external_id", Contact: kerry, Kind: message.KindButton, ButtonID: "id_list_reply", Text: "Yes", Timestamp: ts(1454119029)}}},
		{file: "image_message.json", account: courierPhone, messages: []message.Inbound{{
			ID: "external_id", Contact: kerry, Kind: message.KindMedia, Text: "Check out my new phone!",
			Media:     &message.Media{Kind: message.Image, ID: "id_image", MIMEType: "image/jpeg", Caption: "Check out my new phone!"},
			Timestamp: ts(1454119029)}}},
		{file: "reply_with_context.json", account: pywaPhone, messages: []message.Inbound{{
			ID: "wamid.xyzxyz", Contact: tester, Kind: message.KindText, Text: "replied text",
			ReplyTo: "wamid.xyzxyz==", Timestamp: ts(1697044746)}}},
		{file: "inbound_error_unsupported.json", account: pywaPhone,
			messages: []message.Inbound{{ID: "wamid.wegrchytvwcggt=", Contact: tester, Kind: message.KindOther,
				ReplyTo: "wamid.gvwegfretge==", Timestamp: ts(1700505494)}},
			ignored: []string{"error 131000 Something went wrong: Unsupported webhook payload"}},
		{file: "signature_vector_body.json", account: "277321005464405", messages: []message.Inbound{{
			ID:      "wamid.HBgMOTcyNTQ0NDAxMjQzFQIAEhggM0RFQTNCMEEwRTY3QzUwODYzMDc4NjQ4QzM4ODAxM0YA",
			Contact: message.Contact{ID: "972544401243", Name: "PyWa Tests", Channel: message.WhatsApp},
			Kind:    message.KindText, Text: "Hey there! I am using PyWa.", Timestamp: ts(1730231903)}}},
		{file: "status_sent.json", account: courierPhone, statuses: []message.Status{{
			MessageID: "external_id", Contact: kerry, State: "sent", Timestamp: ts(1454119029)}}},
		{file: "status_delivered.json", account: pywaPhone, statuses: []message.Status{{
			MessageID: "wamid.xyzxyz", Contact: tester, State: "delivered", Timestamp: ts(1698266945)}}},
		{file: "status_read.json", account: pywaPhone, statuses: []message.Status{{
			MessageID: "wamid.xyzxyz", Contact: tester, State: "read", Timestamp: ts(1689380458)}}},
		{file: "status_sent_with_biz_opaque_callback_data.json", account: pywaPhone, statuses: []message.Status{{
			MessageID: "wamid.xyzxyz", Contact: tester, State: "sent", Timestamp: ts(1698266945)}}},
		{file: "status_failed.json", account: courierPhone, statuses: []message.Status{{
			MessageID: "external_id", Contact: kerry, State: "failed", Timestamp: ts(1454119029),
			Error: &message.SendError{Class: message.Permanent, Code: 131014,
				Message: "Request for url https://URL.jpg failed with error: 404 (Not Found)"}}}},
		{file: "errors_webhook_rate_limit.json", account: "106540352242922",
			ignored: []string{"error 130429 Rate limit hit: Message failed to send because there were too many messages"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := whatsapp.Parse(fixture(t, tt.file), tt.account)
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

			// The same body for another number is routed away, not an error.
			other, err := whatsapp.Parse(fixture(t, tt.file), "999")
			if err != nil || len(other.Messages)+len(other.Statuses) != 0 || len(other.Ignored) != 1 ||
				!strings.Contains(other.Ignored[0].Reason, "not to this binding's account 999") {
				t.Errorf("other account: %s, %v", js(other), err)
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

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// edit decodes a fixture, lets f change it and re-encodes it.
func edit(t *testing.T, name string, f func(v map[string]any)) []byte {
	t.Helper()
	var root map[string]any
	if err := json.Unmarshal(fixture(t, name), &root); err != nil {
		t.Fatal(err)
	}
	f(root["entry"].([]any)[0].(map[string]any)["changes"].([]any)[0].(map[string]any))
	b, err := json.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func value(change map[string]any) map[string]any { return change["value"].(map[string]any) }

// withMessage replaces the text fixture's message by m (keeping from, id,
// timestamp unless m sets them).
func withMessage(t *testing.T, m map[string]any) []byte {
	return edit(t, "text_message.json", func(c map[string]any) {
		msg := map[string]any{"from": "5678", "id": "external_id", "timestamp": "1454119029"}
		for k, v := range m {
			msg[k] = v
		}
		value(c)["messages"] = []any{msg}
	})
}

func TestParseMessageKinds(t *testing.T) {
	// Shapes follow channels.md §1.3 and Meta's message webhook reference
	// (the same shapes as courier's wac/*.json test payloads).
	tests := []struct {
		name string
		msg  map[string]any
		want message.Inbound
	}{
		{"template quick-reply button", map[string]any{"type": "button",
			"button":  map[string]any{"payload": "No-Button-Payload", "text": "No"},
			"context": map[string]any{"from": "5678", "id": "wamid.template"}},
			message.Inbound{Kind: message.KindButton, Payload: "No-Button-Payload", ButtonID: "No-Button-Payload", Text: "No", ReplyTo: "wamid.template"}},
		{"video", map[string]any{"type": "video", "video": map[string]any{"id": "id_video", "mime_type": "video/mp4", "caption": "c"}},
			message.Inbound{Kind: message.KindMedia, Text: "c", Media: &message.Media{Kind: message.Video, ID: "id_video", MIMEType: "video/mp4", Caption: "c"}}},
		{"audio", map[string]any{"type": "audio", "audio": map[string]any{"id": "id_audio", "mime_type": "audio/ogg; codecs=opus"}},
			message.Inbound{Kind: message.KindMedia, Media: &message.Media{Kind: message.Audio, ID: "id_audio", MIMEType: "audio/ogg; codecs=opus"}}},
		{"legacy voice", map[string]any{"type": "voice", "voice": map[string]any{"id": "id_voice", "mime_type": "audio/ogg"}},
			message.Inbound{Kind: message.KindMedia, Media: &message.Media{Kind: message.Audio, ID: "id_voice", MIMEType: "audio/ogg"}}},
		{"document", map[string]any{"type": "document", "document": map[string]any{"id": "id_doc", "mime_type": "application/pdf", "filename": "a.pdf", "caption": "cv"}},
			message.Inbound{Kind: message.KindMedia, Text: "cv", Media: &message.Media{Kind: message.Document, ID: "id_doc", MIMEType: "application/pdf", Filename: "a.pdf", Caption: "cv"}}},
		{"sticker", map[string]any{"type": "sticker", "sticker": map[string]any{"id": "id_sticker", "mime_type": "image/webp"}},
			message.Inbound{Kind: message.KindMedia, Media: &message.Media{Kind: message.Sticker, ID: "id_sticker", MIMEType: "image/webp"}}},
		{"location", map[string]any{"type": "location", "location": map[string]any{"latitude": 0.5, "longitude": -1.25, "name": "Main Street Beach", "address": "Santa Cruz, CA"}},
			message.Inbound{Kind: message.KindLocation, Payload: "0.5,-1.25", Text: "Main Street Beach\nSanta Cruz, CA"}},
		{"reaction is other", map[string]any{"type": "reaction", "reaction": map[string]any{"message_id": "wamid.x", "emoji": "👍"}},
			message.Inbound{Kind: message.KindOther}},
		{"unsupported with errors is other", map[string]any{"type": "unsupported", "errors": []any{map[string]any{"code": 131051, "title": "Unsupported message type"}}},
			message.Inbound{Kind: message.KindOther}},
		{"image without its object is other", map[string]any{"type": "image"}, message.Inbound{Kind: message.KindOther}},
		{"interactive nfm_reply is other", map[string]any{"type": "interactive", "interactive": map[string]any{"type": "nfm_reply"}},
			message.Inbound{Kind: message.KindOther}},
		{"numeric timestamp tolerated", map[string]any{"type": "text", "text": map[string]any{"body": "hi"}, "timestamp": 1454119029},
			message.Inbound{Kind: message.KindText, Text: "hi"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := whatsapp.Parse(withMessage(t, tt.msg), courierPhone)
			if err != nil || len(b.Messages) != 1 {
				t.Fatalf("Parse: %s, %v", js(b), err)
			}
			want := tt.want
			want.ID, want.Contact, want.Timestamp = "external_id", kerry, ts(1454119029)
			if !reflect.DeepEqual(b.Messages[0], want) {
				t.Fatalf("\n got %s\nwant %s", js(b.Messages[0]), js(want))
			}
		})
	}
}

func TestParseBatchRules(t *testing.T) {
	t.Run("duplicates inside one POST are dropped", func(t *testing.T) {
		body := edit(t, "text_message.json", func(c map[string]any) {
			v := value(c)
			m := v["messages"].([]any)[0]
			v["messages"] = []any{m, m}
		})
		b, _ := whatsapp.Parse(body, courierPhone)
		if len(b.Messages) != 1 || len(b.Ignored) != 1 || !strings.Contains(b.Ignored[0].Reason, "duplicate") {
			t.Fatalf("%s", js(b))
		}
	})
	t.Run("every entry and change is processed, other fields ignored", func(t *testing.T) {
		var root map[string]any
		_ = json.Unmarshal(fixture(t, "text_message.json"), &root)
		entry := root["entry"].([]any)[0].(map[string]any)
		change := entry["changes"].([]any)[0].(map[string]any)
		second := map[string]any{"field": "messages", "value": map[string]any{
			"metadata": map[string]any{"phone_number_id": courierPhone},
			"messages": []any{map[string]any{"from": "42", "id": "m2", "timestamp": "1", "type": "text", "text": map[string]any{"body": "b"}}}}}
		other := map[string]any{"field": "account_update", "value": map[string]any{"event": "x"}}
		entry["changes"] = []any{change, other, second}
		root["entry"] = []any{entry, map[string]any{"id": "2", "changes": []any{second}}}
		body, _ := json.Marshal(root)
		b, err := whatsapp.Parse(body, courierPhone)
		if err != nil {
			t.Fatal(err)
		}
		// m2 appears twice (in two entries): once kept, once a duplicate.
		if len(b.Messages) != 2 || b.Messages[1].ID != "m2" || b.Messages[1].Contact.Name != "" {
			t.Fatalf("messages %s", js(b.Messages))
		}
		checkIgnored(t, b.Ignored, []string{"field=account_update webhook field not used", "duplicate"})
	})
	t.Run("a bad message does not fail the batch", func(t *testing.T) {
		body := edit(t, "text_message.json", func(c map[string]any) {
			v := value(c)
			v["messages"] = append(v["messages"].([]any), map[string]any{"id": 5}, map[string]any{"type": "text"},
				map[string]any{"id": "no-sender", "type": "text"})
		})
		b, err := whatsapp.Parse(body, courierPhone)
		if err != nil || len(b.Messages) != 1 {
			t.Fatalf("%s %v", js(b), err)
		}
		checkIgnored(t, b.Ignored, []string{"undecodable message", "without an id", "without a sender"})
	})
	t.Run("business-scoped user id as sender", func(t *testing.T) {
		b, _ := whatsapp.Parse(withMessage(t, map[string]any{"from": nil, "from_user_id": "US.1234", "type": "text", "text": map[string]any{"body": "x"}}), courierPhone)
		if len(b.Messages) != 1 || b.Messages[0].Contact.ID != "US.1234" {
			t.Fatalf("%s", js(b))
		}
	})
	t.Run("another object is ignored", func(t *testing.T) {
		b, err := whatsapp.Parse([]byte(`{"object":"page","entry":[]}`), courierPhone)
		if err != nil || len(b.Ignored) != 1 {
			t.Fatalf("%s %v", js(b), err)
		}
	})
	t.Run("no account configured accepts nothing", func(t *testing.T) {
		b, _ := whatsapp.Parse(fixture(t, "text_message.json"), "")
		if len(b.Messages) != 0 || len(b.Ignored) != 1 {
			t.Fatalf("%s", js(b))
		}
	})
	t.Run("failed status without errors, retryable code", func(t *testing.T) {
		body := edit(t, "status_failed.json", func(c map[string]any) {
			st := value(c)["statuses"].([]any)[0].(map[string]any)
			st["errors"] = []any{map[string]any{"code": 130429, "title": "Rate limit hit"}}
			bare := map[string]any{"id": "other", "status": "failed", "timestamp": "1", "recipient_id": "5678"}
			value(c)["statuses"] = []any{st, st, bare}
		})
		b, _ := whatsapp.Parse(body, courierPhone)
		if len(b.Statuses) != 2 || b.Statuses[0].Error.Class != message.Retryable ||
			b.Statuses[1].Error == nil || b.Statuses[1].Error.Class != message.Permanent {
			t.Fatalf("%s", js(b))
		}
		checkIgnored(t, b.Ignored, []string{"duplicate status"})
	})
}

func TestParseMalformed(t *testing.T) {
	for _, body := range []string{``, `not json`, `{"object":`, `[1,2]`, `{"entry":{}}`, `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":7}]}]}`} {
		_, err := whatsapp.Parse([]byte(body), courierPhone)
		if !errors.Is(err, whatsapp.ErrMalformed) || !errors.Is(err, channel.ErrMalformed) || channel.HTTPStatus(err) != http.StatusBadRequest {
			t.Errorf("Parse(%q) = %v, want ErrMalformed (400)", body, err)
		}
	}
}
