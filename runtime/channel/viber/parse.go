package viber

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// Parse turns one Viber callback into a Batch (Viber sends one event per
// request; the bot is known from the URL, not the payload):
//
//   - message → Messages: text (a keyboard tap, recognised by the
//     tracking_data Render attached, becomes KindButton with the button's
//     id), picture/video/file/sticker → KindMedia, location → KindLocation
//     ("lat,lon"), contact/url/... → KindOther; ID is message_token;
//   - conversation_started → Opened (the executor may answer with a
//     welcome message); unsubscribed → Unsubscribed (the session ends);
//   - delivered, seen, failed → Statuses delivered, read, failed (failed
//     with a Permanent error carrying desc);
//   - webhook (set_webhook's availability check), subscribed,
//     client_status and unknown events → Ignored.
//
// message_token and timestamp are read as integers from their JSON text
// (never float64); a token that is not an integer leaves the event
// without an id, and a message without one is ignored. The only error is
// a body that is not a JSON object with an "event" (wrapping
// channel.ErrMalformed).
func Parse(body []byte) (channel.Batch, error) {
	var b channel.Batch
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return b, fmt.Errorf("viber: %w: not a JSON object", channel.ErrMalformed)
	}
	var cb callback
	if err := json.Unmarshal(trimmed, &cb); err != nil {
		return b, fmt.Errorf("viber: %w: %v", channel.ErrMalformed, err)
	}
	if cb.Event == "" {
		return b, fmt.Errorf("viber: %w: no event", channel.ErrMalformed)
	}
	token, _ := integer(cb.MessageToken)
	var ts time.Time
	if ms, ok := integer(cb.Timestamp); ok {
		ts = millis(ms)
	}
	what := "event=" + cb.Event
	var ev eventBody
	if err := json.Unmarshal(trimmed, &ev); err != nil {
		b.Ignore(what, token, "undecodable event: "+err.Error())
		return b, nil
	}
	contactOf := func(u *user, id string) message.Contact {
		c := message.Contact{ID: id, Channel: message.Viber}
		if u != nil {
			c.ID, c.Name = u.ID, u.Name
		}
		return c
	}
	switch cb.Event {
	case "message":
		switch {
		case token == "":
			b.Ignore(what, "", "message without an integer message_token")
		case ev.Sender == nil || ev.Sender.ID == "":
			b.Ignore(what, token, "message without a sender id")
		case ev.Message == nil:
			b.Ignore(what, token, "message event without a message")
		default:
			in := message.Inbound{ID: token, Contact: contactOf(ev.Sender, ""), Timestamp: ts}
			fillContent(&in, ev.Message)
			b.Messages = append(b.Messages, in)
		}
	case "conversation_started":
		if ev.User == nil || ev.User.ID == "" {
			b.Ignore(what, token, "conversation_started without a user id")
			break
		}
		b.Opened = append(b.Opened, channel.ContactEvent{ID: token, Contact: contactOf(ev.User, ""), Timestamp: ts})
	case "unsubscribed":
		if ev.UserID == "" {
			b.Ignore(what, token, "unsubscribed without a user_id")
			break
		}
		b.Unsubscribed = append(b.Unsubscribed, channel.ContactEvent{ID: token, Contact: contactOf(nil, ev.UserID), Timestamp: ts})
	case "delivered", "seen", "failed":
		if token == "" || ev.UserID == "" {
			b.Ignore(what, token, "receipt without an integer message_token or a user_id")
			break
		}
		st := message.Status{MessageID: token, Contact: contactOf(nil, ev.UserID), State: cb.Event, Timestamp: ts}
		switch cb.Event {
		case "seen":
			st.State = "read"
		case "failed":
			desc := ev.Desc
			if desc == "" {
				desc = "failed without a description"
			}
			st.Error = &message.SendError{Class: message.Permanent, Message: desc}
		}
		b.Statuses = append(b.Statuses, st)
	case "webhook":
		b.Ignore(what, token, "set_webhook availability check")
	case "subscribed":
		b.Ignore(what, token, "the contact subscribed; a run starts with their first message")
	default:
		b.Ignore(what, token, "event not used by flows")
	}
	return b, nil
}

// integer reads a JSON number that must be an integer (int64), from its
// text.
func integer(n json.Number) (string, bool) {
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return "", false
	}
	return strconv.FormatInt(v, 10), true
}

func millis(ms string) time.Time {
	v, _ := strconv.ParseInt(ms, 10, 64)
	if v <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// fillContent sets the kind and content of a message from its type.
func fillContent(in *message.Inbound, m *wireMessage) {
	in.Kind = message.KindOther
	media := func(k message.MediaKind) {
		in.Kind, in.Text = message.KindMedia, m.Text
		in.Media = &message.Media{Kind: k, URL: m.Media, Caption: m.Text, Filename: m.FileName}
	}
	switch m.Type {
	case "text":
		in.Kind, in.Text = message.KindText, m.Text
		if id, title, ok := buttonTap(m.TrackingData, m.Text); ok {
			in.Kind, in.ButtonID, in.Text = message.KindButton, id, title
		}
	case "picture":
		media(message.Image)
	case "video":
		media(message.Video)
	case "file":
		media(message.Document)
	case "sticker":
		media(message.Sticker)
		if id, ok := integer(m.StickerID); ok {
			in.Media.ID = id
		}
	case "location":
		if l := m.Location; l != nil {
			in.Kind = message.KindLocation
			in.Payload = strconv.FormatFloat(l.Lat, 'f', -1, 64) + "," + strconv.FormatFloat(l.Lon, 'f', -1, 64)
		}
	case "url":
		in.Payload = m.Media
	default: // contact, rich_media, ...
		in.Text = m.Text
	}
}

// trackingPrefix marks the tracking_data Render attaches to a keyboard:
// the prefix and a JSON array of [id, title] pairs. Viber returns a
// message's tracking_data with the contact's reply, and a reply button's
// tap arrives as a text message whose text is the ActionBody (the title).
const trackingPrefix = "chatflow.buttons:"

// buttonTap reports whether text is a tap of one of the buttons the
// tracking data names, with the button's id and title.
func buttonTap(tracking, text string) (id, title string, ok bool) {
	raw, ok := strings.CutPrefix(tracking, trackingPrefix)
	if !ok {
		return "", "", false
	}
	var pairs [][2]string
	if json.Unmarshal([]byte(raw), &pairs) != nil {
		return "", "", false
	}
	for _, p := range pairs {
		if p[1] == text {
			return p[0], p[1], true
		}
	}
	return "", "", false
}
