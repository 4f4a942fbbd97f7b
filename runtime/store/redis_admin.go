package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxListDeadLetters bounds what one DeadLetters call returns.
const maxListDeadLetters = 1000

func (s *redisStore) DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	if s.closed() {
		return nil, ErrClosed
	}
	limit = min(max(limit, 1), maxListDeadLetters)
	res, err := s.lua.deadLetters.Run(ctx, s.rdb, []string{s.keys.deadLetters, s.keys.deadIndex},
		s.opts.SessionIdleTimeout.Milliseconds(), s.opts.MaxDeadLetters, limit).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("store: dead letters: %w", err)
	}
	out := make([]DeadLetter, 0, len(res)/3)
	for i := 0; i+2 < len(res); i += 3 {
		rec, err := decodeDeadRecord(res[i+2])
		if err != nil {
			// Not one this store wrote: show it as forged rather than hide it.
			rec = deadRecord{reason: "malformed dead letter", item: res[i+2]}
		}
		ms, _ := strconv.ParseInt(res[i+1], 10, 64)
		out = append(out, DeadLetter{
			ID: res[i], Contact: rec.contact, Reason: rec.reason, At: time.UnixMilli(ms),
			Item: s.seal.decodeItem(rec.contact, rec.item),
		})
	}
	return out, nil
}

func (s *redisStore) RetryDeadLetter(ctx context.Context, id string) error {
	if s.closed() {
		return ErrClosed
	}
	raw, err := s.rdb.HGet(ctx, s.keys.deadLetters, id).Result()
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return ErrNotFound
		}
		return fmt.Errorf("store: retry dead letter: %w", err)
	}
	rec, err := decodeDeadRecord(raw)
	if err != nil || rec.contact == "" || s.seal.decodeItem(rec.contact, rec.item).Forged {
		return ErrForged
	}
	ck := s.keys.contact(rec.contact)
	ok, err := s.lua.retry.Run(ctx, s.rdb,
		[]string{s.keys.deadLetters, s.keys.deadIndex, ck.dead, ck.inbox, s.keys.signals, ck.lease},
		id, raw, rec.item, rec.contact, group).Int()
	if err != nil {
		return fmt.Errorf("store: retry dead letter: %w", err)
	}
	if ok != 1 {
		return ErrNotFound // retried or erased meanwhile
	}
	return nil
}

func (s *redisStore) Erase(ctx context.Context, contact string) (Erased, error) {
	if err := checkContact(contact); err != nil {
		return Erased{}, err
	}
	if s.closed() {
		return Erased{}, ErrClosed
	}
	ck := s.keys.contact(contact)
	res, err := s.lua.erase.Run(ctx, s.rdb, []string{ck.state, ck.inbox, ck.timers, ck.dedupe, ck.lease, ck.dead,
		s.keys.deadLetters, s.keys.deadIndex, s.keys.timerIndex}, contact).Int64Slice()
	if err != nil {
		return Erased{}, fmt.Errorf("store: erase: %w", err)
	}
	if len(res) != 5 {
		return Erased{}, fmt.Errorf("store: erase: unexpected reply %v", res)
	}
	return Erased{Session: res[0] > 0, InboxItems: int(res[1]), Timers: int(res[2]),
		DedupeRecords: int(res[3]), DeadLetters: int(res[4])}, nil
}
