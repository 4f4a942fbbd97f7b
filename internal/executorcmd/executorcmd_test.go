package executorcmd

import (
	"io"
	"strings"
	"testing"
)

func TestStoreKindHidesTheURL(t *testing.T) {
	for url, want := range map[string]string{"memory": "memory", "redis://:s3cret@redis:6379/0": "redis"} {
		if got := storeKind(url); got != want {
			t.Errorf("storeKind(%q) = %q, want %q", url, got, want)
		}
	}
}

func TestFlowIsRequired(t *testing.T) {
	cmd := New()
	cmd.SetArgs([]string{"--store", "memory"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), `"flow"`) {
		t.Errorf("without --flow: %v, want the required flag named", err)
	}
}
