package meta_test

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
)

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeEnvelopeFixtures(t *testing.T) {
	tests := []struct {
		file          string
		object        string
		entryID       string
		time          int64
		changes       int
		messaging     int
		firstField    string
		firstEventKey string
	}{
		{"text_message.json", meta.ObjectWhatsApp, "8856996819413533", 0, 1, 0, "messages", ""},
		{"signature_vector_body.json", meta.ObjectWhatsApp, "264937493375603", 0, 1, 0, "messages", ""},
		{"messenger_text_message.json", meta.ObjectPage, "1234567890", 1459991487970, 0, 1, "", "message"},
		{"messenger_delivery.json", meta.ObjectPage, "1234567890", 1459991487970, 0, 1, "", "delivery"},
		{"instagram_text.json", meta.ObjectInstagram, "1234567890", 1459991487970, 0, 1, "", "message"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			env, err := meta.DecodeEnvelope(read(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if env.Object != tt.object || len(env.Entry) != 1 {
				t.Fatalf("object %q, %d entries", env.Object, len(env.Entry))
			}
			e := env.Entry[0]
			if string(e.ID) != tt.entryID || int64(e.Time) != tt.time {
				t.Fatalf("entry id %q time %d", e.ID, e.Time)
			}
			var changes, messaging int
			for c := range env.Changes() {
				if changes == 0 && c.Change.Field != tt.firstField {
					t.Errorf("field %q, want %q", c.Change.Field, tt.firstField)
				}
				changes++
			}
			for m := range env.Messaging() {
				var ev map[string]json.RawMessage
				if err := json.Unmarshal(m.Event, &ev); err != nil {
					t.Fatal(err)
				}
				if _, ok := ev[tt.firstEventKey]; !ok {
					t.Errorf("messaging event without %q", tt.firstEventKey)
				}
				messaging++
			}
			if changes != tt.changes || messaging != tt.messaging {
				t.Fatalf("changes %d messaging %d, want %d %d", changes, messaging, tt.changes, tt.messaging)
			}
		})
	}
}

func TestEnvelopeWalksEverything(t *testing.T) {
	body := []byte(`{"object":"page","entry":[
		{"id":1,"time":"5","changes":[{"field":"a"},{"field":"b"}],"messaging":[{"n":1},{"n":2}]},
		{"id":"2","changes":[{"field":"c"}],"messaging":[{"n":3}]}]}`)
	env, err := meta.DecodeEnvelope(body)
	if err != nil {
		t.Fatal(err)
	}
	if env.Entry[0].ID != "1" || env.Entry[0].Time != 5 {
		t.Fatalf("flexible id/time: %q %d", env.Entry[0].ID, env.Entry[0].Time)
	}
	var fields string
	for c := range env.Changes() {
		fields += c.Change.Field
	}
	var events int
	for m := range env.Messaging() {
		events++
		if m.EntryIndex == 1 && m.Index != 0 {
			t.Fatalf("index %d", m.Index)
		}
	}
	if fields != "abc" || events != 3 {
		t.Fatalf("fields %q events %d", fields, events)
	}
	for c := range env.Changes() { // early break must not panic
		_ = c
		break
	}
}

func TestDecodeEnvelopeMalformed(t *testing.T) {
	for _, body := range []string{``, `null`, `[]`, `"x"`, `{`, `{"entry":"x"}`, `{"entry":[{"changes":{}}]}`, `{"object":1}`} {
		if _, err := meta.DecodeEnvelope([]byte(body)); !errors.Is(err, channel.ErrMalformed) {
			t.Errorf("DecodeEnvelope(%q) = %v, want ErrMalformed", body, err)
		}
	}
}

func TestFlexInt(t *testing.T) {
	tests := map[string]int64{`1454119029`: 1454119029, `"1454119029"`: 1454119029, `1.5e3`: 1500, `"x"`: 0, `null`: 0, `true`: 0, `{}`: 0}
	for in, want := range tests {
		var n meta.FlexInt
		if err := json.Unmarshal([]byte(in), &n); err != nil || int64(n) != want {
			t.Errorf("FlexInt(%s) = %d, %v; want %d", in, n, err, want)
		}
	}
}

func TestDedupe(t *testing.T) {
	var d meta.Dedupe
	if d.Seen("wamid.1") || !d.Seen("wamid.1") || d.Seen("wamid.2") || d.Seen("") || d.Seen("") {
		t.Fatal("Dedupe misbehaves")
	}
}
