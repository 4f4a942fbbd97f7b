package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// forbidden are the packages chatflow-executor must not link: the
// operator's side of Chatflow, the Kubernetes client and server
// libraries, and gRPC. Each of them is what made the executor's pods hold the
// chatflow binary's memory (see main.go); a path matches itself and the
// packages under it.
var forbidden = []string{
	"sigs.k8s.io/controller-runtime",
	"k8s.io/client-go",
	"k8s.io/apiserver",
	"k8s.io/apiextensions-apiserver",
	"github.com/chatflow-dev/chatflow/internal/cli",
	"github.com/chatflow-dev/chatflow/controllers",
	// The OTLP exporters of opentelemetry-go link gRPC even over HTTP:
	// 5.8 MiB more per idle pod (internal/otlphttp says more).
	"google.golang.org/grpc",
}

// TestLinksNoOperatorPackages lists what the binary links and, for each
// forbidden package found, names the shortest import chain that pulls it
// in, so that whoever adds the import knows which one to move.
func TestLinksNoOperatorPackages(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, stderr(err))
	}
	imports := map[string][]string{}
	var main string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		imports[fields[0]] = fields[1:]
		main = fields[0] // -deps lists a package after its dependencies
	}
	if !strings.HasSuffix(main, "/cmd/chatflow-executor") {
		t.Fatalf("go list -deps ended with %q, not this package", main)
	}
	for _, f := range forbidden {
		if chain := importChain(imports, main, func(p string) bool { return p == f || strings.HasPrefix(p, f+"/") }); chain != nil {
			t.Errorf("chatflow-executor links %s:\n  %s", f, strings.Join(chain, "\n  -> "))
		}
	}
}

// importChain is the shortest chain of imports from the package from to
// a package that matches, or nil.
func importChain(imports map[string][]string, from string, match func(string) bool) []string {
	parent := map[string]string{from: ""}
	for queue := []string{from}; len(queue) > 0; queue = queue[1:] {
		p := queue[0]
		if match(p) {
			var chain []string
			for ; p != ""; p = parent[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			return chain
		}
		for _, q := range imports[p] {
			if _, seen := parent[q]; !seen {
				parent[q] = p
				queue = append(queue, q)
			}
		}
	}
	return nil
}

func TestImportChain(t *testing.T) {
	imports := map[string][]string{"main": {"a", "b"}, "a": {"c"}, "b": {"c", "bad/x"}, "c": {"bad/y"}}
	isBad := func(p string) bool { return strings.HasPrefix(p, "bad/") }
	if got, want := importChain(imports, "main", isBad), []string{"main", "b", "bad/x"}; !slices.Equal(got, want) {
		t.Errorf("chain %q, want the shortest %q", got, want)
	}
	if got := importChain(imports, "a", func(p string) bool { return p == "bad/x" }); got != nil {
		t.Errorf("chain %q, want none", got)
	}
}

func stderr(err error) []byte {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.Stderr
	}
	return nil
}
