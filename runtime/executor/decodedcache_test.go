package executor

import (
	"strings"
	"testing"
)

func TestDecodedCache(t *testing.T) {
	full := 0
	// Room for two one-byte entries under a one-letter key, not three.
	c := newDecodedCache[string](2*decodedCost("a", []byte("1"))+1, func() { full++ })
	v := "decoded"
	c.put("a", []byte("e"), &v)
	if got := c.take("a", []byte("o")); got != nil {
		t.Fatalf("bytes changed: got %q, want a miss", *got)
	}
	if got := c.take("a", []byte("e")); got != nil {
		t.Fatalf("a mismatched take must drop the entry, got %q", *got)
	}
	c.put("a", []byte("e"), &v)
	if got := c.take("a", []byte("e")); got != &v {
		t.Fatalf("same bytes: got %v, want the cached value", got)
	}
	if got := c.take("a", []byte("e")); got != nil {
		t.Fatalf("take hands the value over once, got it again")
	}
	if c.size != 0 {
		t.Fatalf("an empty cache is charged %d bytes", c.size)
	}
	// At its byte budget the cache starts over instead of growing.
	c.put("a", []byte("1"), &v)
	c.put("b", []byte("2"), &v)
	if full != 0 || len(c.m) != 2 {
		t.Fatalf("two entries that fit: %d kept, %d overflows", len(c.m), full)
	}
	c.put("c", []byte("3"), &v)
	if len(c.m) != 1 || full != 1 || c.take("c", []byte("3")) != &v {
		t.Fatalf("after overflow: %d entries and %d overflows, want only the newest and one", len(c.m), full)
	}
	// A value too large for its room is not cached at all.
	c.put("big", []byte(strings.Repeat("x", c.maxBytes)), &v)
	if len(c.m) != 0 || c.size != 0 {
		t.Fatalf("an oversized value was cached: %d entries, %d bytes", len(c.m), c.size)
	}
	// A contact's entries go with it.
	c.maxBytes = 1 << 20
	c.put("alice\x00m1", []byte("1"), &v)
	c.put("alice\x00m2", []byte("2"), &v)
	c.put("bob\x00m1", []byte("3"), &v)
	c.dropPrefix("alice\x00")
	if len(c.m) != 1 || c.take("bob\x00m1", []byte("3")) != &v || c.size != 0 {
		t.Fatalf("after dropping alice's entries: %d left, %d bytes charged", len(c.m), c.size)
	}
}
