package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// timerBatch is how many due index entries the pump takes per round trip.
const timerBatch = 128

// indexTimers adds one index entry per timer, each with a fresh nonce, and
// returns the server time stamped on them. It runs before the commit that
// stores the timers.
func (s *redisStore) indexTimers(ctx context.Context, contact string, timers []Timer) (int64, []string, error) {
	if len(timers) == 0 {
		return 0, nil, nil
	}
	nonces, args, err := indexArgs(contact, timers)
	if err != nil {
		return 0, nil, err
	}
	stamp, err := s.lua.index.Run(ctx, s.rdb, []string{s.keys.timerIndex}, args...).Int64()
	if err != nil {
		return 0, nil, fmt.Errorf("store: index timers: %w", err)
	}
	return stamp, nonces, nil
}

// indexArgs are the arguments of index.lua for timers, with the fresh nonce
// of each.
func indexArgs(contact string, timers []Timer) ([]string, []any, error) {
	nonces := make([]string, len(timers))
	args := make([]any, 0, 2*len(timers))
	for i, t := range timers {
		if t.ID == "" {
			return nil, nil, fmt.Errorf("store: timer without ID")
		}
		nonces[i] = newNonce()
		args = append(args, t.At.UnixMilli(), memberTail(nonces[i], contact, t.ID))
	}
	return nonces, args, nil
}

// pumpTimers moves due timers into their contacts' inboxes. Every replica
// runs it; replicas racing on one entry are harmless because only the
// script that removes the stored timer appends the item.
func (s *redisStore) pumpTimers() {
	defer s.wg.Done()
	tick := time.NewTicker(timerPoll)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		for {
			n, err := s.fireDue(s.ctx)
			if err != nil || n < timerBatch {
				break
			}
		}
	}
}

// fireDue handles one batch of due index entries and returns its size.
func (s *redisStore) fireDue(ctx context.Context) (int, error) {
	due, err := s.rdb.ZRangeByScore(ctx, s.keys.timerIndex, &redis.ZRangeBy{
		Min:   "-inf",
		Max:   strconv.FormatInt(time.Now().UnixMilli(), 10),
		Count: timerBatch,
	}).Result()
	if err != nil {
		return 0, err
	}
	for _, member := range due {
		if err := s.fireEntry(ctx, member); err != nil {
			return 0, err
		}
	}
	return len(due), nil
}

func (s *redisStore) fireEntry(ctx context.Context, member string) error {
	m, err := parseTimerMember(member)
	if err != nil {
		return s.rdb.ZRem(ctx, s.keys.timerIndex, member).Err() // not ours: drop
	}
	ck := s.keys.contact(m.contact)
	res, err := s.lua.fire.Run(ctx, s.rdb, []string{ck.timers, ck.inbox}, m.id, m.nonce).Int64Slice()
	if err != nil {
		return err
	}
	if len(res) != 2 {
		return fmt.Errorf("store: fire: unexpected reply %v", res)
	}
	fired, work := res[0] == 1, res[1] > 0
	// Signal also when this entry found nothing to fire but the inbox has
	// work: a pump that fired and died before signalling left it there.
	if fired || work {
		if err := s.signal(ctx, m.contact); err != nil {
			return err
		}
	}
	if fired {
		return s.rdb.ZRem(ctx, s.keys.timerIndex, member).Err()
	}
	return s.lua.settle.Run(ctx, s.rdb, []string{s.keys.timerIndex}, member, m.created, timerGrace.Milliseconds()).Err()
}
