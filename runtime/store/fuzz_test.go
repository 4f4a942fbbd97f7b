package store

import (
	"bytes"
	"testing"
)

// FuzzStoredItem decodes arbitrary bytes found in an inbox, as anything
// that reaches Redis could have written them: decoding never panics, and
// nothing but what this flow's key sealed for this contact passes.
func FuzzStoredItem(f *testing.F) {
	s := newSealer("team/flow", []byte("fuzz key"))
	f.Add("c", s.encodeItem("c", Item{ID: "wa:wamid.X", Payload: []byte(`{"event":{}}`)}))
	f.Add("c", s.encodeItem("c", Item{}))
	f.Add("c", "5:hello0123456789abcdef{}")
	f.Add("", "0:")
	f.Add("c", "99999999999999999999:x")
	f.Fuzz(func(t *testing.T, contact, stored string) {
		it := s.decodeItem(contact, stored)
		if it.Forged {
			return
		}
		// Passed: it must be exactly what sealing that item gives.
		if again := s.encodeItem(contact, Item{ID: it.ID, Payload: it.Payload}); again != stored {
			t.Fatalf("%q decoded as unforged %+v, which encodes as %q", stored, it, again)
		}
	})
}

// FuzzStoredTimer seals a timer as a commit does, fires it as fire.lua
// does, and checks the item decodes to the timer's ID and payload; then
// that the firing of any changed stored value, or of the value under
// another contact, is refused. Timer index entries of any shape parse
// without panicking.
func FuzzStoredTimer(f *testing.F) {
	s := newSealer("team/flow", []byte("fuzz key"))
	f.Add("c", "wait:1", []byte(`{"event":{"kind":"TimerFired"}}`), 3, "0123456789abcdef:1:cwait")
	f.Add("", "", []byte{}, 0, "")
	f.Fuzz(func(t *testing.T, contact, id string, payload []byte, flip int, member string) {
		if m, err := parseTimerMember(member); err == nil && memberOf(m.nonce, m.contact, m.id) != member {
			t.Fatalf("index entry %q parses as %+v, which formats differently", member, m)
		}
		value := s.sealTimer(contact, Timer{ID: id, Payload: payload})
		fire := func(v []byte) string { return lp("timer:"+id) + string(v) }
		it := s.decodeItem(contact, fire(value))
		if it.Forged || it.ID != "timer:"+id || !bytes.Equal(it.Payload, payload) {
			t.Fatalf("timer %q %q fired as %+v", id, payload, it)
		}
		changed := append([]byte(nil), value...)
		changed[(flip%len(changed)+len(changed))%len(changed)] ^= 0x20
		if it := s.decodeItem(contact, fire(changed)); !it.Forged {
			t.Fatalf("a changed timer value fired as an unforged item %+v", it)
		}
		if it := s.decodeItem(contact+"x", fire(value)); !it.Forged {
			t.Fatalf("a timer of another contact fired as an unforged item %+v", it)
		}
	})
}
