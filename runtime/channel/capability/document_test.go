package capability

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocumentIsCurrent fails when docs/channels.md differs from the
// table: run `go generate ./runtime/channel/capability`.
func TestDocumentIsCurrent(t *testing.T) {
	got, err := os.ReadFile(filepath.Join("..", "..", "..", DocumentPath))
	if err != nil {
		t.Fatalf("%v: run go generate ./runtime/channel/capability", err)
	}
	if string(got) != Document() {
		t.Fatalf("%s is stale: run go generate ./runtime/channel/capability", DocumentPath)
	}
	if !strings.Contains(Document(), Markdown()) {
		t.Fatal("the document lacks the matrix")
	}
}
