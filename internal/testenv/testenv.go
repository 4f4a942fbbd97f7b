// Package testenv starts the real kube-apiserver and etcd of envtest with
// Chatflow's CRDs installed, for the integration suites. It owns where the
// test binaries (envtest's, helm) and CRDs are found and how test manifests
// and the chart's renderings are read; it must not be imported by non-test
// code.
package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/chatflow-dev/chatflow/internal/manifest"
)

// RepoRoot is the repository root, found from this file's location so
// tests work from any package directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// New returns an envtest environment with Chatflow's CRDs. It fails early
// with the fix when KUBEBUILDER_ASSETS is not set, instead of letting envtest
// look for binaries that cannot be downloaded here.
func New() (*envtest.Environment, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, or export " +
			"KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh)")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return nil, fmt.Errorf("%s is missing from KUBEBUILDER_ASSETS=%s: run hack/envtest-assets.sh", bin, assets)
		}
	}
	return &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}, nil
}

// ReadManifests decodes every object of a multi-document YAML file.
func ReadManifests(path string) ([]*unstructured.Unstructured, error) {
	return manifest.Unstructured(path)
}

// Helm returns the pinned helm binary: $HELM (make test passes it), else
// bin/helm-<HELM_VERSION of the Makefile>, which `make helm` builds.
func Helm() (string, error) {
	if h := os.Getenv("HELM"); h != "" {
		return h, nil
	}
	makefile, err := os.ReadFile(filepath.Join(RepoRoot(), "Makefile"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^HELM_VERSION \?= (\S+)$`).FindSubmatch(makefile)
	if m == nil {
		return "", errors.New("the Makefile pins no HELM_VERSION")
	}
	path := filepath.Join(RepoRoot(), "bin", "helm-"+string(m[1]))
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%s is missing: run `make helm` (make test installs it)", path)
	}
	return path, nil
}

// KubeVersion is the Kubernetes version of the envtest kube-apiserver: the
// k8s.io/kubernetes module hack/tools builds it from (a binary built with
// go build reports v0.0.0-master), for helm's --kube-version.
func KubeVersion() (string, error) {
	data, err := os.ReadFile(filepath.Join(RepoRoot(), "hack", "tools", "kube-apiserver", "go.mod"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^\s*k8s\.io/kubernetes (v\S+)`).FindSubmatch(data)
	if m == nil {
		return "", errors.New("hack/tools/kube-apiserver/go.mod requires no k8s.io/kubernetes")
	}
	return string(m[1]), nil
}

// RenderChart renders charts/chatflow as release in namespace with helm
// template and extra arguments (--set, --values, --show-only), and decodes
// the objects.
func RenderChart(release, namespace string, args ...string) ([]*unstructured.Unstructured, error) {
	helm, err := Helm()
	if err != nil {
		return nil, err
	}
	kube, err := KubeVersion()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(helm, append([]string{"template", release, filepath.Join(RepoRoot(), "charts", "chatflow"),
		"--namespace", namespace, "--kube-version", kube}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helm template: %w: %s", err, stderr.String())
	}
	dir, err := os.MkdirTemp("", "chatflow-chart-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "rendered.yaml")
	if err := os.WriteFile(file, out, 0o600); err != nil {
		return nil, err
	}
	return ReadManifests(file)
}
