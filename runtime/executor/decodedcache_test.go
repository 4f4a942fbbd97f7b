package executor

import "testing"

func TestDecodedCache(t *testing.T) {
	c := newDecodedCache[string](2)
	v := "decoded"
	c.put("a", []byte("enc"), &v)
	if got := c.take("a", []byte("other")); got != nil {
		t.Fatalf("bytes changed: got %q, want a miss", *got)
	}
	if got := c.take("a", []byte("enc")); got != nil {
		t.Fatalf("a mismatched take must drop the entry, got %q", *got)
	}
	c.put("a", []byte("enc"), &v)
	if got := c.take("a", []byte("enc")); got != &v {
		t.Fatalf("same bytes: got %v, want the cached value", got)
	}
	if got := c.take("a", []byte("enc")); got != nil {
		t.Fatalf("take hands the value over once, got it again")
	}
	// At capacity the cache starts over instead of growing.
	c.put("a", []byte("1"), &v)
	c.put("b", []byte("2"), &v)
	c.put("c", []byte("3"), &v)
	if len(c.m) != 1 || c.take("c", []byte("3")) != &v {
		t.Fatalf("after overflow: %d entries, want only the newest", len(c.m))
	}
}
