package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

func (s *redisStore) Acquire(ctx context.Context) (*Lease, error) {
	for {
		var sig signal
		s.waiting.Add(1)
		select {
		case <-ctx.Done():
			s.waiting.Add(-1)
			return nil, ctx.Err()
		case <-s.ctx.Done():
			s.waiting.Add(-1)
			return nil, ErrClosed
		case sig = <-s.sigs:
		}
		s.waiting.Add(-1)
		// A signal in hand is settled even if ctx ends now: left unsettled it
		// would wait a LeaseTTL to be reclaimed.
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
		l, err := s.tryLease(tctx, sig)
		if err == nil && l != nil && ctx.Err() != nil {
			err = s.Release(tctx, l)
			l = nil
			if err == nil {
				err = ctx.Err()
			}
		}
		cancel()
		if err != nil {
			return nil, err // the signal stays pending and is reclaimed
		}
		if l != nil {
			return l, nil
		}
	}
}

// tryLease takes the lease of the signal's contact. It returns nil when the
// contact is held by another worker.
func (s *redisStore) tryLease(ctx context.Context, sig signal) (*Lease, error) {
	if sig.contact == "" {
		return nil, s.ack(ctx, sig.id) // not ours to interpret: drop it
	}
	tok := newToken()
	ck := s.keys.contact(sig.contact)
	res, err := s.lua.lease.Run(ctx, s.rdb, []string{ck.lease, ck.state, ck.inbox, ck.outbox},
		tok, sig.id, s.ttlMS, s.opts.Owner).Slice()
	if err != nil {
		return nil, err
	}
	r, _ := res[0].(int64)
	switch {
	case r == 1:
		snap, err := decodeSnapshot(res[1:])
		if err != nil {
			return nil, err
		}
		return &Lease{Contact: sig.contact, Token: tok, sig: sig.id, prefetched: snap}, nil
	case r == 0 && len(res) == 2:
		// Held by another worker: this signal is redundant if the holder's
		// is still pending (see ackbusy.lua), else it is kept and comes back
		// after a LeaseTTL.
		holder, _ := res[1].(string)
		return nil, s.lua.ackBusy.Run(ctx, s.rdb, []string{s.keys.signals}, group, sig.id, holder).Err()
	default:
		// This signal granted the live lease (we reclaimed it from a slow
		// holder): keep it pending so it is reclaimed again if the holder dies.
		return nil, nil
	}
}

// deliver hands a signal to an Acquire call. It reports false on Close.
func (s *redisStore) deliver(msg redis.XMessage) bool {
	c, _ := msg.Values["c"].(string)
	select {
	case s.sigs <- signal{id: msg.ID, contact: c}:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// read feeds new signals to Acquire. It reads as many signals as there are
// Acquire calls waiting (at least one, at most maxRead), and only reads again
// once they were taken, so a replica does not hoard signals that its busy
// workers cannot serve, yet drains a burst in one round trip.
func (s *redisStore) read() {
	defer s.wg.Done()
	var b backoff
	for !s.closed() {
		res, err := s.reader.XReadGroup(s.ctx, &redis.XReadGroupArgs{
			Group:    group,
			Consumer: s.consumer,
			Streams:  []string{s.keys.signals, ">"},
			Count:    min(max(s.waiting.Load(), 1), maxRead),
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
		for _, st := range res {
			for _, msg := range st.Messages {
				if !s.deliver(msg) {
					return
				}
			}
		}
	}
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
			for _, msg := range msgs {
				if !s.deliver(msg) {
					return
				}
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
