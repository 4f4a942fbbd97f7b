package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/store"
	"github.com/chatflow-dev/chatflow/runtime/store/redistest"
)

// TestRedisPasswordFromOptions: the password comes from Options, in place of
// one in the URL.
func TestRedisPasswordFromOptions(t *testing.T) {
	t.Parallel()
	url, _ := redistest.Start(t, "requirepass s3cret-pw")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := store.NewRedis(ctx, url, store.Options{Namespace: "pw"}); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("without the password: %v, want NOAUTH", err)
	}
	wrong := strings.Replace(url, "://", "://:wrong@", 1)
	s, err := store.NewRedis(ctx, wrong, store.Options{Namespace: "pw", Password: "s3cret-pw"})
	if err != nil {
		t.Fatalf("with Options.Password: %v", err)
	}
	defer s.Close()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
}
