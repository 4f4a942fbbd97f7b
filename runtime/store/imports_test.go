package store_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportBoundaries keeps the promise of the package docs: the store
// and its test helpers know nothing of flows, channels or the executor;
// they import no package of this module outside runtime/store.
func TestImportBoundaries(t *testing.T) {
	const module = "github.com/chatflow-dev/chatflow/"
	for _, dir := range []string{".", "storetest", "redistest"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			pf, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range pf.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if rel, ok := strings.CutPrefix(path, module); ok && !strings.HasPrefix(rel, "runtime/store") {
					t.Errorf("%s imports %s", f, path)
				}
			}
		}
	}
}
