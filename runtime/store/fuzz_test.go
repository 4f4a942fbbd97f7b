package store

import (
	"strconv"
	"testing"
)

// FuzzDecodeItem: whatever an inbox entry holds (written by an older
// version, a bug, or someone with access to Redis), decoding it does not
// panic, and an entry it accepts is exactly what encodeItem writes for the
// item it decodes to.
func FuzzDecodeItem(f *testing.F) {
	for _, s := range []string{encodeItem(Item{ID: "wamid.HBg", Payload: []byte(`{"event":{}}`)}), encodeItem(Item{}), "0:", "3:ab", "-1:x", "99999999999999999999:x", ":x", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		it, err := decodeItem(s)
		if err != nil {
			return
		}
		if back := encodeItem(it); back != s && back != canonicalItem(s) {
			t.Fatalf("%q decodes to %+v, which encodes to %q", s, it, back)
		}
	})
}

// canonicalItem is s with its length prefix written the way strconv.Itoa
// writes it (decodeItem accepts "007:..." and "+7:..." too).
func canonicalItem(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			n, _ := strconv.Atoi(s[:i])
			return strconv.Itoa(n) + s[i:]
		}
	}
	return s
}

// FuzzParseTimerMember: whatever a timer index entry holds, parsing it does
// not panic, and an entry it accepts is exactly what the index script
// writes for the timer it parses to.
func FuzzParseTimerMember(f *testing.F) {
	for _, s := range []string{"1718000000000:" + memberTail("0123456789abcdef", "15550001111", "r1.4"),
		"1:" + memberTail("0123456789abcdef", "", ""), "1:0123456789abcdef:x", "x:0123456789abcdef:1:ab", "1:short:1:a", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseTimerMember(s)
		if err != nil {
			return
		}
		if back := strconv.FormatInt(m.created, 10) + ":" + memberTail(m.nonce, m.contact, m.id); back != s {
			// Leading zeros and signs are accepted in the numbers; the
			// rest must be what the index writes.
			again, err := parseTimerMember(back)
			if err != nil || again != m {
				t.Fatalf("%q parses to %+v, which writes %q and reads back %+v, %v", s, m, back, again, err)
			}
		}
	})
}
