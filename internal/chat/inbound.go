package chat

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// input is one thing the contact sends: a text, or a pick of a choice the
// flow offered.
type input struct {
	Text   string
	Choice *Choice
	// ReplyTo is the channel message id of the message the choice belongs
	// to (WhatsApp context, Viber tracking data).
	ReplyTo  string
	Tracking string
}

// webhook is one inbound event in a channel's wire format.
type webhook struct {
	// Path on the executor.
	Path string
	Body []byte
}

// contact is who chats.
type contact struct {
	ID, Name string
}

// inboundWebhook builds the channel's webhook for one input, in the shape
// the channel sends (the same shape as the real fixtures in
// shared/channel-fixtures): WhatsApp Cloud API "messages" changes,
// Messenger and Instagram "messaging" events, Viber "message" callbacks.
// id is the message id (wamid, mid) or, for Viber, the message_token.
func inboundWebhook(ch message.Channel, account, phone string, c contact, in input, id int64, now time.Time) (webhook, error) {
	switch ch {
	case message.WhatsApp:
		return whatsAppWebhook(account, phone, c, in, id, now)
	case message.Messenger, message.Instagram:
		return metaMessagingWebhook(ch, account, c, in, id, now)
	case message.Viber:
		return viberWebhook(account, c, in, id, now)
	}
	return webhook{}, fmt.Errorf("chat does not speak %s", ch)
}

func whatsAppWebhook(account, phone string, c contact, in input, id int64, now time.Time) (webhook, error) {
	msg := map[string]any{
		"from":      c.ID,
		"id":        fmt.Sprintf("wamid.chatflow-chat-%d-%d", now.UnixNano(), id),
		"timestamp": strconv.FormatInt(now.Unix(), 10),
	}
	switch {
	case in.Choice == nil:
		msg["type"] = "text"
		msg["text"] = map[string]any{"body": in.Text}
	case in.Choice.Kind == ChoiceTemplateButton:
		msg["type"] = "button"
		msg["button"] = map[string]any{"payload": in.Choice.ID, "text": in.Choice.Title}
	default:
		kind := "button_reply"
		if in.Choice.Kind == ChoiceListRow {
			kind = "list_reply"
		}
		pick := map[string]any{"id": in.Choice.ID, "title": in.Choice.Title}
		if in.Choice.Description != "" {
			pick["description"] = in.Choice.Description
		}
		msg["type"] = "interactive"
		msg["interactive"] = map[string]any{"type": kind, kind: pick}
	}
	if in.ReplyTo != "" && in.Choice != nil {
		msg["context"] = map[string]any{"from": digits(phone), "id": in.ReplyTo}
	}
	doc := map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{
			"id": account,
			"changes": []any{map[string]any{
				"field": "messages",
				"value": map[string]any{
					"messaging_product": "whatsapp",
					"metadata":          map[string]any{"display_phone_number": phone, "phone_number_id": account},
					"contacts":          []any{map[string]any{"profile": map[string]any{"name": c.Name}, "wa_id": c.ID}},
					"messages":          []any{msg},
				},
			}},
		}},
	}
	body, err := json.Marshal(doc)
	return webhook{Path: channel.WebhookPath(message.WhatsApp, account), Body: body}, err
}

func metaMessagingWebhook(ch message.Channel, account string, c contact, in input, id int64, now time.Time) (webhook, error) {
	object, path := "page", channel.WebhookPath(ch, account)
	if ch == message.Instagram {
		object = "instagram"
	}
	mid := fmt.Sprintf("m_chatflow-chat-%d-%d", now.UnixNano(), id)
	ev := map[string]any{
		"sender":    map[string]any{"id": c.ID},
		"recipient": map[string]any{"id": account},
		"timestamp": now.UnixMilli(),
	}
	switch {
	case in.Choice != nil && in.Choice.Kind == ChoicePostback:
		ev["postback"] = map[string]any{"mid": mid, "title": in.Choice.Title, "payload": in.Choice.ID}
	case in.Choice != nil:
		ev["message"] = map[string]any{"mid": mid, "text": in.Choice.Title, "quick_reply": map[string]any{"payload": in.Choice.ID}}
	default:
		ev["message"] = map[string]any{"mid": mid, "text": in.Text}
	}
	doc := map[string]any{
		"object": object,
		"entry":  []any{map[string]any{"id": account, "time": now.UnixMilli(), "messaging": []any{ev}}},
	}
	body, err := json.Marshal(doc)
	return webhook{Path: path, Body: body}, err
}

func viberWebhook(account string, c contact, in input, id int64, now time.Time) (webhook, error) {
	text := in.Text
	if in.Choice != nil {
		// A reply keyboard tap arrives as a text message of the button's
		// ActionBody, with the tracking data of the message it answers.
		text = in.Choice.ID
	}
	msg := map[string]any{"type": "text", "text": text}
	if in.Tracking != "" {
		msg["tracking_data"] = in.Tracking
	}
	// message_token is an integer above 2^53 in real callbacks; any
	// increasing integer is one.
	token := now.UnixMilli()*1000 + id%1000
	doc := map[string]any{
		"event":         "message",
		"timestamp":     now.UnixMilli(),
		"message_token": token,
		"sender": map[string]any{
			"id": c.ID, "name": c.Name, "avatar": "", "country": "", "language": "en", "api_version": 1,
		},
		"message": msg,
	}
	body, err := json.Marshal(doc)
	return webhook{Path: channel.WebhookPath(message.Viber, account), Body: body}, err
}

// digits keeps the digits of a phone number (WhatsApp ids have no +).
func digits(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			out = append(out, s[i])
		}
	}
	return string(out)
}
