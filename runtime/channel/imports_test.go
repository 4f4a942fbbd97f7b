package channel_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/chatflow-dev/chatflow/"

// TestImportBoundaries keeps the layering the package docs promise: no
// channel package reaches into the flow engine, the store or the executor;
// channel and meta stay free of channel-specific packages; the sandbox
// checks the wire contract independently of the channel packages.
func TestImportBoundaries(t *testing.T) {
	forbiddenEverywhere := []string{"runtime/flow", "runtime/store", "runtime/executor"}
	forbidden := map[string][]string{
		".":                      {"runtime/channel/"},
		"meta":                   {"runtime/channel/whatsapp", "internal/sandbox", "runtime/channel/messenger", "runtime/channel/instagram", "runtime/channel/viber"},
		"whatsapp":               {"internal/sandbox", "runtime/channel/messenger", "runtime/channel/instagram", "runtime/channel/viber"},
		"../../internal/sandbox": {"runtime/channel/whatsapp", "runtime/channel/messenger", "runtime/channel/instagram", "runtime/channel/viber"},
		"messenger":              {"internal/sandbox", "runtime/channel/whatsapp", "runtime/channel/instagram", "runtime/channel/viber"},
		"viber":                  {"internal/sandbox", "runtime/channel/whatsapp", "runtime/channel/messenger", "runtime/channel/instagram", "runtime/channel/meta"},
		"fakeclock":              {"runtime/"},
	}
	for dir, extra := range forbidden {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue // tests may wire packages together
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
				rel, ok := strings.CutPrefix(path, module)
				if !ok {
					continue
				}
				for _, bad := range append(forbiddenEverywhere, extra...) {
					if strings.HasPrefix(rel, bad) {
						t.Errorf("%s imports %s", f, path)
					}
				}
			}
		}
	}
}
