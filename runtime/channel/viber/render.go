package viber

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/chatflow-dev/chatflow/runtime/channel/capability"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// send_message limits Render enforces that are not in the capability table.
const (
	MaxSenderNameLen   = 28   // sender.name
	MaxTrackingDataLen = 4000 // tracking_data
	MaxJSON            = 30 << 10
	// MinAPIVersion is the min_api_version of every message: what Render
	// produces (text, picture, reply keyboards) works from API version 1,
	// as in Viber's documented examples.
	MinAPIVersion = 1
)

// Sender is the bot as shown to the contact: sender.name (required, ≤ 28
// characters) and optionally the avatar URL.
type Sender struct {
	Name   string `json:"name"`
	Avatar string `json:"avatar,omitempty"`
}

// ErrInvalidMessage is wrapped by Render's errors: the Outbound cannot be
// expressed on Viber. The Client reports it as a Permanent SendError with
// code channel.CodeInvalidMessage.
var ErrInvalidMessage = errors.New("viber: invalid message")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidMessage, fmt.Sprintf(format, args...))
}

// Render turns a channel-neutral message into a send_message body for the
// sender s. Text becomes a text message; an image a picture message (its
// caption, or the text, as the picture's text); Buttons, or QuickReplies
// (Viber has none), a reply keyboard whose buttons send their title back,
// with tracking_data mapping titles to ids so Parse can report the tap as
// a button. Other media kinds are refused: Viber's video and file messages
// need the file size (and name), which message.Media does not carry.
// Templates and lists are refused; Tag is a Meta notion and ignored.
func Render(out message.Outbound, s Sender) ([]byte, error) {
	if out.To.ID == "" {
		return nil, invalid("no receiver")
	}
	return render(out, s, out.To.ID)
}

// RenderWelcome renders out as the welcome message: the body answered to
// conversation_started, a send_message body without receiver.
func RenderWelcome(out message.Outbound, s Sender) ([]byte, error) { return render(out, s, "") }

func render(out message.Outbound, s Sender, receiver string) ([]byte, error) {
	caps, _ := capability.For(message.Viber)
	if s.Name == "" {
		return nil, invalid("the sender needs a name")
	}
	if n := utf8.RuneCountInString(s.Name); n > MaxSenderNameLen {
		return nil, invalid("the sender name is %d characters, more than %d", n, MaxSenderNameLen)
	}
	if out.Template != nil || out.List != nil {
		return nil, invalid("templates and list messages are WhatsApp only")
	}
	req := sendRequest{Receiver: receiver, MinAPIVersion: MinAPIVersion, Sender: s}
	switch {
	case out.Media != nil:
		if out.Media.Kind != message.Image {
			return nil, invalid("%s messages need a file size, which a flow's media does not carry; send an image or a link", out.Media.Kind)
		}
		if out.Media.URL == "" {
			return nil, invalid("picture without a URL")
		}
		req.Type, req.Media, req.Text = "picture", out.Media.URL, out.Media.Caption
		if req.Text == "" {
			req.Text = out.Text
		}
	case out.Text != "":
		req.Type, req.Text = "text", out.Text
	default:
		return nil, invalid("nothing to send: no text or media")
	}
	if n := utf8.RuneCountInString(req.Text); n > caps.TextMax {
		return nil, invalid("text is %d characters, more than %d", n, caps.TextMax)
	}
	buttons := out.Buttons
	if len(buttons) == 0 {
		buttons = out.QuickReplies
	}
	if len(buttons) > 0 {
		if err := addKeyboard(&req, buttons, caps.Buttons); err != nil {
			return nil, err
		}
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxJSON {
		return nil, invalid("the message is %d bytes of JSON, more than 30 KB", len(b))
	}
	return b, nil
}

func addKeyboard(req *sendRequest, buttons []message.Button, caps capability.Buttons) error {
	if len(buttons) > caps.Max {
		return invalid("%d buttons, a keyboard holds %d", len(buttons), caps.Max)
	}
	// A 6-column grid: one button fills a row, two or more share it.
	cols := 6
	switch {
	case len(buttons) == 2:
		cols = 3
	case len(buttons) >= 3:
		cols = 2
	}
	kb := &keyboard{Type: "keyboard"}
	pairs := make([][2]string, len(buttons))
	for i, b := range buttons {
		if b.ID == "" || b.Title == "" {
			return invalid("button %d needs an id and a title", i)
		}
		if n := utf8.RuneCountInString(b.Title); n > caps.TitleMax {
			return invalid("button title is %d characters, more than %d", n, caps.TitleMax)
		}
		kb.Buttons = append(kb.Buttons, keyboardButton{Columns: cols, Rows: 1, ActionType: "reply",
			ActionBody: b.Title, Text: b.Title, TextSize: "regular"})
		pairs[i] = [2]string{b.ID, b.Title}
	}
	req.Keyboard = kb
	tracking, _ := json.Marshal(pairs)
	if t := trackingPrefix + string(tracking); utf8.RuneCountInString(t) <= MaxTrackingDataLen {
		req.TrackingData = t
	}
	return nil
}
