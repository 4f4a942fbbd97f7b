package procs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestSweepProcessDirs: a directory whose lock is free (its process
// exited) or that never got one is removed once it is a minute old; one
// whose lock is held, or made a moment ago, stays.
func TestSweepProcessDirs(t *testing.T) {
	root := t.TempDir()
	old := time.Now().Add(-2 * minSweepAge)
	mk := func(name string, lock bool, mtime time.Time) string {
		dir := filepath.Join(root, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if lock {
			if err := os.WriteFile(filepath.Join(dir, ".lock"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chtimes(dir, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	exited := mk("exited", true, old)
	neverLocked := mk("never-locked", false, old)
	fresh := mk("fresh", true, time.Now())
	running := mk("running", true, old)
	f, err := os.OpenFile(filepath.Join(running, ".lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(running, old, old); err != nil {
		t.Fatal(err)
	}
	sweepProcessDirs(root, time.Now())
	for dir, want := range map[string]bool{exited: false, neverLocked: false, fresh: true, running: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("%s: kept %v, want %v", filepath.Base(dir), err == nil, want)
		}
	}
}

// TestProcessDirIsLocked: the directory ProcessDir returns is locked for
// as long as this process runs, so no sweep removes it.
func TestProcessDirIsLocked(t *testing.T) {
	dir, err := ProcessDir("procs-test")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		t.Fatal("the directory's lock is free while its process runs")
	}
	old := time.Now().Add(-2 * minSweepAge)
	if err := os.Chtimes(dir, old, old); err != nil {
		t.Fatal(err)
	}
	sweepProcessDirs(processDirs(), time.Now())
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("a sweep removed this process's directory: %v", err)
	}
}
