package executor

import (
	"bytes"
	"sync"
)

// decodedCache keeps values this replica encoded, with the bytes they were
// encoded as, so that decoding those very bytes again can be skipped.
// Decoding JSON is a large share of a turn's CPU, and most of it decodes
// what this process wrote moments before: the session it committed last
// turn, the queued event its webhook handler stored. A key whose bytes
// changed meanwhile (another replica committed, an item was re-encoded) is
// never used, only dropped; a miss costs a decode.
type decodedCache[T any] struct {
	mu  sync.Mutex
	m   map[string]decoded[T]
	max int
}

type decoded[T any] struct {
	encoded []byte
	value   *T
}

func newDecodedCache[T any](max int) *decodedCache[T] {
	return &decodedCache[T]{m: map[string]decoded[T]{}, max: max}
}

// take returns the value cached under key if it was encoded as encoded, and
// removes it: the caller owns (and may mutate) it from now on.
func (c *decodedCache[T]) take(key string, encoded []byte) *T {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return nil
	}
	delete(c.m, key)
	if !bytes.Equal(e.encoded, encoded) {
		return nil
	}
	return e.value
}

// put caches v as encoded under key. Neither may be changed afterwards.
func (c *decodedCache[T]) put(key string, encoded []byte, v *T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		// Forget everything rather than track recency: a miss only costs a
		// decode, and contacts that talk keep coming back in.
		clear(c.m)
	}
	c.m[key] = decoded[T]{encoded: encoded, value: v}
}
