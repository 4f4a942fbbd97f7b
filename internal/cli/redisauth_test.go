package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatflow-dev/chatflow/runtime/store/redistest"
)

// TestRedisAuthConfig writes the fragment with the command, as the chart's
// init container does, and has a real redis-server require the password
// from it, whatever the password holds.
func TestRedisAuthConfig(t *testing.T) {
	for _, password := range []string{"Zm9vYmFy0123456789abcdefABCDEF", `a "quoted" pass\word with spaces`, "ünïcødé\tand\nlines"} {
		file := filepath.Join(t.TempDir(), "auth.conf")
		t.Setenv(redisPasswordEnv, password)
		cmd := NewRoot()
		cmd.SetArgs([]string{"redis-auth-config", file})
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		conf, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if info, _ := os.Stat(file); info.Mode().Perm() != 0o600 {
			t.Errorf("the fragment is readable by others: %v", info.Mode())
		}
		_, srv := redistest.Start(t, strings.TrimSpace(string(conf)))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		anon := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		if err := anon.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
			t.Errorf("without the password: %v, want NOAUTH", err)
		}
		anon.Close()
		authed := redis.NewClient(&redis.Options{Addr: srv.Addr(), Password: password})
		if err := authed.Ping(ctx).Err(); err != nil {
			t.Errorf("with the password %q: %v", password, err)
		}
		authed.Close()
	}

	t.Setenv(redisPasswordEnv, "")
	cmd := NewRoot()
	cmd.SetArgs([]string{"redis-auth-config", filepath.Join(t.TempDir(), "auth.conf")})
	cmd.SetOut(new(strings.Builder))
	cmd.SetErr(new(strings.Builder))
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "always requires a password") {
		t.Errorf("without a password: %v", err)
	}
}
