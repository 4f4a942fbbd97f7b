package store

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

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
	ck := s.keys.contact(contact)
	args := make([]any, 0, 4+3*len(items))
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
		args = append(args, id, ttl.Milliseconds(), s.seal.encodeItem(contact, it))
	}
	// Always, even with no items or only duplicates: if an earlier attempt
	// appended but died before signalling, its retry is what gets the work
	// noticed (enqueue.lua signals unless a live holder will see it).
	args = append(args, contact, group, s.opts.MaxInbox)
	keys := []string{ck.inbox, ck.dedupe, s.keys.signals, ck.lease}
	res, err := s.batch.run(ctx, s.lua.enqueue, keys, args...).Int64Slice()
	if err != nil {
		return 0, redisError("enqueue", err)
	}
	if len(res) != 2 {
		return 0, fmt.Errorf("store: enqueue: unexpected reply %v", res)
	}
	if res[1] > 0 {
		return int(res[0]), fmt.Errorf("%w: %d items refused", ErrInboxFull, res[1])
	}
	return int(res[0]), nil
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
	res, err := s.lua.load.Run(ctx, s.rdb, []string{ck.lease, ck.state, ck.inbox}, l.Token).Slice()
	if err != nil {
		return nil, fmt.Errorf("store: load: %w", err)
	}
	if len(res) == 0 || res[0] != int64(1) {
		return nil, ErrLeaseLost
	}
	return s.decodeSnapshot(l.Contact, res[1:])
}

// decodeSnapshot reads the {state, inbox} reply of load.lua, lease.lua and
// a continuing commit.lua, checking every seal.
func (s *redisStore) decodeSnapshot(contact string, res []any) (*Snapshot, error) {
	if len(res) != 2 {
		return nil, fmt.Errorf("store: load: unexpected reply %v", res)
	}
	snap := &Snapshot{}
	if st, ok := res[0].(string); ok {
		snap.State, ok = s.seal.decodeState(contact, []byte(st))
		snap.StateForged = !ok
	}
	inbox, _ := res[1].([]any)
	snap.Inbox = make([]Item, 0, len(inbox))
	for _, v := range inbox {
		str, _ := v.(string)
		snap.Inbox = append(snap.Inbox, s.seal.decodeItem(contact, str))
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
	args, err := s.commitArgs(l, c)
	if err != nil {
		return err
	}
	keys := []string{ck.lease, ck.state, ck.inbox, ck.timers, s.keys.timerIndex, s.keys.signals,
		s.keys.deadLetters, s.keys.deadIndex, ck.dead}
	reply, err := s.commitReply(l.Contact, s.batch.run(ctx, s.lua.commit, keys, args...))
	if err != nil {
		return err
	}
	switch reply.outcome {
	case 1, 2:
		l.seq++
		if reply.dropped > 0 {
			s.opts.Dropped(BudgetDeadLetters, int(reply.dropped))
		}
		switch {
		case !c.Release:
		case reply.more != nil:
			// Work arrived meanwhile: the lease is kept, and this is what
			// the next Load returns.
			l.prefetched = reply.more
		default:
			l.released = true
		}
		return nil
	case 0:
		return ErrLeaseLost
	case -2:
		return fmt.Errorf("store: commit consumes %d items but the inbox holds fewer", c.Consumed)
	default:
		return fmt.Errorf("store: commit: unexpected reply %d", reply.outcome)
	}
}

// commitResult is the reply of commit.lua: the outcome, the dead letters
// dropped for the budget and, for a releasing commit that found work left,
// that work.
type commitResult struct {
	outcome int64
	dropped int64
	more    *Snapshot
}

// commitReply reads the reply of commit.lua: {outcome, work left, dropped}
// or {outcome, work left, dropped, state, inbox}.
func (s *redisStore) commitReply(contact string, cmd *redis.Cmd) (commitResult, error) {
	res, err := cmd.Slice()
	if err != nil {
		return commitResult{}, redisError("commit", err)
	}
	if len(res) != 3 && len(res) != 5 {
		return commitResult{}, fmt.Errorf("store: commit: unexpected reply %v", res)
	}
	outcome, ok := res[0].(int64)
	if !ok {
		return commitResult{}, fmt.Errorf("store: commit: unexpected reply %v", res)
	}
	reply := commitResult{outcome: outcome}
	reply.dropped, _ = res[2].(int64)
	if len(res) == 5 {
		if reply.more, err = s.decodeSnapshot(contact, res[3:]); err != nil {
			return commitResult{}, err
		}
	}
	return reply, nil
}

// commitArgs are the arguments of commit.lua (see apply_commit in lib.lua).
func (s *redisStore) commitArgs(l *Lease, c Commit) ([]any, error) {
	mode, state := "0", []byte(nil)
	switch {
	case c.DeleteState:
		mode = "2"
	case c.State != nil:
		mode, state = "1", s.seal.encodeState(l.Contact, c.State)
	}
	release := "0"
	if c.Release {
		release = "1"
	}
	deadID := ""
	if c.DeadLetter != "" {
		deadID = newDeadLetterID()
	}
	args := make([]any, 0, 18+4*len(c.SetTimers)+len(c.CancelTimers))
	args = append(args, l.Token, l.seq, s.ttlMS, mode, state, c.Consumed, commitDigest(c), release,
		s.opts.SessionIdleTimeout.Milliseconds(), c.DeadLetter, deadID, s.opts.MaxDeadLetters,
		l.Contact, group, l.sig, len(c.SetTimers))
	for _, t := range c.SetTimers {
		if t.ID == "" {
			return nil, fmt.Errorf("store: timer without ID")
		}
		nonce := newNonce()
		value := append([]byte(nonce), s.seal.sealTimer(l.Contact, t)...)
		args = append(args, t.ID, value, t.At.UnixMilli(), memberOf(nonce, l.Contact, t.ID))
	}
	args = append(args, len(c.CancelTimers))
	for _, id := range c.CancelTimers {
		args = append(args, id)
	}
	return args, nil
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
	err := s.lua.release.Run(ctx, s.rdb, []string{ck.lease, ck.inbox, s.keys.signals},
		l.Token, l.Contact, group, l.sig).Err()
	if err != nil {
		return fmt.Errorf("store: release: %w", err)
	}
	l.released = true
	return nil
}

// redisError wraps an error of op, marking Redis's refusals for want of
// memory as ErrStoreFull.
func redisError(op string, err error) error {
	if redis.HasErrorPrefix(err, "OOM") {
		return fmt.Errorf("store: %s: %w: %v", op, ErrStoreFull, err)
	}
	return fmt.Errorf("store: %s: %w", op, err)
}
