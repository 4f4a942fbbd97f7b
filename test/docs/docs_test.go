package docs

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/internal/cli"
	"github.com/chatflow-dev/chatflow/internal/testenv"
)

var root = testenv.RepoRoot()

func markdownFiles(t *testing.T) []string {
	t.Helper()
	files, err := MarkdownFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestExamplesLint lints every YAML example that declares a ChatFlow.
func TestExamplesLint(t *testing.T) {
	examples, err := Examples(root)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ex := range examples {
		if !bytes.Contains(ex.YAML, []byte("kind: ChatFlow")) {
			continue
		}
		n++
		path := filepath.Join(t.TempDir(), "example.yaml")
		if err := os.WriteFile(path, ex.YAML, 0o600); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		cmd := cli.NewRoot()
		cmd.SetArgs([]string{"lint", path})
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		if err := cmd.Execute(); err != nil {
			t.Errorf("%s does not lint: %v\n%s\n%s", ex, err, out.String(), ex.YAML)
		}
	}
	if n < 14 {
		t.Errorf("found %d ChatFlow examples; the flow reference alone has 14", n)
	}
}

var link = regexp.MustCompile(`\]\(([^)#\s]+)(#[^)\s]*)?\)`)

// TestLinks checks that relative links point at files that exist and that
// in-page anchors of docs/ exist.
func TestLinks(t *testing.T) {
	for _, file := range markdownFiles(t) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(data), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			p := filepath.Join(filepath.Dir(file), target)
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s links to %s, which does not exist", rel(file), target)
				continue
			}
			if anchor := strings.TrimPrefix(m[2], "#"); anchor != "" && strings.HasSuffix(p, ".md") {
				if !hasAnchor(t, p, anchor) {
					t.Errorf("%s links to %s#%s, which has no such heading", rel(file), target, anchor)
				}
			}
		}
		for _, m := range regexp.MustCompile(`\]\(#([^)\s]+)\)`).FindAllStringSubmatch(string(data), -1) {
			if !hasAnchor(t, file, m[1]) {
				t.Errorf("%s links to #%s, which has no such heading", rel(file), m[1])
			}
		}
	}
}

func rel(p string) string {
	r, _ := filepath.Rel(root, p)
	return r
}

// hasAnchor reports whether a markdown file has a heading with GitHub's
// anchor for it.
func hasAnchor(t *testing.T, file, anchor string) bool {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		heading := strings.TrimSpace(strings.TrimLeft(line, "#"))
		if githubAnchor(heading) == anchor {
			return true
		}
	}
	return false
}

func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestTroubleshootingCoversEveryReason parses the condition reasons of the
// API (every Reason constant of api/v1alpha1) and checks that
// docs/troubleshooting.md explains each of them.
func TestTroubleshootingCoversEveryReason(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root, "api", "v1alpha1", "*_types.go"))
	if err != nil || len(files) == 0 {
		t.Fatal("no API files", err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "troubleshooting.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, file := range files {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		n += reasonsExplained(t, f, doc)
	}
	if n == 0 {
		t.Fatal("found no Reason constants")
	}
}

// reasonsExplained checks the Reason constants of one file and returns
// how many there are.
func reasonsExplained(t *testing.T, f *ast.File, doc []byte) int {
	t.Helper()
	n := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			for i, name := range v.Names {
				if !strings.HasPrefix(name.Name, "Reason") || i >= len(v.Values) {
					continue
				}
				lit, ok := v.Values[i].(*ast.BasicLit)
				if !ok {
					continue
				}
				reason, _ := strconv.Unquote(lit.Value)
				n++
				if !bytes.Contains(doc, []byte("`"+reason+"`")) {
					t.Errorf("docs/troubleshooting.md does not explain the reason `%s`", reason)
				}
			}
		}
	}
	return n
}
