package executor

import (
	"bytes"
	"strings"
	"sync"
)

// decodedCache keeps values this replica encoded, with the bytes they were
// encoded as, so that decoding those very bytes again can be skipped.
// Decoding JSON is a large share of a turn's CPU, and most of it decodes
// what this process wrote moments before: the session it committed last
// turn, the queued event its webhook handler stored. A key whose bytes
// changed meanwhile (another replica committed, an item was re-encoded) is
// never used, only dropped; a miss costs a decode.
//
// It is bounded in bytes: each entry is charged an estimate of its decoded
// size (a multiple of its encoded size), and when the next one would go
// over, everything is forgotten at once rather than tracking recency — a
// miss only costs a decode, and contacts that talk keep coming back in.
// onFull is told each time that happens.
type decodedCache[T any] struct {
	mu       sync.Mutex
	m        map[string]decoded[T]
	size     int
	maxBytes int
	onFull   func()
}

type decoded[T any] struct {
	encoded []byte
	value   *T
}

// decodedCost estimates the memory an entry holds: its encoded bytes, the
// decoded value (Go maps and strings take about twice the JSON) and the
// map entry.
func decodedCost(key string, encoded []byte) int { return len(key) + 3*len(encoded) + 256 }

func newDecodedCache[T any](maxBytes int, onFull func()) *decodedCache[T] {
	return &decodedCache[T]{m: map[string]decoded[T]{}, maxBytes: maxBytes, onFull: onFull}
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
	c.remove(key, e)
	if !bytes.Equal(e.encoded, encoded) {
		return nil
	}
	return e.value
}

// put caches v as encoded under key. Neither may be changed afterwards.
// A value too large to be worth its room is not cached.
func (c *decodedCache[T]) put(key string, encoded []byte, v *T) {
	cost := decodedCost(key, encoded)
	if cost > c.maxBytes/2 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok {
		c.remove(key, e)
	}
	if c.size+cost > c.maxBytes {
		clear(c.m)
		c.size = 0
		if c.onFull != nil {
			c.onFull()
		}
	}
	c.m[key] = decoded[T]{encoded: encoded, value: v}
	c.size += cost
}

// drop forgets key.
func (c *decodedCache[T]) drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok {
		c.remove(key, e)
	}
}

// dropPrefix forgets every key that starts with prefix (a contact's, when
// it is erased).
func (c *decodedCache[T]) dropPrefix(prefix string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if strings.HasPrefix(k, prefix) {
			c.remove(k, e)
		}
	}
}

func (c *decodedCache[T]) remove(key string, e decoded[T]) {
	delete(c.m, key)
	c.size -= decodedCost(key, e.encoded)
}
