package meta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"iter"
	"strconv"

	"github.com/chatflow-dev/chatflow/runtime/channel"
)

// Objects Meta names in the envelope's "object" field.
const (
	ObjectWhatsApp  = "whatsapp_business_account"
	ObjectPage      = "page"
	ObjectInstagram = "instagram"
)

// Envelope is the outer shape of every Meta webhook body:
// {"object": ..., "entry": [{"id", "time", "changes": [...], "messaging": [...]}]}.
// WhatsApp puts its events in changes[], Messenger in messaging[],
// Instagram in either. Values and events stay raw: their channel decodes
// them, so one odd event cannot fail the whole batch.
type Envelope struct {
	Object string  `json:"object"`
	Entry  []Entry `json:"entry"`
}

// Entry is one element of entry[]: the events of one account (WABA, Page
// or Instagram account).
type Entry struct {
	// ID is the WABA id (WhatsApp), Page id (Messenger) or Instagram
	// account id.
	ID FlexString `json:"id"`
	// Time is the entry time in Unix milliseconds (Messenger, Instagram);
	// 0 when absent (WhatsApp).
	Time FlexInt `json:"time"`
	// Changes are the "changes" events (field + value).
	Changes []Change `json:"changes"`
	// Messaging are the "messaging" events, undecoded.
	Messaging []json.RawMessage `json:"messaging"`
}

// Change is one element of entry[].changes[].
type Change struct {
	// Field is the subscribed webhook field, e.g. "messages".
	Field string `json:"field"`
	// Value is the field's payload, undecoded.
	Value json.RawMessage `json:"value"`
}

// DecodeEnvelope decodes a webhook body's envelope. A body that is not a
// JSON object of that shape is an error wrapping channel.ErrMalformed;
// unknown fields are ignored.
func DecodeEnvelope(body []byte) (*Envelope, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", channel.ErrMalformed)
	}
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", channel.ErrMalformed, err)
	}
	return &env, nil
}

// ChangeItem is one change met by Envelope.Changes, with where it was.
type ChangeItem struct {
	// Entry holds the change (its id is the WABA or account id).
	Entry *Entry
	// EntryIndex and Index locate the change in entry[i].changes[j], for
	// debug logs.
	EntryIndex, Index int
	// Change is the change itself.
	Change Change
}

// MessagingItem is one messaging event met by Envelope.Messaging.
type MessagingItem struct {
	// Entry holds the event (its id is the Page or Instagram account id).
	Entry *Entry
	// EntryIndex and Index locate the event in entry[i].messaging[j].
	EntryIndex, Index int
	// Event is the messaging[] element, undecoded.
	Event json.RawMessage
}

// Changes iterates every change of every entry, in payload order: Meta
// batches up to 1000 updates and all of them must be processed.
func (e *Envelope) Changes() iter.Seq[ChangeItem] {
	return func(yield func(ChangeItem) bool) {
		for i := range e.Entry {
			for j, c := range e.Entry[i].Changes {
				if !yield(ChangeItem{Entry: &e.Entry[i], EntryIndex: i, Index: j, Change: c}) {
					return
				}
			}
		}
	}
}

// Messaging iterates every messaging event of every entry, in payload
// order (not only messaging[0], as some integrations do).
func (e *Envelope) Messaging() iter.Seq[MessagingItem] {
	return func(yield func(MessagingItem) bool) {
		for i := range e.Entry {
			for j, ev := range e.Entry[i].Messaging {
				if !yield(MessagingItem{Entry: &e.Entry[i], EntryIndex: i, Index: j, Event: ev}) {
					return
				}
			}
		}
	}
}

// FlexString decodes a JSON string or number into a string: Meta ids are
// strings, but a numeric id must not fail a whole batch.
type FlexString string

// UnmarshalJSON accepts a string, a number or null.
func (s *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*s = ""
	case b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = FlexString(v)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*s = FlexString(n.String())
	}
	return nil
}

// FlexInt decodes a JSON integer, or a string holding one, into an int64,
// as Meta's timestamps are numbers on Messenger and strings on WhatsApp.
// A value it cannot read decodes as 0 rather than failing the batch.
type FlexInt int64

// UnmarshalJSON accepts a number, a numeric string or null; anything else
// becomes 0.
func (n *FlexInt) UnmarshalJSON(b []byte) error {
	*n = 0
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return nil
		}
		b = []byte(s)
	}
	if v, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		*n = FlexInt(v)
		return nil
	}
	if f, err := strconv.ParseFloat(string(b), 64); err == nil && f >= -9.2e18 && f <= 9.2e18 {
		*n = FlexInt(int64(f))
	}
	return nil
}
