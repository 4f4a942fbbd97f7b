package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisLogEvery is how often the Redis client's own messages reach the log
// at most: an outage makes every pooled connection's dial fail, several
// times a second.
const redisLogEvery = 5 * time.Second

// LogRedisTo sends the Redis client's own messages (dial failures during an
// outage, mostly) to logger as WARN records, at most one per five seconds
// with the number of those left out, instead of go-redis's plain-text lines
// on stderr: the process's log stays JSON and an outage does not flood it.
// It is process-wide, as go-redis's logger is.
func LogRedisTo(logger *slog.Logger) {
	redis.SetLogger(&redisLog{logger: logger, now: time.Now})
}

type redisLog struct {
	logger *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	last    time.Time
	skipped int
}

// Printf implements go-redis's logging interface.
func (r *redisLog) Printf(ctx context.Context, format string, v ...any) {
	r.mu.Lock()
	now := r.now()
	if !r.last.IsZero() && now.Sub(r.last) < redisLogEvery {
		r.skipped++
		r.mu.Unlock()
		return
	}
	skipped := r.skipped
	r.last, r.skipped = now, 0
	r.mu.Unlock()
	msg := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	r.logger.LogAttrs(ctx, slog.LevelWarn, "redis client: "+msg, slog.Int("skipped", skipped))
}
