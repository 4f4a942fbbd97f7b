package dev

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// eventually polls cond until it holds or a minute passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after a minute", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestProcessStopsItsWholeGroup(t *testing.T) {
	dir := t.TempDir()
	// The shell forks a child: SIGTERM to the group stops both.
	p := &process{name: "sleeper", bin: "/bin/sh", args: []string{"-c", "sleep 60 & wait"}, dir: dir,
		logPath: filepath.Join(dir, "log"), grace: 10 * time.Second}
	p.start()
	eventually(t, "started and ready", func() bool { s := p.snapshot(); return s.pid > 0 && s.ready })
	pid := p.snapshot().pid
	p.stopAndWait()
	if processAlive(pid) {
		t.Errorf("pid %d still runs after stopAndWait", pid)
	}
	if s := p.snapshot(); !s.exited || !s.stopping || s.ready {
		t.Errorf("after stop: %+v", s)
	}
}

func TestProcessRestartsAfterACrash(t *testing.T) {
	dir := t.TempDir()
	p := &process{name: "crasher", bin: "/bin/sh", args: []string{"-c", "echo boom; exit 3"}, dir: dir,
		logPath: filepath.Join(dir, "log"), grace: time.Second}
	p.start()
	eventually(t, "restarted", func() bool { return p.snapshot().restarts >= 1 })
	if s := p.snapshot(); !strings.Contains(s.lastExit, "exit code 3") {
		t.Errorf("last exit %q", s.lastExit)
	}
	p.stopAndWait()
}
