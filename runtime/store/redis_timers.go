package store

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// timerBatch is how many due index entries the pump takes per round trip.
const timerBatch = 128

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

// fireDue fires one batch of due index entries, in one pipeline, and
// returns its size.
func (s *redisStore) fireDue(ctx context.Context) (int, error) {
	due, err := s.rdb.ZRangeByScore(ctx, s.keys.timerIndex, &redis.ZRangeBy{
		Min:   "-inf",
		Max:   strconv.FormatInt(time.Now().UnixMilli(), 10),
		Count: timerBatch,
	}).Result()
	if err != nil || len(due) == 0 {
		return 0, err
	}
	for attempt := 0; ; attempt++ {
		pipe := s.rdb.Pipeline()
		for _, member := range due {
			m, err := parseTimerMember(member)
			if err != nil {
				pipe.ZRem(ctx, s.keys.timerIndex, member) // not ours: drop
				continue
			}
			ck := s.keys.contact(m.contact)
			s.lua.fire.EvalSha(ctx, pipe, []string{ck.timers, ck.inbox, s.keys.timerIndex, s.keys.signals, ck.lease},
				member, m.id, m.nonce, m.contact, group)
		}
		cmds, err := pipe.Exec(ctx)
		if attempt == 0 && slices.ContainsFunc(cmds, func(c redis.Cmder) bool {
			return c.Err() != nil && redis.HasErrorPrefix(c.Err(), "NOSCRIPT")
		}) {
			// Not cached (a Redis restart, the first firing): nothing of
			// those ran; load the script and fire them again.
			if err := s.lua.fire.Load(ctx, s.rdb).Err(); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, err
		}
		return len(due), nil
	}
}
