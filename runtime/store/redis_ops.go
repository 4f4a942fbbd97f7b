package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// signal tells the workers of all replicas that the contact may have work.
func (s *redisStore) signal(ctx context.Context, contact string) error {
	err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: s.keys.signals, Values: []string{"c", contact}}).Err()
	if err != nil {
		return fmt.Errorf("store: signal: %w", err)
	}
	return nil
}

func (s *redisStore) ack(ctx context.Context, id string) error {
	return s.lua.ack.Run(ctx, s.rdb, []string{s.keys.signals}, group, id).Err()
}

func (s *redisStore) Enqueue(ctx context.Context, contact string, items ...Item) (int, error) {
	if err := checkContact(contact); err != nil {
		return 0, err
	}
	if s.closed() {
		return 0, ErrClosed
	}
	accepted := 0
	if len(items) > 0 {
		ck := s.keys.contact(contact)
		args := make([]any, 0, 1+3*len(items))
		args = append(args, len(items))
		call := ""
		for i, it := range items {
			id, ttl := it.ID, s.opts.DedupeTTL
			if id == "" {
				// A private ID that only a retry of this very call repeats.
				if call == "" {
					call = "\x00" + newToken() + ":"
				}
				id, ttl = call+strconv.Itoa(i), min(autoDedupeTTL, s.opts.DedupeTTL)
			}
			args = append(args, id, ttl.Milliseconds(), encodeItem(it))
		}
		keys := []string{ck.inbox, ck.dedupe}
		if n, ok, err := s.enqueuePipelined(ctx, contact, keys, args); ok {
			return n, err
		}
		n, err := s.lua.enqueue.Run(ctx, s.rdb, keys, args...).Int()
		if err != nil {
			return 0, fmt.Errorf("store: enqueue: %w", err)
		}
		accepted = n
	}
	// Always: if an earlier attempt appended but died before signalling, its
	// retry (all duplicates now) is what gets the work noticed.
	if err := s.signal(ctx, contact); err != nil {
		return accepted, err
	}
	return accepted, nil
}

// enqueuePipelined sends the append and the signal in one round trip, which
// is most of a webhook's latency. Only on a single Redis: one connection
// keeps the two in order, so the signal never overtakes the append it
// announces (a cluster may route them to different nodes). It reports false
// when the caller must take the two-call path: a cluster, or an append that
// failed (NOSCRIPT after a Redis restart, an outage), which the two-call
// path then retries and reports.
func (s *redisStore) enqueuePipelined(ctx context.Context, contact string, keys []string, args []any) (int, bool, error) {
	if _, single := s.rdb.(*redis.Client); !single {
		return 0, false, nil
	}
	pipe := s.rdb.Pipeline()
	eval := s.lua.enqueue.EvalSha(ctx, pipe, keys, args...)
	sig := pipe.XAdd(ctx, &redis.XAddArgs{Stream: s.keys.signals, Values: []string{"c", contact}})
	_, _ = pipe.Exec(ctx)
	n, err := eval.Int()
	if err != nil {
		return 0, false, nil
	}
	if sig.Err() != nil {
		// The items are in; only the signal is missing.
		return n, true, s.signal(ctx, contact)
	}
	return n, true, nil
}

func (s *redisStore) Load(ctx context.Context, l *Lease) (*Snapshot, error) {
	if s.closed() {
		return nil, ErrClosed
	}
	if snap := l.prefetched; snap != nil {
		// Read with the lease grant: nothing but appends to the inbox can
		// have happened since, and Release notices those.
		l.prefetched = nil
		return snap, nil
	}
	ck := s.keys.contact(l.Contact)
	res, err := s.lua.load.Run(ctx, s.rdb, []string{ck.lease, ck.state, ck.inbox, ck.outbox}, l.Token).Slice()
	if err != nil {
		return nil, fmt.Errorf("store: load: %w", err)
	}
	if len(res) == 0 || res[0] != int64(1) {
		return nil, ErrLeaseLost
	}
	return decodeSnapshot(res[1:])
}

// decodeSnapshot reads the {state, inbox, outbox} reply of load.lua and
// lease.lua.
func decodeSnapshot(res []any) (*Snapshot, error) {
	if len(res) != 3 {
		return nil, fmt.Errorf("store: load: unexpected reply %v", res)
	}
	snap := &Snapshot{}
	if st, ok := res[0].(string); ok {
		snap.State = []byte(st)
	}
	inbox, _ := res[1].([]any)
	snap.Inbox = make([]Item, 0, len(inbox))
	for _, v := range inbox {
		str, _ := v.(string)
		it, err := decodeItem(str)
		if err != nil {
			return nil, err
		}
		snap.Inbox = append(snap.Inbox, it)
	}
	outbox, _ := res[2].([]any)
	for _, v := range outbox {
		str, _ := v.(string)
		snap.Outbox = append(snap.Outbox, []byte(str))
	}
	return snap, nil
}

func (s *redisStore) Commit(ctx context.Context, l *Lease, c Commit) error {
	if s.closed() {
		return ErrClosed
	}
	if c.Consumed < 0 {
		return fmt.Errorf("store: commit consumes %d items", c.Consumed)
	}
	ck := s.keys.contact(l.Contact)
	keys := []string{ck.lease, ck.state, ck.inbox, ck.outbox, ck.timers}
	for attempt := 0; ; attempt++ {
		nonces, idxArgs, err := indexArgs(l.Contact, c.SetTimers)
		if err != nil {
			return err
		}
		r, ok := 0, false
		if attempt == 0 {
			r, ok = s.commitPipelined(ctx, l, c, keys, nonces, idxArgs)
		}
		if !ok {
			// Index first: an entry without a stored timer is harmless, a
			// stored timer without an entry would never fire. The same
			// nonces as a pipelined attempt: its commit may have been
			// applied (storing those nonces) although its index failed.
			stamp, err := s.runIndex(ctx, idxArgs)
			if err != nil {
				return err
			}
			if r, err = s.lua.commit.Run(ctx, s.rdb, keys, commitArgs(l, c, s.ttlMS, stamp, nonces)...).Int(); err != nil {
				return fmt.Errorf("store: commit: %w", err)
			}
		}
		switch r {
		case 1, 2:
			l.seq++
			return nil
		case 0:
			return ErrLeaseLost
		case -1:
			if attempt < 3 {
				continue
			}
			return errors.New("store: commit: timer index entries keep expiring before the commit (clock skew between Redis nodes?)")
		case -2:
			return fmt.Errorf("store: commit consumes %d items but the inbox holds fewer", c.Consumed)
		default:
			return fmt.Errorf("store: commit: unexpected reply %d", r)
		}
	}
}

// commitPipelined sends a commit that sets timers together with its index
// entries in one round trip, on a single Redis: one connection keeps the
// index before the commit, which is all the ordering needs. The commit's
// age check of the entries is moot here (they were written just before, by
// the same pipeline), so it gets a stamp that always passes. It reports
// false when the caller must take the two-call path: a cluster, no timers
// (the commit alone is one round trip already), or any error. That path
// indexes the same nonces again, because the pipelined commit may have been
// applied while its index entry was not (index.lua not cached yet after a
// Redis restart: NOSCRIPT); the retried commit is then recognised as
// applied (same sequence number and digest), and its timers have entries.
func (s *redisStore) commitPipelined(ctx context.Context, l *Lease, c Commit, keys []string, nonces []string, args []any) (int, bool) {
	if _, single := s.rdb.(*redis.Client); !single || len(c.SetTimers) == 0 {
		return 0, false
	}
	const alwaysFresh = math.MaxInt64 / 2
	pipe := s.rdb.Pipeline()
	idx := s.lua.index.EvalSha(ctx, pipe, []string{s.keys.timerIndex}, args...)
	cm := s.lua.commit.EvalSha(ctx, pipe, keys, commitArgs(l, c, s.ttlMS, alwaysFresh, nonces)...)
	_, _ = pipe.Exec(ctx)
	if idx.Err() != nil {
		return 0, false
	}
	r, err := cm.Int()
	if err != nil {
		return 0, false
	}
	return r, true
}

func commitArgs(l *Lease, c Commit, ttlMS, stamp int64, nonces []string) []any {
	mode, state := "0", []byte(nil)
	switch {
	case c.DeleteState:
		mode = "2"
	case c.State != nil:
		mode, state = "1", c.State
	}
	args := make([]any, 0, 12+len(c.Outbox)+3*len(c.SetTimers)+len(c.CancelTimers))
	args = append(args, l.Token, l.seq, ttlMS, mode, state, c.Consumed,
		(timerGrace / 2).Milliseconds(), stamp, commitDigest(c), len(c.Outbox))
	for _, e := range c.Outbox {
		args = append(args, e)
	}
	args = append(args, len(c.SetTimers))
	for i, t := range c.SetTimers {
		args = append(args, t.ID, nonces[i], t.Payload)
	}
	args = append(args, len(c.CancelTimers))
	for _, id := range c.CancelTimers {
		args = append(args, id)
	}
	return args
}

func (s *redisStore) Renew(ctx context.Context, l *Lease) error {
	if s.closed() {
		return ErrClosed
	}
	r, err := s.lua.renew.Run(ctx, s.rdb, []string{s.keys.contact(l.Contact).lease}, l.Token, s.ttlMS).Int()
	if err != nil {
		return fmt.Errorf("store: renew: %w", err)
	}
	if r != 1 {
		return ErrLeaseLost
	}
	return nil
}

func (s *redisStore) Release(ctx context.Context, l *Lease) error {
	if s.closed() {
		return ErrClosed
	}
	ck := s.keys.contact(l.Contact)
	if _, single := s.rdb.(*redis.Client); single {
		// One round trip: a single Redis lets one script reach the stream too.
		err := s.lua.release1.Run(ctx, s.rdb, []string{ck.lease, ck.inbox, ck.outbox, s.keys.signals},
			l.Token, l.Contact, group, l.sig).Err()
		if err != nil {
			return fmt.Errorf("store: release: %w", err)
		}
		return nil
	}
	left, err := s.lua.release.Run(ctx, s.rdb, []string{ck.lease, ck.inbox, ck.outbox}, l.Token).Int64()
	if err != nil {
		return fmt.Errorf("store: release: %w", err)
	}
	if left > 0 {
		if err := s.signal(ctx, l.Contact); err != nil {
			return err
		}
	}
	// Only now: until the new signal exists, the pending one is what gets
	// this contact reclaimed if we die.
	if l.sig != "" {
		if err := s.ack(ctx, l.sig); err != nil {
			return fmt.Errorf("store: release: ack: %w", err)
		}
	}
	return nil
}
