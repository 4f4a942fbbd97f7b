//go:build !unix

package statefile

import "os"

// processAlive reports whether a process exists.
func processAlive(pid int) bool {
	_, err := os.FindProcess(pid)
	return err == nil
}
