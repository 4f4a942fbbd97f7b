package whatsapp

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// ErrMalformed is returned (wrapped) by Parse for a body that is not a Meta
// webhook envelope; the webhook server answers 400. It is
// channel.ErrMalformed, so channel.HTTPStatus maps it.
var ErrMalformed = channel.ErrMalformed

// fieldMessages is the only webhook field a flow uses: inbound messages,
// statuses and out-of-band errors all arrive under it.
const fieldMessages = "messages"

// Parse turns a WhatsApp webhook body into a Batch for the account
// (phone_number_id) accountID. It walks every entry, change, message and
// status. Only the "messages" field is used; changes of other fields,
// changes addressed to another phone_number_id, duplicates of a message id
// inside the body, undecodable events and value.errors[] reports go to
// Batch.Ignored with the reason. The only error is a body that is not a
// JSON webhook envelope (wrapping ErrMalformed).
func Parse(body []byte, accountID string) (channel.Batch, error) {
	var b channel.Batch
	env, err := meta.DecodeEnvelope(body)
	if err != nil {
		return b, fmt.Errorf("whatsapp: %w", err)
	}
	if env.Object != meta.ObjectWhatsApp {
		b.Ignore("object="+env.Object, "", "not a "+meta.ObjectWhatsApp+" webhook")
		return b, nil
	}
	p := parser{batch: &b, account: accountID}
	for item := range env.Changes() {
		p.change(item)
	}
	return b, nil
}

// parser holds the state of one Parse call.
type parser struct {
	batch    *channel.Batch
	account  string
	messages meta.Dedupe
	statuses meta.Dedupe
}

func (p *parser) change(item meta.ChangeItem) {
	where := fmt.Sprintf("entry[%d].changes[%d]", item.EntryIndex, item.Index)
	if item.Change.Field != fieldMessages {
		p.batch.Ignore(where+" field="+item.Change.Field, "", "webhook field not used by flows")
		return
	}
	var v changeValue
	if len(item.Change.Value) == 0 || string(item.Change.Value) == "null" {
		p.batch.Ignore(where, "", "change without a value")
		return
	}
	if err := json.Unmarshal(item.Change.Value, &v); err != nil {
		p.batch.Ignore(where, "", "undecodable value: "+err.Error())
		return
	}
	switch phone := string(v.Metadata.PhoneNumberID); {
	case phone == "":
		p.batch.Ignore(where, "", "no metadata.phone_number_id")
		return
	case phone != p.account:
		p.batch.Ignore(where, "", fmt.Sprintf("addressed to phone_number_id %s, not to this binding's account %s", phone, p.account))
		return
	}
	names := contactNames(v.Contacts)
	for i, raw := range v.Messages {
		p.message(fmt.Sprintf("%s.messages[%d]", where, i), raw, names)
	}
	for i, raw := range v.Statuses {
		p.status(fmt.Sprintf("%s.statuses[%d]", where, i), raw, names)
	}
	for _, e := range v.Errors {
		p.batch.Ignore(fmt.Sprintf("%s error %d", where, e.Code), "", e.describe())
	}
}

// contactNames maps wa_id and user_id to the profile name.
func contactNames(cs []wireContact) map[string]string {
	names := make(map[string]string, len(cs))
	for _, c := range cs {
		if c.Profile.Name == "" {
			continue
		}
		if c.WaID != "" {
			names[c.WaID] = c.Profile.Name
		}
		if c.UserID != "" {
			names[c.UserID] = c.Profile.Name
		}
	}
	return names
}

func (p *parser) message(where string, raw json.RawMessage, names map[string]string) {
	var m wireMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		p.batch.Ignore(where, "", "undecodable message: "+err.Error())
		return
	}
	if m.ID == "" {
		p.batch.Ignore(where, "", "message without an id")
		return
	}
	from := m.From
	if from == "" {
		from = m.FromUserID
	}
	if from == "" {
		p.batch.Ignore(where, m.ID, "message without a sender")
		return
	}
	if p.messages.Seen(m.ID) {
		p.batch.Ignore(where, m.ID, "duplicate message id in the same request")
		return
	}
	in := message.Inbound{
		ID:        m.ID,
		Contact:   message.Contact{ID: from, Name: names[from], Channel: message.WhatsApp},
		Timestamp: unixSeconds(int64(m.Timestamp)),
	}
	if in.Contact.Name == "" && m.FromUserID != "" {
		in.Contact.Name = names[m.FromUserID]
	}
	if m.Context != nil {
		in.ReplyTo = m.Context.ID
	}
	fillContent(&in, &m)
	p.batch.Messages = append(p.batch.Messages, in)
}

// fillContent sets Kind and the content fields from the message type.
func fillContent(in *message.Inbound, m *wireMessage) {
	in.Kind = message.KindOther
	switch m.Type {
	case "text":
		if m.Text != nil {
			in.Kind, in.Text = message.KindText, m.Text.Body
		}
	case "interactive":
		var pick *replyPick
		if it := m.Interactive; it != nil {
			switch it.Type {
			case "button_reply":
				pick = it.ButtonReply
			case "list_reply":
				pick = it.ListReply
			}
		}
		if pick != nil { // other interactive replies (nfm_reply, ...) stay KindOther
			in.Kind, in.ButtonID, in.Text = message.KindButton, pick.ID, pick.Title
		}
	case "button": // a template quick-reply button
		if m.Button != nil {
			in.Kind, in.Payload, in.Text = message.KindButton, m.Button.Payload, m.Button.Text
			in.ButtonID = m.Button.Payload
		}
	case "image", "video", "audio", "voice", "document", "sticker":
		if md := mediaOf(m); md != nil {
			in.Kind, in.Media, in.Text = message.KindMedia, md, md.Caption
		}
	case "location":
		if l := m.Location; l != nil {
			in.Kind = message.KindLocation
			in.Payload = strconv.FormatFloat(l.Latitude, 'f', -1, 64) + "," + strconv.FormatFloat(l.Longitude, 'f', -1, 64)
			in.Text = strings.TrimSpace(strings.Join(nonEmpty(l.Name, l.Address), "\n"))
		}
	}
}

func mediaOf(m *wireMessage) *message.Media {
	var w *wireMedia
	var kind message.MediaKind
	switch m.Type {
	case "image":
		w, kind = m.Image, message.Image
	case "video":
		w, kind = m.Video, message.Video
	case "audio":
		w, kind = m.Audio, message.Audio
	case "voice":
		w, kind = m.Voice, message.Audio
	case "document":
		w, kind = m.Document, message.Document
	case "sticker":
		w, kind = m.Sticker, message.Sticker
	}
	if w == nil {
		return nil
	}
	return &message.Media{Kind: kind, ID: w.ID, MIMEType: w.MIMEType, Caption: w.Caption, Filename: w.Filename}
}

func nonEmpty(ss ...string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (p *parser) status(where string, raw json.RawMessage, names map[string]string) {
	var s wireStatus
	if err := json.Unmarshal(raw, &s); err != nil {
		p.batch.Ignore(where, "", "undecodable status: "+err.Error())
		return
	}
	if s.ID == "" || s.Status == "" {
		p.batch.Ignore(where, s.ID, "status without an id or a state")
		return
	}
	if p.statuses.Seen(s.ID + "\x00" + s.Status) {
		p.batch.Ignore(where, s.ID, "duplicate status in the same request")
		return
	}
	to := s.RecipientID
	if to == "" {
		to = s.RecipientUserID
	}
	st := message.Status{
		MessageID: s.ID,
		Contact:   message.Contact{ID: to, Name: names[to], Channel: message.WhatsApp},
		State:     s.Status,
		Timestamp: unixSeconds(int64(s.Timestamp)),
	}
	if len(s.Errors) > 0 {
		e := s.Errors[0]
		st.Error = &message.SendError{Class: Classify(e.Code, 0), Code: e.Code, Message: e.describe()}
	} else if s.Status == "failed" {
		st.Error = &message.SendError{Class: message.Permanent, Message: "failed without error details"}
	}
	p.batch.Statuses = append(p.batch.Statuses, st)
}

// unixSeconds converts a WhatsApp timestamp; 0 (absent or unreadable)
// stays the zero time rather than 1970.
func unixSeconds(s int64) time.Time {
	if s <= 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}
