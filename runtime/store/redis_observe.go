package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

var _ Observed = (*redisStore)(nil)

// unindexScript deletes a node index entry only if it still holds the
// value the reader found.
var unindexScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0`)

// recordEvents appends a contact's events, keeps the last ARGV[1] and
// sets the list to expire in ARGV[2] ms; ARGV[3] "1" deletes the list
// first. One command instead of four per note. Nothing while the contact
// was just forgotten (KEYS[2], set by Forget).
const recordEvents = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if ARGV[3] == '1' then redis.call('DEL', KEYS[1]) end
if #ARGV > 3 then
  redis.call('RPUSH', KEYS[1], unpack(ARGV, 4))
  redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`

// waitingKey is the node index hash of node, under the flow's global tag.
func (s *redisStore) waitingKey(node string) string {
	ns := s.opts.Namespace
	return "chatflow:" + ns + ":{" + ns + "}:waiting:" + node
}

// eventsKey is the contact's event list, under the contact's tag.
func (s *redisStore) eventsKey(contact string) string {
	return s.keys.contactPrefix + contact + "}:events"
}

// forgottenKey marks a contact Forget erased, in the slot of its events.
func (s *redisStore) forgottenKey(contact string) string {
	return s.keys.contactPrefix + contact + "}:forgotten"
}

func (s *redisStore) Peek(ctx context.Context, contacts ...string) ([][]byte, error) {
	if s.closed() {
		return nil, ErrClosed
	}
	out := make([][]byte, len(contacts))
	if len(contacts) == 0 {
		return out, nil
	}
	pipe := s.rdb.Pipeline()
	gets := make([]*redis.StringCmd, len(contacts))
	for i, c := range contacts {
		gets[i] = pipe.Get(ctx, s.keys.contact(c).state)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: peek: %w", err)
	}
	for i, g := range gets {
		if b, err := g.Bytes(); err == nil {
			// A state not sealed with this flow's key reads as none.
			if state, ok := s.seal.decodeState(contacts[i], b); ok {
				out[i] = state
			}
		}
	}
	return out, nil
}

func (s *redisStore) Record(ctx context.Context, notes ...Note) error {
	if s.closed() {
		return ErrClosed
	}
	pipe := s.rdb.Pipeline()
	for _, n := range notes {
		if err := checkContact(n.Contact); err != nil {
			return err
		}
		if n.Leave != "" && n.Leave != n.Enter {
			pipe.HDel(ctx, s.waitingKey(n.Leave), n.Contact)
		}
		if n.Enter != "" {
			pipe.HSet(ctx, s.waitingKey(n.Enter), n.Contact, n.Since.UnixMilli())
		}
		if n.Keep <= 0 {
			n.Events = nil
		}
		if len(n.Events) == 0 && !n.Forget {
			continue
		}
		forget := "0"
		if n.Forget {
			forget = "1"
		}
		args := make([]any, 0, 3+len(n.Events))
		args = append(args, n.Keep, max(n.KeepFor.Milliseconds(), 1), forget)
		for _, e := range n.Events {
			args = append(args, e)
		}
		pipe.Eval(ctx, recordEvents, []string{s.eventsKey(n.Contact), s.forgottenKey(n.Contact)}, args...)
	}
	if pipe.Len() == 0 {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: record: %w", err)
	}
	return nil
}

func (s *redisStore) Events(ctx context.Context, contact string) ([][]byte, error) {
	if s.closed() {
		return nil, ErrClosed
	}
	list, err := s.rdb.LRange(ctx, s.eventsKey(contact), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	out := make([][]byte, len(list))
	for i, e := range list {
		out[i] = []byte(e)
	}
	return out, nil
}

// Waiting pages with HSCAN; the cursor is HSCAN's.
func (s *redisStore) Waiting(ctx context.Context, node, cursor string, limit int) ([]Waiter, string, error) {
	if s.closed() {
		return nil, "", ErrClosed
	}
	var cur uint64
	if cursor != "" {
		var err error
		if cur, err = strconv.ParseUint(cursor, 10, 64); err != nil {
			return nil, "", fmt.Errorf("%w %q: a cursor is a number", ErrBadCursor, cursor)
		}
	}
	kv, next, err := s.rdb.HScan(ctx, s.waitingKey(node), cur, "", int64(max(limit, 1))).Result()
	if err != nil {
		return nil, "", fmt.Errorf("store: waiting: %w", err)
	}
	out := make([]Waiter, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		ms, _ := strconv.ParseInt(kv[i+1], 10, 64)
		out = append(out, Waiter{Contact: kv[i], Since: time.UnixMilli(ms)})
	}
	nextCursor := ""
	if next != 0 {
		nextCursor = strconv.FormatUint(next, 10)
	}
	return out, nextCursor, nil
}

func (s *redisStore) WaitingCounts(ctx context.Context, nodes []string) ([]int64, error) {
	if s.closed() {
		return nil, ErrClosed
	}
	out := make([]int64, len(nodes))
	if len(nodes) == 0 {
		return out, nil
	}
	pipe := s.rdb.Pipeline()
	lens := make([]*redis.IntCmd, len(nodes))
	for i, n := range nodes {
		lens[i] = pipe.HLen(ctx, s.waitingKey(n))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("store: waiting counts: %w", err)
	}
	for i, l := range lens {
		out[i] = l.Val()
	}
	return out, nil
}

func (s *redisStore) Unindex(ctx context.Context, node string, stale ...Waiter) error {
	if s.closed() {
		return ErrClosed
	}
	key := s.waitingKey(node)
	for _, w := range stale {
		if err := unindexScript.Run(ctx, s.rdb, []string{key}, w.Contact, w.Since.UnixMilli()).Err(); err != nil {
			return fmt.Errorf("store: unindex: %w", err)
		}
	}
	return nil
}

func (s *redisStore) Forget(ctx context.Context, contact string, nodes []string, hold time.Duration) error {
	if err := checkContact(contact); err != nil {
		return err
	}
	if s.closed() {
		return ErrClosed
	}
	pipe := s.rdb.Pipeline()
	pipe.Del(ctx, s.eventsKey(contact))
	if hold > 0 {
		pipe.Set(ctx, s.forgottenKey(contact), "1", max(hold, time.Millisecond))
	}
	for _, n := range nodes {
		pipe.HDel(ctx, s.waitingKey(n), contact)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: forget: %w", err)
	}
	return nil
}
