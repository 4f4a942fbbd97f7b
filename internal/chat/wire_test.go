package chat

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/messenger"
	"github.com/chatflow-dev/chatflow/runtime/channel/viber"
	"github.com/chatflow-dev/chatflow/runtime/channel/whatsapp"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

const account = "106540352242922"

var who = contact{ID: "15550100100", Name: "Alex"}

// parse reads a webhook with the channel package the executor uses.
func parse(t *testing.T, ch message.Channel, wh webhook) message.Inbound {
	t.Helper()
	var b channel.Batch
	var err error
	switch ch {
	case message.WhatsApp:
		b, err = whatsapp.Parse(wh.Body, account)
	case message.Messenger:
		b, err = messenger.Parse(wh.Body, messenger.Messenger, account)
	case message.Instagram:
		b, err = messenger.Parse(wh.Body, messenger.Instagram, account)
	case message.Viber:
		b, err = viber.Parse(wh.Body)
	}
	if err != nil {
		t.Fatalf("%s does not parse the webhook: %v\n%s", ch, err, wh.Body)
	}
	if len(b.Messages) != 1 {
		t.Fatalf("%s parsed %d messages (ignored: %+v) from\n%s", ch, len(b.Messages), b.Ignored, wh.Body)
	}
	return b.Messages[0]
}

func TestTextWebhooksParseAsTheChannelSendsThem(t *testing.T) {
	paths := map[message.Channel]string{
		message.WhatsApp: "/webhooks/whatsapp", message.Messenger: "/webhooks/messenger",
		message.Instagram: "/webhooks/instagram", message.Viber: "/webhooks/viber/" + account,
	}
	for ch, path := range paths {
		t.Run(string(ch), func(t *testing.T) {
			wh, err := inboundWebhook(ch, account, "+15550001111", who, input{Text: "Where is my order?"}, 1, time.Unix(1700000000, 0))
			if err != nil {
				t.Fatal(err)
			}
			if wh.Path != path {
				t.Errorf("path %s, want %s", wh.Path, path)
			}
			in := parse(t, ch, wh)
			if in.Kind != message.KindText || in.Text != "Where is my order?" || in.Contact.ID != who.ID || in.ID == "" {
				t.Errorf("parsed %+v", in)
			}
			if (ch == message.WhatsApp || ch == message.Viber) && in.Contact.Name != "Alex" {
				t.Errorf("contact name %q, want Alex", in.Contact.Name)
			}
		})
	}
}

func TestWebhookIDsDifferPerMessage(t *testing.T) {
	now := time.Unix(1700000000, 0)
	for _, ch := range []message.Channel{message.WhatsApp, message.Messenger, message.Viber} {
		a, _ := inboundWebhook(ch, account, "", who, input{Text: "a"}, 1, now)
		b, _ := inboundWebhook(ch, account, "", who, input{Text: "a"}, 2, now)
		if parse(t, ch, a).ID == parse(t, ch, b).ID {
			t.Errorf("%s: two messages share an id: the executor would drop the second as a duplicate", ch)
		}
	}
}

// TestChoicesRoundTrip renders a message with the channel's renderer, reads
// it back as the sandbox records it, picks each choice and checks that the
// executor's parser sees the tap of that button.
func TestChoicesRoundTrip(t *testing.T) {
	buttons := []message.Button{{ID: "hours", Title: "Opening hours"}, {ID: "prices", Title: "Prices"}}
	to := message.Contact{ID: who.ID}
	cases := []struct {
		ch     message.Channel
		out    message.Outbound
		render func(message.Outbound) ([]byte, error)
		kind   ChoiceKind
	}{
		{message.WhatsApp, message.Outbound{To: to, Text: "Pick one", Buttons: buttons}, whatsapp.Render, ChoiceButton},
		{message.WhatsApp, message.Outbound{To: to, Text: "Pick one", List: &message.List{Button: "Menu",
			Sections: []message.Section{{Title: "Info", Rows: buttons}}}}, whatsapp.Render, ChoiceListRow},
		{message.Messenger, message.Outbound{To: to, Text: "Pick one", QuickReplies: buttons}, first(messenger.Messenger), ChoiceQuickReply},
		{message.Messenger, message.Outbound{To: to, Text: "Pick one", Buttons: buttons}, first(messenger.Messenger), ChoicePostback},
		{message.Instagram, message.Outbound{To: to, Text: "Pick one", QuickReplies: buttons}, first(messenger.Instagram), ChoiceQuickReply},
		{message.Viber, message.Outbound{To: to, Text: "Pick one", Buttons: buttons}, func(o message.Outbound) ([]byte, error) {
			return viber.Render(o, viber.Sender{Name: "Shop"})
		}, ChoiceKeyboard},
	}
	for _, c := range cases {
		t.Run(string(c.ch)+"/"+string(c.kind), func(t *testing.T) {
			body, err := c.render(c.out)
			if err != nil {
				t.Fatal(err)
			}
			reply := parseReply(record{Seq: 7, Channel: string(c.ch), To: who.ID, MessageID: "wamid.X", Body: body})
			if len(reply.Lines) == 0 || reply.Lines[0] != "Pick one" {
				t.Errorf("lines %q, want the text first", reply.Lines)
			}
			if len(reply.Choices) != len(buttons) {
				t.Fatalf("choices %+v, want %d", reply.Choices, len(buttons))
			}
			for i, b := range buttons {
				ch := reply.Choices[i]
				if ch.Kind != c.kind || ch.Title != b.Title {
					t.Errorf("choice %d: %+v, want a %s titled %q", i, ch, c.kind, b.Title)
				}
				in := input{Choice: &ch, ReplyTo: reply.MessageID, Tracking: reply.Tracking}
				wh, err := inboundWebhook(c.ch, account, "+15550001111", who, in, int64(i), time.Unix(1700000000, 0))
				if err != nil {
					t.Fatal(err)
				}
				got := parse(t, c.ch, wh)
				if got.Kind != message.KindButton || got.ButtonID != b.ID {
					t.Errorf("picking %q: the executor sees kind %s button %q, want button %q", b.Title, got.Kind, got.ButtonID, b.ID)
				}
			}
		})
	}
}

func TestTemplateQuickReplyButton(t *testing.T) {
	out := message.Outbound{To: message.Contact{ID: who.ID}, Template: &message.Template{
		Name: "appointment_reminder", Language: "en_US",
		Components: []message.TemplateComponent{
			{Type: "body", Parameters: []message.TemplateParameter{{Type: "text", Text: "Alex"}, {Type: "text", Text: "Tue 10:30"}}},
			{Type: "button", SubType: "quick_reply", Index: 0, Parameters: []message.TemplateParameter{{Type: "payload", Payload: "confirm"}}},
		},
	}}
	body, err := whatsapp.Render(out)
	if err != nil {
		t.Fatal(err)
	}
	reply := parseReply(record{Channel: "whatsapp", Body: body})
	if want := "[template appointment_reminder (en_US)] Alex | Tue 10:30"; len(reply.Lines) != 1 || reply.Lines[0] != want {
		t.Errorf("lines %q, want %q", reply.Lines, want)
	}
	if len(reply.Choices) != 1 || reply.Choices[0].ID != "confirm" {
		t.Fatalf("choices %+v", reply.Choices)
	}
	wh, _ := inboundWebhook(message.WhatsApp, account, "", who, input{Choice: &reply.Choices[0]}, 1, time.Now())
	if got := parse(t, message.WhatsApp, wh); got.Payload != "confirm" {
		t.Errorf("the executor sees payload %q, want confirm", got.Payload)
	}
}

func TestUnknownBodiesArePrintedRaw(t *testing.T) {
	raw := json.RawMessage(`{"something":"else"}`)
	r := parseReply(record{Channel: "whatsapp", Body: raw})
	if len(r.Lines) != 1 || r.Lines[0] != `[whatsapp message] {"something":"else"}` {
		t.Errorf("lines %q", r.Lines)
	}
}

func first(f messenger.Flavor) func(message.Outbound) ([]byte, error) {
	return func(o message.Outbound) ([]byte, error) {
		bodies, err := messenger.Render(o, f, messenger.MessagingTypeResponse)
		if err != nil || len(bodies) == 0 {
			return nil, err
		}
		return bodies[0], nil
	}
}
