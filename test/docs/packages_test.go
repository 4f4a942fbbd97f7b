package docs

import (
	"bytes"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/chatflow-dev/chatflow"

// packageDirs lists every directory of the repository that holds Go files,
// relative to the root ("." for the root), test-only packages and the
// tool modules of hack/ included.
func packageDirs(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && p != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin" || name == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(name, ".go") {
			rel, _ := filepath.Rel(root, filepath.Dir(p))
			seen[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for d := range seen {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	return dirs
}

// TestREADMENamesEveryPackage keeps the README's Layout section a map of
// the whole house: every package directory is named there, and every path
// it names exists.
func TestREADMENamesEveryPackage(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(readme, []byte("\n## Layout\n"))
	if start < 0 {
		t.Fatal("README.md has no ## Layout section")
	}
	layout := readme[start+1:]
	if end := bytes.Index(layout[3:], []byte("\n## ")); end >= 0 {
		layout = layout[:end+3]
	}
	dirs := packageDirs(t)
	if len(dirs) < 40 {
		t.Fatalf("found only %d package directories", len(dirs))
	}
	for _, d := range dirs {
		name := "`" + d + "`"
		if d == "." {
			name = "`main.go`"
		}
		if !bytes.Contains(layout, []byte(name)) {
			t.Errorf("README.md's Layout section does not name the package %s", name)
		}
	}
	for _, m := range regexp.MustCompile("`([a-z][a-z0-9./_-]*)`").FindAllSubmatch(layout, -1) {
		p := string(m[1])
		if !strings.Contains(p, "/") && !strings.HasSuffix(p, ".go") || strings.HasPrefix(p, "make ") {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("README.md's Layout section names %s, which does not exist", p)
		}
	}
}

// TestEveryPackageHasADocComment: each package says what it owns (and,
// mostly, what it must not import) in a doc comment, test-only suites
// included.
func TestEveryPackageHasADocComment(t *testing.T) {
	for _, d := range packageDirs(t) {
		files, _ := filepath.Glob(filepath.Join(root, d, "*.go"))
		documented := false
		for _, f := range files {
			pf, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if pf.Doc != nil && regexp.MustCompile(`^(Package|Command) `).MatchString(pf.Doc.Text()) {
				documented = true
			}
		}
		if !documented {
			t.Errorf("%s has no package doc comment (// Package <name> ... or // Command <name> ...)", d)
		}
	}
}

// pkg is a package as go list sees it, without its tests.
type pkg struct {
	imports, deps []string
}

func listPackages(t *testing.T) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \",\"}}|{{join .Deps \",\"}}", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkg{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		rel := strings.TrimPrefix(strings.TrimPrefix(f[0], module), "/")
		pkgs[rel] = pkg{imports: split(f[1]), deps: split(f[2])}
	}
	return pkgs
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// ours is the module-relative path of an import of this module.
func ours(imp string) (string, bool) {
	if imp == module {
		return ".", true
	}
	return strings.CutPrefix(imp, module+"/")
}

func isStd(imp string) bool { return !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") }

// matches reports whether the import path imp is p or under it: p is
// module-relative (runtime/flow) or, with a domain, a full path
// (k8s.io/client-go).
func matches(imp, p string) bool {
	if !isStd(p) {
		return imp == p || strings.HasPrefix(imp, p+"/")
	}
	rel, ok := ours(imp)
	return ok && (rel == p || strings.HasPrefix(rel, p+"/"))
}

// claim is what a package's doc comment says of its imports.
type claim struct {
	// forbid: neither it nor anything it imports, transitively, may be one
	// of these (module-relative or full import paths, with what is under
	// them).
	forbid []string
	// only, when set: its direct imports are the standard library (when
	// std) and these, nothing else.
	only []string
	std  bool
	// notImportedBy: non-test code of these packages (or, with "*", of
	// any package) must not import it, transitively.
	notImportedBy []string
}

var (
	apiServer      = []string{"k8s.io/apiserver", "k8s.io/apiextensions-apiserver"}
	talksToCluster = []string{"k8s.io/client-go", "sigs.k8s.io/controller-runtime"}
	channels       = []string{"runtime/channel/whatsapp", "runtime/channel/messenger", "runtime/channel/viber"}
	reconcilers    = []string{"controllers/chatflow", "controllers/channelbinding", "controllers/languagemodel", "controllers/campaign"}
)

func join(lists ...[]string) []string { return slices.Concat(lists...) }

// claims quotes each package doc comment's import rules; a new rule in a
// doc comment belongs here, so that the comment stays true.
var claims = map[string]claim{
	// "It must not import controllers, the runtime packages or anything
	// beyond Kubernetes API machinery."
	"api/v1alpha1": {forbid: []string{"controllers", "runtime", "internal"}, std: true, only: []string{"k8s.io/api", "k8s.io/apimachinery"}},
	// "They must not import the reconcilers."
	"controllers/builders": {forbid: reconcilers},
	// "It must not import the webhooks or the ChatFlow controller."
	"controllers/channelbinding": {forbid: []string{"controllers/webhooks", "controllers/chatflow"}},
	// "It must not import the webhooks."
	"controllers/chatflow": {forbid: []string{"controllers/webhooks"}},
	// "It must not import the webhooks or the other reconcilers."
	"controllers/languagemodel": {forbid: []string{"controllers/webhooks", "controllers/chatflow", "controllers/channelbinding"}},
	// "It must not import the reconcilers."
	"controllers/internal/secretkeys": {forbid: reconcilers},
	// "It must not import the webhooks, the other reconcilers or the
	// executor."
	"controllers/campaign": {forbid: join(reconcilers, []string{"controllers/webhooks", "runtime/executor"})},
	// "It must not import the reconcilers or the webhooks."
	"controllers/index": {forbid: join(reconcilers, []string{"controllers/webhooks"})},
	// "This package must not import the reconcilers."
	"controllers/webhooks": {forbid: reconcilers},
	// "It must not import the reconcilers, the webhooks or
	// controllers/index (which imports it)."
	"controllers/secretrefs": {forbid: join(reconcilers, []string{"controllers/webhooks", "controllers/index"})},
	// "It must not import the other reconcilers or the webhooks."
	"controllers/secretlabels": {forbid: join(reconcilers, []string{"controllers/webhooks"})},
	// "It imports the channel packages for their wire formats and
	// runtime/flow for local chats, and must not import the executor or
	// the store."
	"internal/chat": {forbid: []string{"runtime/executor", "runtime/store"}},
	// "It must not import internal/cli."
	"internal/studio": {forbid: []string{"internal/cli"}},
	// "It must not import internal/cli."
	"internal/generate": {forbid: []string{"internal/cli"}},
	// "It must not import internal/cli or internal/studio."
	"internal/flowimport": {forbid: []string{"internal/cli", "internal/studio"}},
	// "It must not import the executor, flow or store packages."
	"internal/otlphttp": {forbid: []string{"runtime/executor", "runtime/flow", "runtime/store"}},
	// "must not import the controllers' reconcilers, the executor runtime
	// or the test process helpers (test/procs)."
	"internal/dev": {forbid: join(reconcilers, []string{"controllers/webhooks", "runtime/executor", "test/procs"})},
	// "It must not import internal/cli, the controllers, controller-runtime,
	// client-go or the Kubernetes API server libraries."
	"internal/executorcmd": {forbid: join([]string{"internal/cli", "controllers"}, talksToCluster, apiServer)},
	// "It imports the API types, runtime/flow (for the revision) and
	// internal/manifest; nothing that talks to a cluster."
	"internal/flowjson": {forbid: talksToCluster},
	// "It imports only the API types."
	"internal/graph": {forbid: []string{"runtime", "internal", "controllers"}},
	// "It must not import internal/cli or anything that talks to a cluster."
	"internal/lint": {forbid: join([]string{"internal/cli"}, talksToCluster)},
	// "This package imports neither [the schema nor the compiler], nor the
	// API server libraries, nor internal/cli: the executor binary links it."
	"internal/manifest": {forbid: join([]string{"internal/lint", "runtime/flow", "internal/cli"}, apiServer, talksToCluster)},
	// "Imports: the standard library, runtime/channel and
	// runtime/channel/meta only. It must not import runtime/flow,
	// runtime/store, runtime/executor or a channel package."
	"internal/sandbox": {std: true, only: []string{"runtime/channel", "runtime/channel/meta"},
		forbid: join([]string{"runtime/flow", "runtime/store", "runtime/executor"}, channels)},
	// "It imports nothing of this module."
	"internal/templates": {forbid: []string{"api", "runtime", "internal", "controllers"}},
	// "It imports the API types and runtime/flow (to check the result)."
	"internal/twilio": {forbid: []string{"internal", "controllers", "runtime/executor", "runtime/store"}},
	// "must not be imported by non-test code."
	"internal/testenv": {notImportedBy: []string{"*"}},
	// "Imports: the standard library, golang.org/x/time/rate and
	// runtime/message only. It must not import runtime/flow, runtime/store,
	// runtime/executor or any channel package (they import it)."
	"runtime/channel": {std: true, only: []string{"golang.org/x/time/rate", "runtime/message"},
		forbid: join([]string{"runtime/flow", "runtime/store", "runtime/executor", "runtime/channel/meta"}, channels)},
	// "It imports only runtime/message and must not do I/O nor import the
	// executor, store or channel packages."
	"runtime/channel/capability": {std: true, only: []string{"runtime/message"},
		forbid: join([]string{"runtime/executor", "runtime/store", "runtime/channel/meta"}, channels)},
	// "It imports only the standard library; production code must not
	// import it."
	"runtime/channel/fakeclock": {std: true, only: []string{}, notImportedBy: []string{"*"}},
	// "Imports: the standard library, runtime/message, runtime/channel,
	// runtime/channel/meta and runtime/channel/capability only."
	"runtime/channel/messenger": {std: true, only: []string{"runtime/message", "runtime/channel", "runtime/channel/meta", "runtime/channel/capability"},
		forbid: []string{"runtime/flow", "runtime/store", "runtime/executor", "runtime/channel/whatsapp", "runtime/channel/viber"}},
	// "Imports: the standard library, runtime/message and runtime/channel
	// only."
	"runtime/channel/meta": {std: true, only: []string{"runtime/message", "runtime/channel"},
		forbid: join([]string{"runtime/flow", "runtime/store", "runtime/executor"}, channels)},
	// "Imports: the standard library, runtime/message, runtime/channel and
	// runtime/channel/capability only."
	"runtime/channel/viber": {std: true, only: []string{"runtime/message", "runtime/channel", "runtime/channel/capability"},
		forbid: []string{"runtime/flow", "runtime/store", "runtime/executor", "runtime/channel/whatsapp", "runtime/channel/messenger", "runtime/channel/meta"}},
	// "Imports: the standard library, runtime/message, runtime/channel and
	// runtime/channel/meta only."
	"runtime/channel/whatsapp": {std: true, only: []string{"runtime/message", "runtime/channel", "runtime/channel/meta"},
		forbid: []string{"runtime/flow", "runtime/store", "runtime/executor", "runtime/channel/messenger", "runtime/channel/viber"}},
	// "it must not be imported by runtime/flow, runtime/store or the
	// channel packages."
	"runtime/executor": {notImportedBy: join([]string{"runtime/flow", "runtime/store", "runtime/channel", "runtime/channel/meta"}, channels)},
	// "it may import runtime/message of this module and nothing else of
	// ours."
	"runtime/expr": {forbid: []string{"api", "controllers", "internal", "runtime/flow", "runtime/channel", "runtime/store", "runtime/executor"}},
	// "This package must not do I/O, nor import the executor, store or
	// channel packages; the one exception is runtime/channel/capability."
	"runtime/flow": {forbid: join([]string{"runtime/executor", "runtime/store", "runtime/channel/meta", "internal", "controllers"}, channels)},
	// "it must not import runtime/flow, the executor, the controllers or
	// the commands (internal/)."
	"runtime/model": {forbid: []string{"runtime/flow", "runtime/executor", "controllers", "internal"}},
	// "It must not import the executor, the store, the flow engine or the
	// controllers."
	"runtime/runapi": {forbid: []string{"runtime/executor", "runtime/store", "runtime/flow", "controllers"}},
	// "imports nothing of this module"
	"runtime/message": {forbid: []string{"api", "controllers", "internal", "runtime/flow", "runtime/channel", "runtime/store", "runtime/executor", "runtime/expr"}},
	// "must not import runtime/flow, runtime/channel, runtime/executor or
	// runtime/expr."
	"runtime/store": {forbid: []string{"runtime/flow", "runtime/channel", "runtime/executor", "runtime/expr"}},
	// "It is test support for runtime/store and imports nothing of this
	// module."
	"runtime/store/redistest": {forbid: []string{"api", "controllers", "internal", "runtime"}, notImportedBy: []string{"*"}},
	// "It imports only runtime/store (never flow, channel or executor
	// packages)."
	"runtime/store/storetest": {forbid: []string{"runtime/flow", "runtime/channel", "runtime/executor", "internal", "controllers"}},
	// "It must not be imported by non-test code other than the benchmark
	// tools."
	"test/procs": {notImportedBy: []string{"*"}},
	// "It is a leaf: the standard library only."
	"internal/dev/statefile": {std: true, only: []string{}},
	// "It reads the CRD as YAML and must not import the API types or
	// runtime/flow, whose source it writes."
	"runtime/flow/internal/crdlimits": {forbid: []string{"api", "controllers", "internal", "runtime/flow"}},
}

// TestPackageDocsHoldTheirImportClaims checks the import rules package doc
// comments state against what the packages import.
func TestPackageDocsHoldTheirImportClaims(t *testing.T) {
	pkgs := listPackages(t)
	for name, c := range claims {
		p, ok := pkgs[name]
		if !ok {
			t.Errorf("%s: no such package (update the claims of test/docs)", name)
			continue
		}
		for _, dep := range p.deps {
			for _, f := range c.forbid {
				if dep != module+"/"+name && matches(dep, f) {
					t.Errorf("%s imports %s (directly or through another package), which its doc comment rules out", name, dep)
				}
			}
		}
		if c.only != nil {
			for _, imp := range p.imports {
				allowed := c.std && isStd(imp)
				for _, o := range c.only {
					allowed = allowed || matches(imp, o)
				}
				if !allowed {
					t.Errorf("%s imports %s; its doc comment says it imports only the standard library and %v", name, imp, c.only)
				}
			}
		}
		for _, by := range c.notImportedBy {
			for other, q := range pkgs {
				if other == name || strings.HasPrefix(other, "test/") || !(by == "*" || matches(other, by)) {
					continue
				}
				if slices.Contains(q.deps, module+"/"+name) {
					t.Errorf("%s imports %s, which its doc comment says %s must not", other, name, map[bool]string{true: "production code", false: by}[by == "*"])
				}
			}
		}
	}
	// Every package that says what it must not import is held to it.
	for _, d := range packageDirs(t) {
		files, _ := filepath.Glob(filepath.Join(root, d, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			pf, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if pf.Doc == nil {
				continue
			}
			doc := pf.Doc.Text()
			if regexp.MustCompile(`(?i)must not (be )?import|imports (only|nothing)|must not link`).MatchString(doc) {
				if _, ok := claims[d]; !ok && d != "cmd/chatflow-executor" {
					t.Errorf("%s: its doc comment states import rules that test/docs does not check: add them to claims", d)
				}
			}
		}
	}
}
