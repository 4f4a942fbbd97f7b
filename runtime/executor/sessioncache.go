package executor

import (
	"bytes"
	"sync"

	"github.com/chatflow-dev/chatflow/runtime/flow"
)

// sessionCache keeps the decoded session of recently served contacts with
// the bytes they were committed as. Decoding a session is a large share of a
// turn's CPU; when the store hands back exactly the bytes this replica
// committed last, the decoded session is reused. A commit by another replica
// changes the bytes, so a stale entry is never used, only dropped.
type sessionCache struct {
	mu  sync.Mutex
	m   map[string]cachedSession
	max int
}

type cachedSession struct {
	state   []byte
	session *flow.Session
}

func newSessionCache(max int) *sessionCache {
	return &sessionCache{m: map[string]cachedSession{}, max: max}
}

// take returns the cached session of a contact if it was committed as
// state, and removes it: the caller owns (and mutates) it from now on.
func (c *sessionCache) take(contact string, state []byte) *flow.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[contact]
	if !ok {
		return nil
	}
	delete(c.m, contact)
	if !bytes.Equal(e.state, state) {
		return nil
	}
	return e.session
}

// put caches a session as committed with state.
func (c *sessionCache) put(contact string, state []byte, s *flow.Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		// Forget everything rather than track recency: a miss only costs a
		// decode, and contacts that talk keep coming back in.
		clear(c.m)
	}
	c.m[contact] = cachedSession{state: state, session: s}
}
