package messenger

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/chatflow-dev/chatflow/runtime/message"
)

// Send API values and limits that are not in the capability table.
const (
	// MessagingTypeResponse marks a reply to the contact's message, inside
	// the 24-hour window.
	MessagingTypeResponse = "RESPONSE"
	// MessagingTypeUpdate marks a proactive message inside the window
	// (the run API of a Manual flow).
	MessagingTypeUpdate = "UPDATE"
	// MessagingTypeTag sends with a message tag, outside the window.
	MessagingTypeTag = "MESSAGE_TAG"
	// MaxPayloadLen bounds a quick reply or postback payload ("payload ≤
	// 1000 chars").
	MaxPayloadLen = 1000
)

// ErrInvalidMessage is wrapped by Render's errors: the Outbound cannot be
// expressed on the flavour's channel. The Client reports it as a Permanent
// SendError with code channel.CodeInvalidMessage.
var ErrInvalidMessage = errors.New("invalid message")

// Render turns a channel-neutral message into the Send API request bodies
// that deliver it, in order; messagingType is MessagingTypeResponse or
// MessagingTypeUpdate (empty means RESPONSE) and is replaced by
// MESSAGE_TAG when out.Tag is set (the flow asks for HUMAN_AGENT when it
// writes outside the 24-hour window).
//
// One Send API message carries either text or one attachment, so a
// message with media takes several requests: the attachment first, then
// its caption, then the text with the choices. Choices go on the last
// request: Buttons as a button template (Messenger; on Instagram, which
// has no buttons, as quick replies), QuickReplies as quick_replies. Lists
// and WhatsApp templates are refused, and so is anything over the limits
// of the capability table (text length, number and title length of
// buttons and quick replies, media kinds, tags).
func Render(out message.Outbound, f Flavor, messagingType string) ([][]byte, error) {
	caps := f.caps()
	if caps.Channel == "" {
		return nil, invalid(f, "unknown flavour")
	}
	if out.To.ID == "" {
		return nil, invalid(f, "no recipient")
	}
	if out.Template != nil {
		return nil, invalid(f, "message templates are WhatsApp only")
	}
	if out.List != nil {
		return nil, invalid(f, "list messages are WhatsApp only")
	}
	base := sendRequest{MessagingType: messagingType}
	if base.MessagingType == "" {
		base.MessagingType = MessagingTypeResponse
	}
	base.Recipient.ID = out.To.ID
	if out.Tag != "" {
		if !caps.SupportsTag(out.Tag) {
			return nil, invalid(f, "message tag %q is not accepted; %s takes %v", out.Tag, f, caps.Tags)
		}
		base.MessagingType, base.Tag = MessagingTypeTag, out.Tag
	}

	buttons, quick := out.Buttons, out.QuickReplies
	if len(buttons) > 0 && len(quick) > 0 {
		return nil, invalid(f, "buttons and quick replies cannot be combined")
	}
	if len(buttons) > 0 && !caps.Buttons.Supported {
		buttons, quick = nil, buttons // Instagram: offer the choices as quick replies
	}

	var msgs []outMessage
	if m := out.Media; m != nil {
		a, err := mediaAttachment(f, m)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, outMessage{Attachment: a})
		if m.Caption != "" && m.Caption != out.Text {
			msgs = append(msgs, outMessage{Text: m.Caption})
		}
	}
	switch {
	case len(buttons) > 0:
		t, err := buttonTemplate(f, out.Text, buttons)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, outMessage{Attachment: t})
	case out.Text != "":
		msgs = append(msgs, outMessage{Text: out.Text})
	}
	if len(msgs) == 0 {
		return nil, invalid(f, "nothing to send: no text, media or buttons")
	}
	for _, m := range msgs {
		if err := tooLong(f, "text", m.Text, caps.TextMax); err != nil {
			return nil, err
		}
	}
	if len(quick) > 0 {
		qr, err := quickReplies(f, quick)
		if err != nil {
			return nil, err
		}
		msgs[len(msgs)-1].QuickReplies = qr
	}
	bodies := make([][]byte, len(msgs))
	for i, m := range msgs {
		req := base
		req.Message = m
		b, err := json.Marshal(req)
		if err != nil {
			return nil, err
		}
		bodies[i] = b
	}
	return bodies, nil
}

func invalid(f Flavor, format string, args ...any) error {
	return fmt.Errorf("%s: %w: %s", f, ErrInvalidMessage, fmt.Sprintf(format, args...))
}

func tooLong(f Flavor, what, s string, max int) error {
	if max <= 0 {
		return nil
	}
	if n := utf8.RuneCountInString(s); n > max {
		return invalid(f, "%s is %d characters, more than %d", what, n, max)
	}
	return nil
}

// attachmentTypes maps media kinds to Send API attachment types.
var attachmentTypes = map[message.MediaKind]string{
	message.Image: "image", message.Video: "video", message.Audio: "audio", message.Document: "file",
}

func mediaAttachment(f Flavor, m *message.Media) (*attachment, error) {
	typ, ok := attachmentTypes[m.Kind]
	if !ok || !f.caps().SupportsMedia(m.Kind) {
		return nil, invalid(f, "%s attachments cannot be sent", m.Kind)
	}
	if m.URL == "" {
		return nil, invalid(f, "%s attachment without a URL", m.Kind)
	}
	return &attachment{Type: typ, Payload: attachmentPayload{URL: m.URL, IsReusable: true}}, nil
}

func buttonTemplate(f Flavor, text string, buttons []message.Button) (*attachment, error) {
	b := f.caps().Buttons
	if text == "" {
		return nil, invalid(f, "buttons need a text")
	}
	if err := tooLong(f, "button template text", text, b.TextMax); err != nil {
		return nil, err
	}
	if len(buttons) > b.Max {
		return nil, invalid(f, "%d buttons, a %s holds %d", len(buttons), b.Form, b.Max)
	}
	t := &attachment{Type: "template", Payload: attachmentPayload{TemplateType: "button", Text: text}}
	for i, btn := range buttons {
		if err := choice(f, i, btn, b.TitleMax); err != nil {
			return nil, err
		}
		t.Payload.Buttons = append(t.Payload.Buttons, button{Type: "postback", Title: btn.Title, Payload: btn.ID})
	}
	return t, nil
}

func quickReplies(f Flavor, qs []message.Button) ([]quickReply, error) {
	q := f.caps().QuickReplies
	if !q.Supported {
		return nil, invalid(f, "quick replies are not supported")
	}
	if len(qs) > q.Max {
		return nil, invalid(f, "%d quick replies, at most %d", len(qs), q.Max)
	}
	out := make([]quickReply, len(qs))
	for i, b := range qs {
		if err := choice(f, i, b, q.TitleMax); err != nil {
			return nil, err
		}
		out[i] = quickReply{ContentType: "text", Title: b.Title, Payload: b.ID}
	}
	return out, nil
}

// choice checks one button or quick reply: an id (the payload that comes
// back) and a title within the limits.
func choice(f Flavor, i int, b message.Button, titleMax int) error {
	if b.ID == "" || b.Title == "" {
		return invalid(f, "choice %d needs an id and a title", i)
	}
	if err := tooLong(f, "title", b.Title, titleMax); err != nil {
		return err
	}
	return tooLong(f, "payload", b.ID, MaxPayloadLen)
}
