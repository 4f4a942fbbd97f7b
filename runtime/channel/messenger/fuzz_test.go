package messenger_test

import (
	"errors"
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/messenger"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// FuzzParse feeds arbitrary bodies to Parse in both flavours. Seeds:
// testdata/fuzz/FuzzParse (the inbound fixtures). Properties: no panic; the
// only error is ErrMalformed; every message has an id, a sender, the
// flavour's channel and a kind, ids are unique within the batch, media
// messages carry media; every status has a state.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"object":"page","entry":[]}`), "1", false)
	f.Fuzz(func(t *testing.T, body []byte, account string, instagram bool) {
		fl, ch := messenger.Messenger, message.Messenger
		if instagram {
			fl, ch = messenger.Instagram, message.Instagram
		}
		b, err := messenger.Parse(body, fl, account)
		if err != nil {
			if !errors.Is(err, channel.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, m := range b.Messages {
			if m.ID == "" || m.Contact.ID == "" || m.Contact.Channel != ch || m.Kind == "" {
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
			if s.State == "" || s.Contact.Channel != ch {
				t.Fatalf("incomplete status %+v", s)
			}
		}
	})
}
