package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

func (s *redisStore) Acquire(ctx context.Context) (*Lease, error) {
	s.waiting.Add(1)
	defer s.waiting.Add(-1)
	select {
	case s.wake <- struct{}{}:
	default: // the reader is awake or already poked
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.ctx.Done():
		return nil, ErrClosed
	case l := <-s.grants:
		if ctx.Err() != nil {
			// Taken as ctx ended: give it back (the work is signalled again).
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
			defer cancel()
			_ = s.Release(tctx, l)
			return nil, ctx.Err()
		}
		return l, nil
	}
}

// grant takes the leases of the signals' contacts, in one round trip, and
// returns those granted. A signal whose contact another worker holds is
// settled by the same script (ack_if_redundant); one that fails stays
// pending and is reclaimed later. The first error is returned for the
// caller's backoff.
func (s *redisStore) grant(ctx context.Context, sigs []signal) ([]*Lease, error) {
	type attempt struct {
		sig signal
		tok string
		cmd *redis.Cmd
	}
	var (
		firstErr error
		fail     = func(err error) {
			if firstErr == nil {
				firstErr = err
			}
		}
		tries = make([]attempt, 0, len(sigs))
		pipe  = s.rdb.Pipeline()
	)
	leaseCmd := func(ctx context.Context, c redis.Scripter, sig signal, tok string, sha bool) *redis.Cmd {
		ck := s.keys.contact(sig.contact)
		keys := []string{ck.lease, ck.state, ck.inbox, s.keys.signals}
		args := []any{tok, sig.id, s.ttlMS, s.opts.Owner, group}
		if sha {
			return s.lua.lease.EvalSha(ctx, c, keys, args...)
		}
		return s.lua.lease.Run(ctx, c, keys, args...)
	}
	for _, sig := range sigs {
		if sig.contact == "" {
			// Not ours to interpret: drop it.
			if err := s.ack(ctx, sig.id); err != nil {
				fail(err)
			}
			continue
		}
		tok := newToken()
		tries = append(tries, attempt{sig, tok, leaseCmd(ctx, pipe, sig, tok, true)})
	}
	if len(tries) > 0 {
		_, _ = pipe.Exec(ctx)
	}
	var granted []*Lease
	for _, a := range tries {
		res, err := a.cmd.Slice()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			// Not cached yet (a Redis restart): the lease was not taken.
			res, err = leaseCmd(ctx, s.rdb, a.sig, a.tok, false).Slice()
		}
		if err != nil {
			fail(fmt.Errorf("store: lease: %w", err))
			continue
		}
		if r, _ := res[0].(int64); r == 1 {
			snap, err := s.decodeSnapshot(a.sig.contact, res[1:])
			if err != nil {
				fail(err)
				continue
			}
			granted = append(granted, &Lease{Contact: a.sig.contact, Token: a.tok, sig: a.sig.id, prefetched: snap})
		}
		// Otherwise held by another worker: the script settled the signal,
		// or this signal granted the live lease (reclaimed from a slow
		// holder) and stays pending so it is reclaimed again if the holder
		// dies.
	}
	return granted, firstErr
}

// serve leases the signals' contacts and hands the leases to Acquire
// calls. A lease that no call takes in time (its caller gave up between the
// read and now), or that is in hand at Close, is released: the release
// signals the work again for any replica, rather than leaving the contact
// held. It reports whether the leases could be taken (false: back off).
func (s *redisStore) serve(sigs []signal) bool {
	// Not cut short by Close: a lease taken whose reply was dropped would
	// hold its contact for a lease TTL. Close waits for this goroutine.
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	granted, err := s.grant(ctx, sigs)
	cancel()
	t := time.NewTimer(handOverWait)
	defer t.Stop()
	for i, l := range granted {
		select {
		case s.grants <- l:
			continue
		case <-t.C:
		case <-s.ctx.Done():
		}
		rctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		for _, l := range granted[i:] {
			// Also while closing: a lease kept would hold the contact for
			// a lease TTL. If it fails, the lease expires and the signal is
			// reclaimed.
			_ = s.release(rctx, l)
		}
		cancel()
		break
	}
	return err == nil
}

// read feeds signals to Acquire calls. It reads only while calls are
// waiting, as many signals as there are calls (at most maxRead), leases
// their contacts in one round trip and hands the leases over; then it
// reads again. So a replica does not hoard work that its busy workers
// cannot serve, yet drains a burst in two round trips.
func (s *redisStore) read() {
	defer s.wg.Done()
	var b backoff
	for !s.closed() {
		n := s.waiting.Load()
		if n == 0 {
			select {
			case <-s.wake:
			case <-s.ctx.Done():
				return
			}
			continue
		}
		res, err := s.reader.XReadGroup(s.ctx, &redis.XReadGroupArgs{
			Group:    group,
			Consumer: s.consumer,
			Streams:  []string{s.keys.signals, ">"},
			Count:    min(n, maxRead),
			Block:    readBlock,
		}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if s.closed() {
				return
			}
			if strings.HasPrefix(err.Error(), "NOGROUP") {
				// The stream vanished (FLUSHALL, a Redis without
				// persistence restarted): recreate it.
				_ = s.ensureGroup(s.ctx)
			}
			if !b.wait(s.ctx) {
				return
			}
			continue
		}
		b.reset()
		var sigs []signal
		for _, st := range res {
			for _, msg := range st.Messages {
				sigs = append(sigs, signalOf(msg))
			}
		}
		if !s.serve(sigs) && !b.wait(s.ctx) {
			return
		}
	}
}

// signalOf reads a stream entry.
func signalOf(msg redis.XMessage) signal {
	c, _ := msg.Values["c"].(string)
	return signal{id: msg.ID, contact: c}
}

// reclaim takes over signals pending longer than a LeaseTTL: those of a
// replica that died, or of a contact whose lease was still held then.
func (s *redisStore) reclaim() {
	defer s.wg.Done()
	every := min(max(s.opts.LeaseTTL/2, 50*time.Millisecond), 10*time.Second)
	tick := time.NewTicker(every)
	defer tick.Stop()
	lastGC := time.Now()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		start := "0-0"
		for page := 0; page < 16; page++ {
			msgs, next, err := s.rdb.XAutoClaim(s.ctx, &redis.XAutoClaimArgs{
				Stream:   s.keys.signals,
				Group:    group,
				Consumer: s.consumer,
				MinIdle:  s.opts.LeaseTTL,
				Start:    start,
				Count:    16,
			}).Result()
			if err != nil {
				if strings.HasPrefix(err.Error(), "NOGROUP") {
					_ = s.ensureGroup(s.ctx)
				}
				break
			}
			sigs := make([]signal, 0, len(msgs))
			for _, msg := range msgs {
				sigs = append(sigs, signalOf(msg))
			}
			s.serve(sigs)
			if s.closed() {
				return
			}
			if next == "0-0" || next == "" {
				break
			}
			start = next
		}
		if time.Since(lastGC) > 5*time.Minute {
			lastGC = time.Now()
			_ = s.lua.gc.Run(s.ctx, s.rdb, []string{s.keys.signals}, group, consumerGCIdle.Milliseconds()).Err()
		}
	}
}

// backoff waits between failed reads while Redis is unreachable.
type backoff struct{ d time.Duration }

func (b *backoff) reset() { b.d = 0 }

// wait sleeps for the next delay; false means ctx ended.
func (b *backoff) wait(ctx context.Context) bool {
	b.d = min(max(2*b.d, 50*time.Millisecond), 2*time.Second)
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
