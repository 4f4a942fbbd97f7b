package lint_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
)

// FuzzLint: any input is read and checked without a panic, and every
// problem has a place.
func FuzzLint(f *testing.F) {
	files, _ := filepath.Glob("../../config/samples/*.yaml")
	rules, _ := filepath.Glob("testdata/rules/*.yaml")
	for _, p := range append(files, rules...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"format": "chatflow.dev/flow/v1alpha1", "name": "f", "spec": {"nodes": [{"id": "a"}]}}`))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- apiVersion: chatflow.dev/v1alpha1\n  kind: ChatFlow\n  metadata: {name: x}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := lint.Lint([]manifest.Source{{Name: "fuzz.yaml", Data: data}})
		for _, p := range r.Problems {
			if p.File != "fuzz.yaml" || p.Message == "" {
				t.Fatalf("a problem without a place or a message: %+v", p)
			}
		}
	})
}
