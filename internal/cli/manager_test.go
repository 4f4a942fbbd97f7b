package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
