package messenger

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// likeStickers are the sticker ids of Messenger's thumbs-up "like" button
// (courier maps 369239263222822 and its sizes to a 👍); a like is not a
// message for a flow.
var likeStickers = map[string]bool{"369239263222822": true, "369239343222814": true, "369239383222810": true}

// Parse turns a Messenger or Instagram webhook body into a Batch for the
// account accountID (the Page id, or the Instagram professional account
// id). It walks every entry and every messaging[] event:
//
//   - messages (text, quick reply taps, attachments) and postbacks (button
//     taps, Get Started, ice breakers) become Messages, deduplicated by mid
//     within the body;
//   - delivery and read receipts become Statuses (State "delivered" or
//     "read"); a receipt that names no mid (Messenger's watermark-only
//     ones) gets an empty MessageID and the watermark as Timestamp: every
//     message sent before it was delivered or read;
//   - echoes of the account's own messages, edits, reactions, likes,
//     referrals, opt-ins, events of other entries (entry.id ≠ accountID),
//     changes[] and undecodable events go to Batch.Ignored with the reason.
//
// The only error is a body that is not a JSON webhook envelope (wrapping
// channel.ErrMalformed).
func Parse(body []byte, f Flavor, accountID string) (channel.Batch, error) {
	var b channel.Batch
	env, err := meta.DecodeEnvelope(body)
	if err != nil {
		return b, fmt.Errorf("%s: %w", f.channel, err)
	}
	if env.Object != f.object {
		b.Ignore("object="+env.Object, "", "not an object="+f.object+" webhook")
		return b, nil
	}
	p := parser{batch: &b, flavor: f, account: accountID}
	for i := range env.Entry {
		if id := string(env.Entry[i].ID); id != accountID {
			b.Ignore(fmt.Sprintf("entry[%d]", i), "", fmt.Sprintf("addressed to account %s, not to this binding's account %s", id, accountID))
			continue
		}
		for j, c := range env.Entry[i].Changes {
			b.Ignore(fmt.Sprintf("entry[%d].changes[%d] field=%s", i, j, c.Field), "", "webhook field not used by flows")
		}
	}
	for item := range env.Messaging() {
		if string(item.Entry.ID) != accountID {
			continue // reported once per entry above
		}
		p.event(item)
	}
	return b, nil
}

// parser holds the state of one Parse call.
type parser struct {
	batch    *channel.Batch
	flavor   Flavor
	account  string
	messages meta.Dedupe
	statuses meta.Dedupe
}

func (p *parser) event(item meta.MessagingItem) {
	where := fmt.Sprintf("entry[%d].messaging[%d]", item.EntryIndex, item.Index)
	var ev event
	if err := json.Unmarshal(item.Event, &ev); err != nil {
		p.batch.Ignore(where, "", "undecodable event: "+err.Error())
		return
	}
	ts := millis(int64(ev.Timestamp))
	if ts.IsZero() {
		ts = millis(int64(item.Entry.Time))
	}
	user := string(ev.Sender.ID)
	switch {
	case ev.Message != nil:
		p.message(where, user, ts, ev.Message)
	case ev.Postback != nil:
		p.postback(where, user, ts, ev.Postback)
	case ev.Delivery != nil:
		p.receipt(where, user, "delivered", ev.Delivery.MIDs, int64(ev.Delivery.Watermark), ts)
	case ev.Read != nil:
		var mids []string
		if ev.Read.MID != "" {
			mids = []string{ev.Read.MID}
		}
		p.receipt(where, user, "read", mids, int64(ev.Read.Watermark), ts)
	case ev.Reaction != nil:
		p.batch.Ignore(where+" reaction", "", "reactions are not messages for a flow")
	case ev.MessageEdit != nil:
		p.batch.Ignore(where+" message_edit", "", "edits of an earlier message are not new input")
	case ev.Referral != nil:
		p.batch.Ignore(where+" referral", "", "a referral without a message starts nothing")
	case ev.Optin != nil:
		p.batch.Ignore(where+" optin", "", "opt-ins are not used by flows")
	default:
		p.batch.Ignore(where, "", "event type not used by flows")
	}
}

func (p *parser) contact(id string) message.Contact {
	return message.Contact{ID: id, Channel: p.flavor.channel}
}

func (p *parser) message(where, user string, ts time.Time, m *wireMessage) {
	switch {
	case m.IsEcho:
		p.batch.Ignore(where+" echo", m.MID, "echo of a message this account sent")
		return
	case m.IsDeleted:
		p.batch.Ignore(where+" deleted", m.MID, "the contact deleted a message")
		return
	case m.MID == "":
		p.batch.Ignore(where, "", "message without a mid")
		return
	case user == "":
		p.batch.Ignore(where, m.MID, "message without a sender id")
		return
	}
	if like := isLike(m); like != "" {
		p.batch.Ignore(where+" like", m.MID, like+" is a like, not a message for a flow")
		return
	}
	if p.messages.Seen(m.MID) {
		p.batch.Ignore(where, m.MID, "duplicate mid in the same request")
		return
	}
	in := message.Inbound{ID: m.MID, Contact: p.contact(user), Kind: message.KindOther, Text: m.Text, Timestamp: ts}
	if m.ReplyTo != nil {
		in.ReplyTo = m.ReplyTo.MID
	}
	switch {
	case m.QuickReply != nil:
		in.Kind, in.ButtonID = message.KindButton, m.QuickReply.Payload
	case len(m.Attachments) > 0:
		fillAttachment(&in, m.Attachments[0])
	case m.IsUnsupported:
		// KindOther: "something arrived" that Meta cannot show us.
	case m.Text != "":
		in.Kind = message.KindText
	}
	p.batch.Messages = append(p.batch.Messages, in)
}

// isLike names the attachment when the message is only a like (Instagram's
// like_heart, Messenger's thumbs-up sticker), else "".
func isLike(m *wireMessage) string {
	if m.Text != "" || len(m.Attachments) != 1 {
		return ""
	}
	a := m.Attachments[0]
	switch {
	case a.Type == "like_heart":
		return "like_heart"
	case a.Payload != nil && likeStickers[string(a.Payload.StickerID)]:
		return "sticker " + string(a.Payload.StickerID)
	}
	return ""
}

// fillAttachment sets the kind and media of a message from its first
// attachment (Meta sends several only for albums; the flow sees the first).
func fillAttachment(in *message.Inbound, a attachmentIn) {
	url := ""
	if a.Payload != nil {
		url = a.Payload.URL
	}
	media := func(k message.MediaKind) {
		in.Kind, in.Media = message.KindMedia, &message.Media{Kind: k, URL: url}
	}
	switch a.Type {
	case "image":
		if a.Payload != nil && a.Payload.StickerID != "" {
			media(message.Sticker)
			in.Media.ID = string(a.Payload.StickerID)
			return
		}
		media(message.Image)
	case "video", "ig_reel", "reel":
		media(message.Video)
	case "audio":
		media(message.Audio)
	case "file":
		media(message.Document)
	case "location":
		if a.Payload != nil && a.Payload.Coordinates != nil {
			c := a.Payload.Coordinates
			in.Kind = message.KindLocation
			in.Payload = strconv.FormatFloat(c.Lat, 'f', -1, 64) + "," + strconv.FormatFloat(c.Long, 'f', -1, 64)
			if in.Text == "" {
				in.Text = a.Payload.Title
			}
		}
	default: // share, story_mention, fallback, template, ...: KindOther with the link
		in.Payload = url
	}
}

func (p *parser) postback(where, user string, ts time.Time, pb *postback) {
	if user == "" {
		p.batch.Ignore(where+" postback", pb.MID, "postback without a sender id")
		return
	}
	id := pb.MID
	if id == "" {
		// Postbacks carry a mid only since Graph v11; older ones are keyed
		// by sender and time, which Meta's retries repeat identically.
		id = fmt.Sprintf("postback:%s:%d", user, ts.UnixMilli())
	}
	if p.messages.Seen(id) {
		p.batch.Ignore(where+" postback", id, "duplicate postback in the same request")
		return
	}
	in := message.Inbound{
		ID: id, Contact: p.contact(user), Kind: message.KindButton,
		ButtonID: pb.Payload, Text: pb.Title, Timestamp: ts,
	}
	if pb.Referral != nil {
		in.Payload = pb.Referral.Ref
	}
	p.batch.Messages = append(p.batch.Messages, in)
}

// receipt records a delivery or read receipt, one Status per mid, or one
// without a MessageID for a watermark-only receipt.
func (p *parser) receipt(where, user, state string, mids []string, watermark int64, ts time.Time) {
	if wm := millis(watermark); !wm.IsZero() {
		ts = wm
	}
	if len(mids) == 0 {
		mids = []string{""}
	}
	for _, mid := range mids {
		key := mid
		if key == "" {
			key = user + "@" + strconv.FormatInt(watermark, 10)
		}
		if p.statuses.Seen(key + "\x00" + state) {
			p.batch.Ignore(where+" "+state, mid, "duplicate receipt in the same request")
			continue
		}
		p.batch.Statuses = append(p.batch.Statuses, message.Status{
			MessageID: mid, Contact: p.contact(user), State: state, Timestamp: ts,
		})
	}
}

// millis converts Meta's millisecond timestamps; 0 stays the zero time.
func millis(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
