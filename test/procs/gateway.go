package procs

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// GatewaySpec describes a gateway process to start outside a cluster: the
// binding and Secret manifests it routes with, and where each executor
// Service listens.
type GatewaySpec struct {
	// Manifests are ChannelBindings and Secrets (YAML documents).
	Manifests string
	// Executors map "namespace/<flow>-executor" to an executor's URL.
	Executors map[string]string
	// Args are extra command-line arguments.
	Args []string
	// Env are extra environment variables (NAME=value).
	Env []string
	// Port to listen on; 0 picks a free one.
	Port int
}

// Gateway is a running `chatflow gateway` process.
type Gateway struct {
	process
	spec GatewaySpec
}

// StartGateway writes the manifests, starts the gateway and waits until it
// is ready (its routes loaded). The process is killed when the test ends.
func StartGateway(t testing.TB, spec GatewaySpec) *Gateway {
	t.Helper()
	if spec.Port == 0 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		spec.Port = p
	}
	g := &Gateway{process: newProcess(t.TempDir(), spec.Port, "gateway"), spec: spec}
	if err := g.WriteManifests(spec.Manifests); err != nil {
		t.Fatal(err)
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Kill)
	return g
}

// WriteManifests replaces the gateway's manifests; the running gateway
// reads them again within a second or so.
func (g *Gateway) WriteManifests(content string) error {
	path := filepath.Join(g.Dir, "manifests.yaml")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Start (re)starts the process with the same files and port.
func (g *Gateway) Start() error {
	bin, err := Binary()
	if err != nil {
		return err
	}
	args := []string{"gateway",
		"--listen", fmt.Sprintf("127.0.0.1:%d", g.Port),
		"--manifests", filepath.Join(g.Dir, "manifests.yaml"),
		"--shutdown-delay", "0s",
	}
	keys := make([]string, 0, len(g.spec.Executors))
	for k := range g.spec.Executors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--executor", k+"="+g.spec.Executors[k])
	}
	return g.start(bin, append(args, g.spec.Args...), g.spec.Env, "/readyz")
}
