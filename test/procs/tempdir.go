package procs

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// A test process builds its binaries once and keeps them for its whole
// life, which no t.Cleanup spans: their directories were left behind, one
// set per test package per run, until the disk filled (a hundred runs of
// the suite left 43 GB). ProcessDir's directories are removed by a later
// process instead: each holds a lock file that its process keeps locked
// until it exits, and the first ProcessDir of every process removes the
// directories whose lock is free.

// processDirs is where ProcessDir makes its directories.
func processDirs() string { return filepath.Join(os.TempDir(), "chatflow-test-processes") }

var (
	sweepOnce sync.Once
	// held keeps the lock files open, hence locked, until the process
	// exits (a collected *os.File would close its descriptor).
	heldMu sync.Mutex
	held   []*os.File
)

// minSweepAge spares a directory made a moment ago, before its process
// took its lock.
const minSweepAge = time.Minute

// ProcessDir returns a new directory, named after prefix, that lasts as
// long as this process and is removed by a later one.
func ProcessDir(prefix string) (string, error) {
	root := processDirs()
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", err
	}
	sweepOnce.Do(func() { sweepProcessDirs(root, time.Now()) })
	dir, err := os.MkdirTemp(root, prefix+"-")
	if err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", errors.Join(err, os.RemoveAll(dir))
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return "", errors.Join(err, os.RemoveAll(dir))
	}
	heldMu.Lock()
	held = append(held, lock)
	heldMu.Unlock()
	return dir, nil
}

// sweepProcessDirs removes the directories under root whose process has
// exited: their lock can be taken.
func sweepProcessDirs(root string, now time.Time) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		if info, err := e.Info(); err != nil || !e.IsDir() || now.Sub(info.ModTime()) < minSweepAge {
			continue
		}
		lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR, 0)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				_ = os.RemoveAll(dir) // older than a minute and never locked
			}
			continue
		}
		if syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			_ = os.RemoveAll(dir)
		}
		lock.Close()
	}
}
