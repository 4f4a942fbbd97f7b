//go:build cluster

// Package cluster is the suite of `make test-cluster`: Chatflow as users
// run it, on the real single-node cluster hack/cluster.sh brings up (a
// kubelet, containerd and runc, kube-proxy, cluster DNS), from the image
// hack/image.sh assembles and the Helm chart. The tests run in the
// cluster's network namespace, which has no route out of the machine, and
// talk only to the node's address, ClusterIPs and pods.
//
// The files carry the build tag `cluster`, so `go test ./...` (make test)
// neither builds nor skips them; hack/test-cluster.sh compiles them with
// -tags cluster and runs them with:
//
//	KUBECONFIG          the cluster's admin kubeconfig
//	HELM                the helm binary (make helm)
//	CHATFLOW_IMAGE_DIR  the image tarballs of hack/image.sh
package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/internal/cli"
	"github.com/chatflow-dev/chatflow/internal/testenv"
)

// Generous bounds for things that take seconds: a deadline that passes is
// a failure of the behaviour, never a timing measurement.
const waitTimeout = 3 * time.Minute

func repoRoot() string { return testenv.RepoRoot() }

func imageDir() string {
	if d := os.Getenv("CHATFLOW_IMAGE_DIR"); d != "" {
		return d
	}
	return filepath.Join(repoRoot(), "bin", "images")
}

// chatflowImage is the name hack/image.sh gives the Chatflow image, and the
// image testdata/values.yaml installs.
func chatflowImage() string {
	if i := os.Getenv("CHATFLOW_IMAGE"); i != "" {
		return i
	}
	return "ghcr.io/chatflow-dev/chatflow:test-cluster"
}

// run runs a command line tool against the cluster and returns its
// standard output; the error carries its standard error.
func run(ctx context.Context, stdin []byte, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func kubectl(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	out, err := run(ctx, stdin, "kubectl", args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func helm(t *testing.T, args ...string) string {
	t.Helper()
	bin := os.Getenv("HELM")
	if bin == "" {
		t.Fatal("HELM is not set: run make test-cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	out, err := run(ctx, nil, bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newClient(t *testing.T) client.Client {
	t.Helper()
	kubeconfig := os.Getenv("KUBECONFIG")
	if kubeconfig == "" {
		t.Fatal("KUBECONFIG is not set: run make test-cluster")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: cli.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// eventually retries check until it succeeds or timeout passes.
func eventually(t *testing.T, what string, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
