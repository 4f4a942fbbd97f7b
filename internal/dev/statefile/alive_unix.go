//go:build unix

package statefile

import (
	"errors"
	"syscall"
)

// processAlive reports whether a process exists (signal 0).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
