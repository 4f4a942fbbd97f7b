package graph_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/internal/graph"
	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// The samples drawn both ways, as golden files: every node type and edge
// kind of the samples is in them.
func TestSamples(t *testing.T) {
	files, _ := filepath.Glob("../../config/samples/*.yaml")
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".test.yaml") || strings.HasSuffix(f, "kustomization.yaml") {
			continue
		}
		src, err := manifest.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := lint.Lint([]manifest.Source{src})
		fl, err := r.Valid("")
		if err != nil {
			t.Fatal(err)
		}
		g := graph.Build(fl.Object.Name, &fl.Written.Spec)
		base := strings.TrimSuffix(filepath.Base(f), ".yaml")
		golden(t, base+".mmd", g.Mermaid())
		golden(t, base+".dot", g.DOT())
		n++
	}
	if n < 3 {
		t.Fatalf("only %d samples", n)
	}
}

func TestEscaping(t *testing.T) {
	g := &graph.Graph{Name: `a "b"`, Nodes: []graph.Node{{ID: "end", Type: "End", Detail: `say "hi" <b> #1 & done`}},
		Edges: []graph.Edge{{From: "end", To: "end", Kind: graph.Error, Label: `x == "y"`}}}
	m := g.Mermaid()
	for _, want := range []string{`n_end((("end<br/>say #quot;hi#quot; #lt;b#gt; #35;1 #amp; done")))`, `n_end -.->|"x == #quot;y#quot;"| n_end`, "classDef cfEnd"} {
		if !strings.Contains(m, want) {
			t.Errorf("mermaid lacks %s:\n%s", want, m)
		}
	}
	d := g.DOT()
	for _, want := range []string{`digraph "a \"b\""`, `label="end\nsay \"hi\" <b> #1 & done"`, `label="x == \"y\"", style=dashed`} {
		if !strings.Contains(d, want) {
			t.Errorf("dot lacks %s:\n%s", want, d)
		}
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal([]byte(got), want) {
		t.Errorf("%s differs (go test -update rewrites it):\n%s", path, got)
	}
}
