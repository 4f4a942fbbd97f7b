package whatsapp_test

import (
	"errors"
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/whatsapp"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// FuzzParse feeds arbitrary bodies to Parse. Seeds: testdata/fuzz/FuzzParse
// (every inbound fixture with its phone_number_id). Properties: no panic;
// the only error is ErrMalformed; every message has an id, a sender and
// the WhatsApp channel, and ids are unique within the batch.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[]}`), "1")
	f.Fuzz(func(t *testing.T, body []byte, account string) {
		b, err := whatsapp.Parse(body, account)
		if err != nil {
			if !errors.Is(err, channel.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, m := range b.Messages {
			if m.ID == "" || m.Contact.ID == "" || m.Contact.Channel != message.WhatsApp || m.Kind == "" {
				t.Fatalf("incomplete message %+v", m)
			}
			if seen[m.ID] {
				t.Fatalf("duplicate id %q", m.ID)
			}
			seen[m.ID] = true
			if m.Kind == message.KindMedia && m.Media == nil {
				t.Fatalf("media message without media %+v", m)
			}
		}
		for _, s := range b.Statuses {
			if s.MessageID == "" || s.State == "" {
				t.Fatalf("incomplete status %+v", s)
			}
		}
	})
}
