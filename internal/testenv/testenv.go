// Package testenv starts the real kube-apiserver and etcd of envtest with
// Chatflow's CRDs installed, for the integration suites. It owns where the
// test binaries and CRDs are found and how test manifests are read; it must
// not be imported by non-test code.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
