package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/store"
	"github.com/chatflow-dev/chatflow/runtime/store/redistest"
)

func TestExecutorConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "executor.yaml")
	if err := os.WriteFile(file, []byte("image: registry.local/chatflow:v1\nstore: redis://redis:6379/0\nreplicas: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := newManagerCommand()
	if err := cmd.Flags().Parse([]string{"--executor-config", file, "--executor-replicas", "3"}); err != nil {
		t.Fatal(err)
	}
	o := managerOptions{executorConfigFile: file}
	o.executor.Replicas = 3
	cfg, err := executorConfig(cmd, o)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Image != "registry.local/chatflow:v1" || cfg.Store != "redis://redis:6379/0" {
		t.Errorf("the file's settings are lost: %+v", cfg)
	}
	if cfg.Replicas != 3 {
		t.Errorf("a flag that is set wins over the file: replicas %d, want 3", cfg.Replicas)
	}

	cmd = newManagerCommand()
	if err := cmd.Flags().Parse([]string{"--executor-store", "mysql://db"}); err != nil {
		t.Fatal(err)
	}
	o = managerOptions{}
	o.executor.Store = "mysql://db"
	if _, err := executorConfig(cmd, o); err == nil || !strings.Contains(err.Error(), "redis://HOST:PORT/DB") {
		t.Errorf("want a store error with the fix, got %v", err)
	}
}

// The manager accepts a session store URL exactly when the executors'
// store does (one rule, store.ParseURL), for every scheme; and the
// accepted ones of each kind open against a real redis-server.
func TestManagerAcceptsEveryStoreURL(t *testing.T) {
	check := func(url string) error {
		cmd := newManagerCommand()
		if err := cmd.Flags().Parse([]string{"--executor-store", url}); err != nil {
			t.Fatal(err)
		}
		o := managerOptions{}
		o.executor.Store = url
		_, err := executorConfig(cmd, o)
		return err
	}
	for _, url := range []string{
		"memory", "redis://redis:6379/0", "redis://:pw@redis:6379/1?dial_timeout=3s", "rediss://redis:6380/0",
		"redis+cluster://redis-0:7000?addr=redis-1:7000", "rediss+cluster://redis-0:7000",
		"", "mysql://db", "redis://redis:6379/x", "redis+cluster://redis:7000?dial_timeout=soon",
	} {
		_, storeErr := store.ParseURL(url)
		if mgrErr := check(url); (mgrErr == nil) != (storeErr == nil) {
			t.Errorf("%q: the manager says %v, the store %v", url, mgrErr, storeErr)
		}
	}

	single, _ := redistest.Start(t)
	cluster, _ := redistest.StartCluster(t)
	for _, url := range []string{single, cluster} {
		if err := check(url); err != nil {
			t.Errorf("the manager refuses %s: %v", url, err)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, err := store.Open(ctx, url, store.Options{Namespace: "ns/flow"})
		cancel()
		if err != nil {
			t.Errorf("the store cannot open %s: %v", url, err)
			continue
		}
		_ = st.Close()
	}
}

func TestExecutorConfigStorePassword(t *testing.T) {
	t.Setenv("CHATFLOW_STORE_PASSWORD", "from-env")
	cmd := newManagerCommand()
	if err := cmd.Flags().Parse([]string{"--executor-store", "redis://:in-url@redis:6379/0"}); err != nil {
		t.Fatal(err)
	}
	o := managerOptions{}
	o.executor.Store = "redis://:in-url@redis:6379/0"
	cfg, err := executorConfig(cmd, o)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store != "redis://redis:6379/0" || cfg.StorePassword != "from-env" {
		t.Errorf("store %q, password %q: want the URL without its password and the environment's password", cfg.Store, cfg.StorePassword)
	}
}

func TestCheckPublicURL(t *testing.T) {
	for v, ok := range map[string]bool{
		"": true, "https://chat.example.com": true, "https://chat.example.com/hooks/": true, "http://127.0.0.1:8080": true,
		"chat.example.com": false, "ftp://x": false, "https://x?a=b": false, "https://": false,
	} {
		if err := checkPublicURL(v); (err == nil) != ok {
			t.Errorf("checkPublicURL(%q) = %v", v, err)
		}
	}
}

func TestReadContactHashKey(t *testing.T) {
	dir := t.TempDir()
	good, short := filepath.Join(dir, "good"), filepath.Join(dir, "short")
	if err := os.WriteFile(good, []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(short, []byte("tiny"), 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err := readContactHashKey(""); k != nil || err != nil {
		t.Errorf("no file: %q %v, want no key (the development hash)", k, err)
	}
	if k, err := readContactHashKey(good); err != nil || string(k) != "0123456789abcdef0123" {
		t.Errorf("a good key: %q %v", k, err)
	}
	if _, err := readContactHashKey(short); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Errorf("a short key: %v, want an error that says how long it must be", err)
	}
	if _, err := readContactHashKey(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file: no error")
	}
}
