package statefile

import (
	"os"
	"strings"
	"testing"
)

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadState(dir); err == nil || !strings.Contains(err.Error(), "make dev") {
		t.Errorf("no state: %v", err)
	}
	s := &State{PID: os.Getpid(), Sandbox: "http://127.0.0.1:9090", Executors: map[string]Executor{
		"shop/order-status-executor": {Namespace: "shop", Deployment: "order-status-executor", Flow: "order-status", Revision: "r2",
			Replicas: []Replica{
				{URL: "http://old", Revision: "r1", Ready: true},
				{URL: "http://new-starting", Revision: "r2"},
				{URL: "http://new", Revision: "r2", Ready: true},
			}},
	}}
	if err := WriteState(dir, s); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := got.ExecutorOf("shop", "order-status")
	if !ok {
		t.Fatal("no executor")
	}
	if url, _ := e.URL(); url != "http://new" {
		t.Errorf("URL %s, want the ready replica of the current revision", url)
	}
	if _, ok := got.ExecutorOf("other", "order-status"); ok {
		t.Error("found an executor in another namespace")
	}
}

func TestStateOfAGoneProcess(t *testing.T) {
	dir := t.TempDir()
	// The highest pid Linux hands out by default is below this.
	if err := WriteState(dir, &State{PID: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(dir); err == nil || !strings.Contains(err.Error(), "is gone") {
		t.Errorf("a dead chatflow dev: %v", err)
	}
}
