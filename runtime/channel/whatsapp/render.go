package whatsapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/chatflow-dev/chatflow/runtime/message"
)

// Cloud API limits Render enforces, so a flow author gets a clear
// permanent error instead of Meta's generic "invalid parameter".
const (
	MaxTextLen        = 4096 // text body
	MaxButtons        = 3    // reply buttons
	MaxButtonTitleLen = 20
	MaxButtonIDLen    = 256
	MaxButtonBodyLen  = 1024 // body of a reply-button message
	MaxCaptionLen     = 1024
	MaxListButtonLen  = 20
	MaxListRows       = 10 // across all sections
	MaxListSections   = 10
	MaxRowTitleLen    = 24
	MaxRowDescLen     = 72
	MaxRowIDLen       = 200
)

// ErrInvalidMessage is wrapped by Render's errors: the Outbound cannot be
// expressed on WhatsApp. The Client reports it as a Permanent SendError
// with code channel.CodeInvalidMessage.
var ErrInvalidMessage = errors.New("whatsapp: invalid message")

// Render turns a channel-neutral message into the Cloud API send body. The
// kind is chosen in this order: Template; List (interactive list); Buttons,
// or QuickReplies when there are no Buttons (interactive reply buttons,
// with an image, video or document header when Media is one); Media (by
// link, with the caption, or Text as caption when the media has none);
// Text (preview_url false). Tag is a Messenger notion and ignored.
func Render(out message.Outbound) ([]byte, error) {
	req := sendRequest{MessagingProduct: "whatsapp", RecipientType: "individual"}
	if err := setRecipient(&req, out.To.ID); err != nil {
		return nil, err
	}
	var err error
	buttons := out.Buttons
	if len(buttons) == 0 {
		buttons = out.QuickReplies
	}
	switch {
	case out.Template != nil:
		err = renderTemplate(&req, out.Template)
	case out.List != nil:
		err = renderList(&req, out.Text, out.List)
	case len(buttons) > 0:
		err = renderButtons(&req, out.Text, out.Media, buttons)
	case out.Media != nil:
		err = renderMedia(&req, out.Media, out.Text)
	case out.Text != "":
		err = renderText(&req, out.Text)
	default:
		err = invalid("nothing to send: no text, media, buttons, list or template")
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(req)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidMessage, fmt.Sprintf(format, args...))
}

// setRecipient puts a phone number (digits, optionally with a leading +)
// in "to", and anything else, a business-scoped user id such as
// "US.13491208655302741918", in "recipient".
func setRecipient(req *sendRequest, id string) error {
	if id == "" {
		return invalid("no recipient")
	}
	if isPhone(id) {
		req.To = id
	} else {
		req.Recipient = id
	}
	return nil
}

func isPhone(id string) bool {
	digits := strings.TrimPrefix(id, "+")
	if digits == "" {
		return false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func tooLong(what, s string, max int) error {
	if n := utf8.RuneCountInString(s); n > max {
		return invalid("%s is %d characters, more than %d", what, n, max)
	}
	return nil
}

func renderText(req *sendRequest, text string) error {
	if err := tooLong("text", text, MaxTextLen); err != nil {
		return err
	}
	req.Type = "text"
	req.Text = &textBody{Body: text, PreviewURL: false}
	return nil
}

func renderMedia(req *sendRequest, m *message.Media, text string) error {
	body, err := mediaRef(m)
	if err != nil {
		return err
	}
	body.Caption = m.Caption
	if body.Caption == "" {
		body.Caption = text
	}
	switch m.Kind {
	case message.Image, message.Video, message.Document:
		if err := tooLong("caption", body.Caption, MaxCaptionLen); err != nil {
			return err
		}
	default:
		if body.Caption != "" {
			return invalid("%s messages cannot carry a caption or text", m.Kind)
		}
	}
	if m.Kind == message.Document {
		body.Filename = m.Filename
	}
	req.Type = string(m.Kind)
	switch m.Kind {
	case message.Image:
		req.Image = body
	case message.Video:
		req.Video = body
	case message.Audio:
		req.Audio = body
	case message.Document:
		req.Document = body
	case message.Sticker:
		req.Sticker = body
	default:
		return invalid("unknown media kind %q", m.Kind)
	}
	return nil
}

// mediaRef is the link (or uploaded media id) of m.
func mediaRef(m *message.Media) (*mediaBody, error) {
	switch {
	case m.URL != "":
		return &mediaBody{Link: m.URL}, nil
	case m.ID != "":
		return &mediaBody{ID: m.ID}, nil
	}
	return nil, invalid("%s media without a URL", m.Kind)
}

func renderButtons(req *sendRequest, text string, media *message.Media, buttons []message.Button) error {
	if len(buttons) > MaxButtons {
		return invalid("%d reply buttons, WhatsApp allows %d", len(buttons), MaxButtons)
	}
	if text == "" {
		return invalid("reply buttons need a text body")
	}
	if err := tooLong("reply-button body", text, MaxButtonBodyLen); err != nil {
		return err
	}
	it := &interactive{Type: "button"}
	it.Body.Text = text
	seen := map[string]bool{}
	for i, b := range buttons {
		if b.ID == "" || b.Title == "" {
			return invalid("button %d needs an id and a title", i)
		}
		if err := tooLong("button title", b.Title, MaxButtonTitleLen); err != nil {
			return err
		}
		if err := tooLong("button id", b.ID, MaxButtonIDLen); err != nil {
			return err
		}
		if seen[b.Title] {
			return invalid("button titles must be unique, %q repeats", b.Title)
		}
		seen[b.Title] = true
		var rb replyButton
		rb.Type, rb.Reply.ID, rb.Reply.Title = "reply", b.ID, b.Title
		it.Action.Buttons = append(it.Action.Buttons, rb)
	}
	if media != nil {
		ref, err := mediaRef(media)
		if err != nil {
			return err
		}
		h := &header{Type: string(media.Kind)}
		switch media.Kind {
		case message.Image:
			h.Image = ref
		case message.Video:
			h.Video = ref
		case message.Document:
			ref.Filename = media.Filename
			h.Document = ref
		default:
			return invalid("a %s cannot head a reply-button message", media.Kind)
		}
		it.Header = h
	}
	req.Type, req.Interactive = "interactive", it
	return nil
}

func renderList(req *sendRequest, text string, l *message.List) error {
	if text == "" {
		return invalid("a list needs a text body")
	}
	if err := tooLong("list body", text, MaxTextLen); err != nil {
		return err
	}
	if l.Button == "" {
		return invalid("a list needs a button label")
	}
	if err := tooLong("list button label", l.Button, MaxListButtonLen); err != nil {
		return err
	}
	if len(l.Sections) == 0 || len(l.Sections) > MaxListSections {
		return invalid("a list needs 1 to %d sections, not %d", MaxListSections, len(l.Sections))
	}
	it := &interactive{Type: "list"}
	it.Body.Text = text
	it.Action.Button = l.Button
	rows := 0
	for _, s := range l.Sections {
		if len(l.Sections) > 1 && s.Title == "" {
			return invalid("sections of a multi-section list need titles")
		}
		sec := section{Title: s.Title}
		for _, r := range s.Rows {
			if r.ID == "" || r.Title == "" {
				return invalid("list rows need an id and a title")
			}
			for _, c := range []struct {
				what, s string
				max     int
			}{{"row title", r.Title, MaxRowTitleLen}, {"row description", r.Description, MaxRowDescLen}, {"row id", r.ID, MaxRowIDLen}} {
				if err := tooLong(c.what, c.s, c.max); err != nil {
					return err
				}
			}
			sec.Rows = append(sec.Rows, row{ID: r.ID, Title: r.Title, Description: r.Description})
			rows++
		}
		if len(sec.Rows) == 0 {
			return invalid("list section %q has no rows", s.Title)
		}
		it.Action.Sections = append(it.Action.Sections, sec)
	}
	if rows > MaxListRows {
		return invalid("%d list rows, WhatsApp allows %d across all sections", rows, MaxListRows)
	}
	req.Type, req.Interactive = "interactive", it
	return nil
}

func renderTemplate(req *sendRequest, t *message.Template) error {
	if t.Name == "" || t.Language == "" {
		return invalid("a template needs a name and a language")
	}
	tpl := &template{Name: t.Name}
	tpl.Language.Policy, tpl.Language.Code = "deterministic", t.Language
	for _, c := range t.Components {
		comp := component{Type: c.Type, SubType: c.SubType}
		if c.Type == "button" {
			idx := strconv.Itoa(c.Index)
			comp.Index = &idx
		}
		for _, p := range c.Parameters {
			param := parameter{Type: p.Type}
			switch p.Type {
			case "text":
				param.Text = p.Text
			case "payload":
				param.Payload = p.Payload
			case "image":
				param.Image = &mediaBody{Link: p.Link}
			case "video":
				param.Video = &mediaBody{Link: p.Link}
			case "document":
				param.Document = &mediaBody{Link: p.Link}
			default:
				return invalid("template parameter type %q", p.Type)
			}
			comp.Parameters = append(comp.Parameters, param)
		}
		tpl.Components = append(tpl.Components, comp)
	}
	req.Type, req.Template = "template", tpl
	return nil
}
