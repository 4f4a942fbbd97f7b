package meta_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/messenger"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/channel/whatsapp"
)

// batch builds one webhook body from real fixtures: the envelope of the
// first, with the entries of every fixture, each entry passed through edit.
func batch(t *testing.T, edit func(i int, entry map[string]any), files ...string) []byte {
	t.Helper()
	var doc map[string]any
	var entries []any
	for i, f := range files {
		var d map[string]any
		if err := json.Unmarshal(read(t, f), &d); err != nil {
			t.Fatal(err)
		}
		if doc == nil {
			doc = d
		}
		for _, e := range d["entry"].([]any) {
			m := e.(map[string]any)
			edit(i, m)
			entries = append(entries, m)
		}
	}
	doc["entry"] = entries
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// setPhone sets the phone_number_id of every change of a WhatsApp entry.
func setPhone(entry map[string]any, id string) {
	for _, c := range entry["changes"].([]any) {
		c.(map[string]any)["value"].(map[string]any)["metadata"].(map[string]any)["phone_number_id"] = id
	}
}

func TestSplitWhatsAppByPhoneNumber(t *testing.T) {
	// Two numbers of one WABA in one entry, a third in another entry, and
	// an account-level change no number owns.
	body := batch(t, func(i int, e map[string]any) {
		setPhone(e, []string{"111", "222", "333"}[i])
	}, "text_message.json", "signature_vector_body.json", "text_message.json")
	var doc map[string]any
	_ = json.Unmarshal(body, &doc)
	entries := doc["entry"].([]any)
	first := entries[0].(map[string]any)
	first["changes"] = append(first["changes"].([]any), entries[1].(map[string]any)["changes"].([]any)...,
	)
	first["changes"] = append(first["changes"].([]any), map[string]any{
		"field": "account_update", "value": map[string]any{"event": "VERIFIED_ACCOUNT"}})
	first["extra"] = "kept"
	doc["entry"] = []any{first, entries[2]}
	body, _ = json.Marshal(doc)

	s, err := meta.SplitByAccount(body, meta.ObjectWhatsApp)
	if err != nil {
		t.Fatal(err)
	}
	if s.Unaddressed != 1 || len(s.Parts) != 3 {
		t.Fatalf("unaddressed %d, parts %+v", s.Unaddressed, s.Parts)
	}
	for i, want := range []string{"111", "222", "333"} {
		p := s.Parts[i]
		if p.Account != want || p.Events != 1 || p.Whole {
			t.Errorf("part %d: %+v", i, p)
		}
		env, err := meta.DecodeEnvelope(p.Body)
		if err != nil {
			t.Fatal(err)
		}
		if env.Object != meta.ObjectWhatsApp || len(env.Entry) != 1 || len(env.Entry[0].Changes) != 1 {
			t.Fatalf("part %s: %s", want, p.Body)
		}
		if want != "333" && (env.Entry[0].ID != "8856996819413533" || !bytes.Contains(p.Body, []byte(`"extra":"kept"`))) {
			t.Errorf("part %s lost the entry's fields: %s", want, p.Body)
		}
		// The part is what the number's executor would have read of the
		// whole batch, and nothing of the other numbers.
		whole, _ := whatsapp.Parse(body, want)
		part, _ := whatsapp.Parse(p.Body, want)
		if len(part.Messages) != 1 || !reflect.DeepEqual(whole.Messages, part.Messages) {
			t.Errorf("part %s parses to %+v, the whole batch to %+v", want, part.Messages, whole.Messages)
		}
	}
}

func TestSplitOneAccountKeepsTheBytes(t *testing.T) {
	body := read(t, "signature_vector_body.json")
	s, err := meta.SplitByAccount(body, meta.ObjectWhatsApp)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Parts) != 1 || !s.Parts[0].Whole || !bytes.Equal(s.Parts[0].Body, body) {
		t.Fatalf("a one-number batch must go on unchanged (its signature holds): %+v", s.Parts)
	}
	// Its signature is the one Meta sent.
	secret, header, _ := vector(t)
	if err := meta.VerifySignature(header, s.Parts[0].Body, secret); err != nil {
		t.Fatal(err)
	}
}

func TestSplitMessagingByEntryID(t *testing.T) {
	for _, tt := range []struct {
		object string
		flavor messenger.Flavor
		files  []string
	}{
		{meta.ObjectPage, messenger.Messenger, []string{"messenger_text_message.json", "messenger_delivery.json", "messenger_text_message.json"}},
		{meta.ObjectInstagram, messenger.Instagram, []string{"instagram_text.json", "instagram_text.json", "instagram_text.json"}},
	} {
		t.Run(tt.object, func(t *testing.T) {
			body := batch(t, func(i int, e map[string]any) {
				e["id"] = []string{"pageA", "pageB", "pageA"}[i]
				if i == 2 { // another message of page A, in a later entry
					ev := e["messaging"].([]any)[0].(map[string]any)
					ev["message"].(map[string]any)["mid"] = "mid.second"
				}
			}, tt.files...)
			s, err := meta.SplitByAccount(body, tt.object)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Parts) != 2 || s.Parts[0].Account != "pageA" || s.Parts[0].Events != 2 || s.Parts[1].Account != "pageB" {
				t.Fatalf("parts %+v", s.Parts)
			}
			for _, p := range s.Parts {
				whole, _ := messenger.Parse(body, tt.flavor, p.Account)
				part, err := messenger.Parse(p.Body, tt.flavor, p.Account)
				if err != nil || !reflect.DeepEqual(whole.Messages, part.Messages) || !reflect.DeepEqual(whole.Statuses, part.Statuses) {
					t.Errorf("part %s: %+v %+v, whole %+v %+v (%v)", p.Account, part.Messages, part.Statuses, whole.Messages, whole.Statuses, err)
				}
			}
		})
	}
}

func TestSplitOtherObjectIsUnaddressed(t *testing.T) {
	s, err := meta.SplitByAccount(read(t, "messenger_text_message.json"), meta.ObjectWhatsApp)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Parts) != 0 || s.Unaddressed != 1 || s.Object != meta.ObjectPage {
		t.Fatalf("a Page webhook on the WhatsApp path: %+v", s)
	}
}

func TestSplitMalformed(t *testing.T) {
	for _, body := range []string{``, `[]`, `{"entry":"x"}`, `{"object":"page","entry":[{"id":true}]}`} {
		if _, err := meta.SplitByAccount([]byte(body), meta.ObjectPage); !errors.Is(err, channel.ErrMalformed) {
			t.Errorf("SplitByAccount(%q) = %v, want ErrMalformed", body, err)
		}
	}
}

// FuzzSplitByAccount: whatever the body, SplitByAccount never panics,
// refuses exactly what DecodeEnvelope refuses, and each part is, for its
// account's executor, the same batch as the whole body: the channel's own
// parser reads the same messages and statuses from both. An account with
// no part gets nothing from the whole body either. Seeds: the fixtures.
func FuzzSplitByAccount(f *testing.F) {
	for _, data := range fixtureBodies(f) {
		for o := range uint8(3) {
			f.Add(data, o, "1234567890")
		}
	}
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"id":"w","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"1"},"messages":[{"id":"a","from":"5","type":"text","text":{"body":"x"}}]}},{"field":"messages","value":{"metadata":{"phone_number_id":2},"messages":[{"id":"a","from":"5"}]}}]}]}`), uint8(0), "2")
	f.Add([]byte(`{"object":"page","Entry":[{"ID":"1","messaging":[{"sender":{"id":"9"},"message":{"mid":"m","text":"t"}}]},{"id":"2","CHANGES":[]}]}`), uint8(1), "1")
	f.Fuzz(func(t *testing.T, body []byte, o uint8, other string) {
		object := []string{meta.ObjectWhatsApp, meta.ObjectPage, meta.ObjectInstagram}[o%3]
		s, err := meta.SplitByAccount(body, object)
		_, decodeErr := meta.DecodeEnvelope(body)
		if (err != nil) != (decodeErr != nil) {
			t.Fatalf("SplitByAccount: %v; DecodeEnvelope: %v", err, decodeErr)
		}
		if err != nil {
			if !errors.Is(err, channel.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		parse := func(b []byte, account string) (channel.Batch, error) {
			switch object {
			case meta.ObjectWhatsApp:
				return whatsapp.Parse(b, account)
			case meta.ObjectPage:
				return messenger.Parse(b, messenger.Messenger, account)
			}
			return messenger.Parse(b, messenger.Instagram, account)
		}
		seen := map[string]bool{}
		for _, p := range s.Parts {
			if p.Account == "" || seen[p.Account] || p.Events < 1 {
				t.Fatalf("bad part %+v", p)
			}
			seen[p.Account] = true
			whole, _ := parse(body, p.Account)
			part, err := parse(p.Body, p.Account)
			if err != nil {
				t.Fatalf("part %s does not parse: %v\n%s", p.Account, err, p.Body)
			}
			if !reflect.DeepEqual(whole.Messages, part.Messages) || !reflect.DeepEqual(whole.Statuses, part.Statuses) {
				t.Fatalf("part %s: %+v %+v; whole: %+v %+v\n%s", p.Account, part.Messages, part.Statuses, whole.Messages, whole.Statuses, p.Body)
			}
		}
		if !seen[other] {
			if whole, _ := parse(body, other); len(whole.Messages)+len(whole.Statuses) > 0 {
				t.Fatalf("account %q has no part but the body holds %+v %+v for it", other, whole.Messages, whole.Statuses)
			}
		}
	})
}

// BenchmarkSplitByAccount is the gateway's per-request cost of routing:
// a one-number batch (passed through) and one with three numbers (rebuilt).
func BenchmarkSplitByAccount(b *testing.B) {
	one, err := os.ReadFile("testdata/signature_vector_body.json")
	if err != nil {
		b.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(one, &doc); err != nil {
		b.Fatal(err)
	}
	entry := doc["entry"].([]any)[0].(map[string]any)
	var entries []any
	for _, id := range []string{"111", "222", "333"} {
		e := map[string]any{}
		raw, _ := json.Marshal(entry)
		_ = json.Unmarshal(raw, &e)
		setPhone(e, id)
		entries = append(entries, e)
	}
	doc["entry"] = entries
	three, _ := json.Marshal(doc)
	for name, body := range map[string][]byte{"one number": one, "three numbers": three} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := meta.SplitByAccount(body, meta.ObjectWhatsApp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzJoin: a body EntryList takes holds exactly the keys object and
// entry, and joining its entries twice gives a body of twice the entries,
// from which the channel's parser reads the same events (it drops the
// repeated message ids of a batch, as when Meta redelivers). Seeds: the
// fixtures.
func FuzzJoin(f *testing.F) {
	for _, data := range fixtureBodies(f) {
		for o := range uint8(3) {
			f.Add(data, o)
		}
	}
	f.Add([]byte(`{"object":"page","entry":[],"x":1}`), uint8(1))
	f.Add([]byte(`{"object":"page","Entry":[{"id":"1"}]}`), uint8(1))
	f.Add([]byte(`{"object":"page","entry":[{"id":"1"}],"entry":[{"id":"2"}]}`), uint8(1))
	f.Add([]byte(`{"object":"page","entry":[`), uint8(1))
	f.Fuzz(func(t *testing.T, body []byte, o uint8) {
		object := []string{meta.ObjectWhatsApp, meta.ObjectPage, meta.ObjectInstagram}[o%3]
		if !json.Valid(body) {
			// A Part's body always is valid; whatever else, no panic.
			_, _ = meta.Part{Body: body}.EntryList(object)
			return
		}
		list, ok := meta.Part{Body: body}.EntryList(object)
		if !ok {
			return
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(body, &top); err != nil || len(top) != 2 || string(top["object"]) != `"`+object+`"` || top["entry"] == nil {
			t.Fatalf("EntryList took %s", body)
		}
		joined := meta.Join(object, list, list)
		env, err := meta.DecodeEnvelope(body)
		twice, err2 := meta.DecodeEnvelope(joined)
		if (err != nil) != (err2 != nil) {
			t.Fatalf("DecodeEnvelope: %v on the body, %v on it joined twice: %s", err, err2, joined)
		}
		if err != nil {
			return
		}
		if twice.Object != env.Object || len(twice.Entry) != 2*len(env.Entry) {
			t.Fatalf("joined twice: %d entries of %q from %d of %q", len(twice.Entry), twice.Object, len(env.Entry), env.Object)
		}
		if object == meta.ObjectWhatsApp {
			for _, e := range env.Entry {
				for _, c := range e.Changes {
					account := phoneOf(c.Value)
					whole, err := whatsapp.Parse(body, account)
					if err != nil {
						return
					}
					both, err := whatsapp.Parse(joined, account)
					if err != nil || !reflect.DeepEqual(both.Messages, whole.Messages) || !reflect.DeepEqual(both.Statuses, whole.Statuses) {
						t.Fatalf("account %s: %+v (%v) from the joined body, %+v from the body", account, both.Messages, err, whole.Messages)
					}
				}
			}
		}
	})
}

// phoneOf is a change value's metadata.phone_number_id, if any.
func phoneOf(value json.RawMessage) string {
	var v struct {
		Metadata struct {
			PhoneNumberID string `json:"phone_number_id"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(value, &v)
	return v.Metadata.PhoneNumberID
}

// TestEntryList: only an envelope of exactly object and entry joins.
func TestEntryList(t *testing.T) {
	for body, want := range map[string]string{
		`{"object":"page","entry":[{"id":"1"},{"id":"2"}]}`:           `{"id":"1"},{"id":"2"}`,
		` { "entry" : [ {"id":"1"} ] , "object" : "page" } `:          ` {"id":"1"} `,
		`{"object":"page","entry":[]}`:                                "",
		`{"object":"page","entry":[{"id":"1"}],"extra":1}`:            "",
		`{"object":"page","Entry":[{"id":"1"}]}`:                      "",
		`{"object":"instagram","entry":[{"id":"1"}]}`:                 "",
		`{"object":"page","entry":[{"id":"1"}],"entry":[{"id":"2"}]}`: "",
		`{"object":"page","entry":{"id":"1"}}`:                        "",
		`{"object":"page"}`:                                           "",
		`{"object":"p\u0061ge","entry":[{"id":"1"}]}`:                 "",
		`{"object":"page","object":"page","entry":[{"id":"1"}]}`:      "",
		`[{"object":"page","entry":[{"id":"1"}]}]`:                    "",
		`{"object":"page","entry":[`:                                  "",
		`{"object":"page","entry":[{"id":"1"}`:                        "",
	} {
		list, ok := meta.Part{Body: []byte(body)}.EntryList(meta.ObjectPage)
		if string(list) != want || ok != (want != "") {
			t.Errorf("EntryList(%s) = %q, %v; want %q", body, list, ok, want)
		}
	}
	joined := meta.Join(meta.ObjectPage, []byte(`{"id":"1"}`), []byte(` {"id":"2"} `))
	if string(joined) != `{"object":"page","entry":[{"id":"1"}, {"id":"2"} ]}` {
		t.Errorf("Join: %s", joined)
	}
}

// fixtureBodies are the package's JSON fixtures, the fuzz targets' seeds.
func fixtureBodies(f *testing.F) [][]byte {
	files, _ := filepath.Glob("testdata/*.json")
	var bodies [][]byte
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		bodies = append(bodies, data)
	}
	return bodies
}
