package viber_test

import (
	"errors"
	"strconv"
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/viber"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// FuzzParse feeds arbitrary bodies to Parse. Seeds: testdata/fuzz/FuzzParse
// (every callback fixture). Properties: no panic; the only error is
// ErrMalformed; messages and receipts carry an id that is an int64 in
// decimal (never a rounded float), a contact on Viber and a kind/state;
// media messages carry media.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"event":"message","message_token":9007199254740993,"sender":{"id":"u"},"message":{"type":"text","text":"x"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := viber.Parse(body)
		if err != nil {
			if !errors.Is(err, channel.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		isInt := func(s string) bool {
			n, err := strconv.ParseInt(s, 10, 64)
			return err == nil && strconv.FormatInt(n, 10) == s
		}
		for _, m := range b.Messages {
			if !isInt(m.ID) || m.Contact.ID == "" || m.Contact.Channel != message.Viber || m.Kind == "" {
				t.Fatalf("incomplete message %+v", m)
			}
			if m.Kind == message.KindMedia && m.Media == nil {
				t.Fatalf("media message without media %+v", m)
			}
		}
		for _, s := range b.Statuses {
			if !isInt(s.MessageID) || s.State == "" || s.Contact.ID == "" {
				t.Fatalf("incomplete status %+v", s)
			}
		}
		for _, e := range append(b.Opened, b.Unsubscribed...) {
			if e.Contact.ID == "" || e.Contact.Channel != message.Viber {
				t.Fatalf("incomplete contact event %+v", e)
			}
		}
		if len(b.Messages)+len(b.Statuses)+len(b.Opened)+len(b.Unsubscribed)+len(b.Ignored) != 1 {
			t.Fatalf("one callback gave %+v", b)
		}
	})
}
