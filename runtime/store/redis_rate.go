package store

import (
	"context"
	"fmt"
	"time"
)

// Take grants up to n tokens of a rate bucket (perSecond, up to burst)
// that every replica on this Redis shares, and when it grants none, says
// how long until one is free. The executor holds each channel account to
// its send rate with it (channel.SharedRateLimiter), whatever the number of
// replicas. The bucket is the key chatflow:rate:{<bucket>}, not namespaced
// by flow: it is the account's, whichever flow sends.
func (s *redisStore) Take(ctx context.Context, bucket string, perSecond float64, burst, n int) (int, time.Duration, error) {
	if s.closed() {
		return 0, 0, ErrClosed
	}
	if perSecond <= 0 || burst < 1 || n < 1 {
		return 0, 0, fmt.Errorf("store: take %d tokens of a bucket of %v/s, burst %d", n, perSecond, burst)
	}
	res, err := s.lua.take.Run(ctx, s.rdb, []string{"chatflow:rate:{" + bucket + "}"}, 1e6/perSecond, burst, n).Int64Slice()
	if err != nil {
		return 0, 0, fmt.Errorf("store: take tokens: %w", err)
	}
	if len(res) != 2 {
		return 0, 0, fmt.Errorf("store: take tokens: unexpected reply %v", res)
	}
	return int(res[0]), time.Duration(res[1]) * time.Microsecond, nil
}
