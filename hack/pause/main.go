// Command pause is the pod sandbox ("pause") image of the cluster `make
// test-cluster` runs: it holds a pod's namespaces open, reaps the children
// that get reparented to it, and exits on SIGINT or SIGTERM. No registry
// is reachable on the machines the tests run on, so hack/image.sh builds
// this image instead of pulling registry.k8s.io/pause.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
