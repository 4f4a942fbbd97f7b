package store

import (
	"context"
	"errors"
	"fmt"
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
		if s.single() {
			// One command: a single Redis lets one script reach the stream too.
			args = append(args, contact, group)
			keys := []string{ck.inbox, ck.dedupe, s.keys.signals, ck.lease}
			n, err := s.batch.run(ctx, s.lua.enqueue1, keys, args...).Int()
			if err != nil {
				return 0, fmt.Errorf("store: enqueue: %w", err)
			}
			return n, nil
		}
		res, err := s.lua.enqueue.Run(ctx, s.rdb, []string{ck.inbox, ck.dedupe, ck.lease}, args...).Slice()
		if err != nil {
			return 0, fmt.Errorf("store: enqueue: %w", err)
		}
		if len(res) != 2 {
			return 0, fmt.Errorf("store: enqueue: unexpected reply %v", res)
		}
		n, _ := res[0].(int64)
		holder, _ := res[1].(string)
		accepted = int(n)
		if holder != "" && s.pending(ctx, holder) {
			// Leased under a signal still pending: the holder sees the items
			// before it lets the contact go (its release signals them if it
			// does not go on with them), and if it dies its signal is
			// reclaimed.
			return accepted, nil
		}
	}
	// Always (unless leased, see above): if an earlier attempt appended but
	// died before signalling, its retry (all duplicates now) is what gets
	// the work noticed.
	if err := s.signal(ctx, contact); err != nil {
		return accepted, err
	}
	return accepted, nil
}

// pending reports whether a signal is pending in the consumer group; when
// that cannot be told, it reports false, so the caller signals anew.
func (s *redisStore) pending(ctx context.Context, id string) bool {
	p, err := s.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: s.keys.signals, Group: group, Start: id, End: id, Count: 1}).Result()
	return err == nil && len(p) == 1
}

// single reports whether the store talks to a single Redis (not Cluster),
// where one script may touch keys of several slots: the "1" scripts then do
// in one command what a Cluster needs two or three calls for.
func (s *redisStore) single() bool {
	_, ok := s.rdb.(*redis.Client)
	return ok
}

func (s *redisStore) Load(ctx context.Context, l *Lease) (*Snapshot, error) {
	if s.closed() {
		return nil, ErrClosed
	}
	if snap := l.prefetched; snap != nil {
		// Read with the lease grant or by the releasing commit that found
		// work left: nothing but appends to the inbox can have happened
		// since, and the next releasing commit notices those.
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
	if l.released {
		return ErrLeaseLost
	}
	if c.Consumed < 0 {
		return fmt.Errorf("store: commit consumes %d items", c.Consumed)
	}
	ck := s.keys.contact(l.Contact)
	var reply commitResult
	var err error
	if s.single() {
		reply, err = s.commitSingle(ctx, l, c, ck)
	} else {
		reply, err = s.commitCluster(ctx, l, c, ck)
	}
	if err != nil {
		return err
	}
	switch reply.outcome {
	case 1, 2:
		l.seq++
		switch {
		case !c.Release:
		case reply.more != nil:
			// Work arrived meanwhile: the lease is kept, and this is what
			// the next Load returns.
			l.prefetched = reply.more
		default:
			l.released = true
			if !s.single() {
				// On a Cluster the acknowledgement is a call of its own (no
				// work was left, so nothing to signal). The commit is applied
				// whatever happens here: if it fails, the lease's signal is
				// reclaimed after a LeaseTTL and finds nothing to do.
				_ = s.signalAndAck(ctx, l, 0)
			}
		}
		return nil
	case 0:
		return ErrLeaseLost
	case -1:
		return errors.New("store: commit: timer index entries keep expiring before the commit (clock skew between Redis nodes?)")
	case -2:
		return fmt.Errorf("store: commit consumes %d items but the inbox holds fewer", c.Consumed)
	default:
		return fmt.Errorf("store: commit: unexpected reply %d", reply.outcome)
	}
}

// commitSingle is a commit on a single Redis: the commit, its timers' index
// entries and the release in one command (commit1.lua).
func (s *redisStore) commitSingle(ctx context.Context, l *Lease, c Commit, ck contactKeys) (commitResult, error) {
	nonces, idx, err := indexArgs(l.Contact, c.SetTimers)
	if err != nil {
		return commitResult{}, err
	}
	args := commitArgs(l, c, s.ttlMS, 0, nonces)
	args = append(args, l.Contact, group, l.sig)
	args = append(args, idx...)
	keys := []string{ck.lease, ck.state, ck.inbox, ck.outbox, ck.timers, s.keys.timerIndex, s.keys.signals}
	return commitReply(s.batch.run(ctx, s.lua.commit1, keys, args...))
}

// commitCluster is a commit on Redis Cluster, where the timer index lives in
// another slot than the contact: index entries first, each with a fresh
// nonce (an entry without a stored timer is harmless; a stored timer
// without an entry would never fire), then commit.lua, which refuses
// entries too old to be trusted still to be there; then they are written
// again.
func (s *redisStore) commitCluster(ctx context.Context, l *Lease, c Commit, ck contactKeys) (commitResult, error) {
	keys := []string{ck.lease, ck.state, ck.inbox, ck.outbox, ck.timers}
	for attempt := 0; ; attempt++ {
		stamp, nonces, err := s.indexTimers(ctx, l.Contact, c.SetTimers)
		if err != nil {
			return commitResult{}, err
		}
		reply, err := commitReply(s.lua.commit.Run(ctx, s.rdb, keys, commitArgs(l, c, s.ttlMS, stamp, nonces)...))
		if err != nil || reply.outcome != -1 || attempt == 3 {
			return reply, err
		}
	}
}

// commitResult is the reply of the commit scripts: the outcome and, for a
// releasing commit that found work left, that work.
type commitResult struct {
	outcome int64
	more    *Snapshot
}

// commitReply reads the reply of the commit scripts: {outcome, work left}
// or {outcome, work left, state, inbox, outbox}.
func commitReply(cmd *redis.Cmd) (commitResult, error) {
	res, err := cmd.Slice()
	if err != nil {
		return commitResult{}, fmt.Errorf("store: commit: %w", err)
	}
	if len(res) != 2 && len(res) != 5 {
		return commitResult{}, fmt.Errorf("store: commit: unexpected reply %v", res)
	}
	outcome, ok := res[0].(int64)
	if !ok {
		return commitResult{}, fmt.Errorf("store: commit: unexpected reply %v", res)
	}
	reply := commitResult{outcome: outcome}
	if len(res) == 5 {
		if reply.more, err = decodeSnapshot(res[2:]); err != nil {
			return commitResult{}, err
		}
	}
	return reply, nil
}

func commitArgs(l *Lease, c Commit, ttlMS, stamp int64, nonces []string) []any {
	mode, state := "0", []byte(nil)
	switch {
	case c.DeleteState:
		mode = "2"
	case c.State != nil:
		mode, state = "1", c.State
	}
	release := "0"
	if c.Release {
		release = "1"
	}
	args := make([]any, 0, 16+len(c.Outbox)+5*len(c.SetTimers)+len(c.CancelTimers))
	args = append(args, l.Token, l.seq, ttlMS, mode, state, c.Consumed,
		(timerGrace / 2).Milliseconds(), stamp, commitDigest(c), release, len(c.Outbox))
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
	return s.release(ctx, l)
}

// release is Release without the closed check, for the store's own
// goroutines, which Close waits for before it closes the connections.
func (s *redisStore) release(ctx context.Context, l *Lease) error {
	if l.released {
		return nil // by its last Commit
	}
	ck := s.keys.contact(l.Contact)
	if s.single() {
		// One round trip: a single Redis lets one script reach the stream too.
		err := s.lua.release1.Run(ctx, s.rdb, []string{ck.lease, ck.inbox, ck.outbox, s.keys.signals},
			l.Token, l.Contact, group, l.sig).Err()
		if err != nil {
			return fmt.Errorf("store: release: %w", err)
		}
		l.released = true
		return nil
	}
	left, err := s.lua.release.Run(ctx, s.rdb, []string{ck.lease, ck.inbox, ck.outbox}, l.Token).Int64()
	if err != nil {
		return fmt.Errorf("store: release: %w", err)
	}
	if err := s.signalAndAck(ctx, l, left); err != nil {
		return err // retried, the release redoes these steps
	}
	l.released = true
	return nil
}

// signalAndAck finishes a release on Redis Cluster: signal the contact if
// work is left, and only then acknowledge the lease's signal — until the
// new signal exists, the pending one is what gets the contact reclaimed if
// this replica dies.
func (s *redisStore) signalAndAck(ctx context.Context, l *Lease, left int64) error {
	if left > 0 {
		if err := s.signal(ctx, l.Contact); err != nil {
			return err
		}
	}
	if l.sig != "" {
		if err := s.ack(ctx, l.sig); err != nil {
			return fmt.Errorf("store: release: ack: %w", err)
		}
	}
	return nil
}
