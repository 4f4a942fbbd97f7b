package store

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestRedisLogIsJSONAndRateLimited: the client's messages become WARN
// records, one per redisLogEvery, the next one counting those left out.
func TestRedisLogIsJSONAndRateLimited(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	l := &redisLog{logger: slog.New(slog.NewJSONHandler(&buf, nil)), now: func() time.Time { return now }}
	ctx := context.Background()
	for range 3 {
		l.Printf(ctx, "redis: connection pool: failed to dial after %d attempts: %v", 5, "refused")
		now = now.Add(time.Second)
	}
	now = now.Add(redisLogEvery)
	l.Printf(ctx, "redis: connection pool: failed to dial after %d attempts: %v", 5, "refused")

	var records []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not a JSON record: %q", line)
		}
		records = append(records, r)
	}
	if len(records) != 2 {
		t.Fatalf("%d records, want 2 (the first, then one after %v):\n%s", len(records), redisLogEvery, buf.String())
	}
	for i, want := range []float64{0, 2} {
		r := records[i]
		if r["level"] != "WARN" || r["msg"] != "redis client: connection pool: failed to dial after 5 attempts: refused" || r["skipped"] != want {
			t.Errorf("record %d = %v, want WARN, the message without the redis: prefix, skipped %v", i, r, want)
		}
	}
}
