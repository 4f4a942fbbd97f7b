package chat

import (
	"fmt"
	"strings"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/messenger"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/channel/viber"
	"github.com/chatflow-dev/chatflow/runtime/channel/whatsapp"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// The channels' wire formats, both ways, for the chat sessions here and for
// tools that play a contact against an executor (the repository's replay of
// every transcript test through an executor process).

// Input is one thing the contact does: a text, or a pick of a choice a
// message offered (Choice, with ReplyTo and Tracking from that message's
// Reply).
type Input = input

// Account is the bound account a conversation goes through.
type Account struct {
	Channel message.Channel
	// ID is the phone_number_id, Page id, Instagram account id or Viber
	// bot id; Phone the WhatsApp number.
	ID, Phone string
	// SenderName is the name Viber shows on the bot's messages.
	SenderName string
	// Manual: the flow writes first (Messenger sends as UPDATE, not
	// RESPONSE).
	Manual bool
}

// Webhook builds the channel's webhook of one input from a contact, as the
// channel posts it: the path on the executor and the body. id numbers the
// message (the channel's message id derives from it and now).
func (a Account) Webhook(contactID, contactName string, in Input, id int64, now time.Time) (path string, body []byte, err error) {
	wh, err := inboundWebhook(a.Channel, a.ID, a.Phone, contact{ID: contactID, Name: contactName}, in, id, now)
	return wh.Path, wh.Body, err
}

// Sign returns the header that signs a webhook body with the binding's
// secret: the app secret (Meta) or the auth token (Viber).
func (a Account) Sign(body []byte, secret string) (header, value string) {
	if a.Channel == message.Viber {
		return viber.SignatureHeader, viber.Sign(body, secret)
	}
	return meta.SignatureHeader, meta.Sign(body, secret)
}

// Parse reads a webhook body with the parser the executor uses.
func (a Account) Parse(body []byte) (channel.Batch, error) {
	switch a.Channel {
	case message.WhatsApp:
		return whatsapp.Parse(body, a.ID)
	case message.Messenger, message.Instagram:
		f, _ := messenger.FlavorOf(a.Channel)
		return messenger.Parse(body, f, a.ID)
	case message.Viber:
		return viber.Parse(body)
	}
	return channel.Batch{}, fmt.Errorf("chat does not speak %s", a.Channel)
}

// Render turns a message into the channel's send requests, with the
// renderer of the channel's Sender: one body, or several for Messenger
// and Instagram (media and text go separately).
func (a Account) Render(out message.Outbound) ([][]byte, error) {
	one := func(b []byte, err error) ([][]byte, error) {
		if err != nil {
			return nil, err
		}
		return [][]byte{b}, nil
	}
	switch a.Channel {
	case message.WhatsApp:
		return one(whatsapp.Render(out))
	case message.Messenger, message.Instagram:
		f, _ := messenger.FlavorOf(a.Channel)
		mt := messenger.MessagingTypeResponse
		if a.Manual {
			mt = messenger.MessagingTypeUpdate
		}
		return messenger.Render(out, f, mt)
	case message.Viber:
		return one(viber.Render(out, viber.Sender{Name: a.SenderName}))
	}
	return nil, fmt.Errorf("chat does not speak %s", a.Channel)
}

// ParseReply reads a send request of the channel, in its wire format, as
// the contact sees it: lines and numbered choices.
func ParseReply(ch message.Channel, messageID string, body []byte) Reply {
	return parseReply(record{Channel: strings.ToLower(string(ch)), MessageID: messageID, Body: body})
}
