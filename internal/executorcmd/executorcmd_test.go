package executorcmd

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStoreKindHidesTheURL(t *testing.T) {
	for url, want := range map[string]string{"memory": "memory", "redis://:s3cret@redis:6379/0": "redis"} {
		if got := storeKind(url); got != want {
			t.Errorf("storeKind(%q) = %q, want %q", url, got, want)
		}
	}
}

func TestFlowIsRequired(t *testing.T) {
	cmd := New()
	cmd.SetArgs([]string{"--store", "memory"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), `"flow"`) {
		t.Errorf("without --flow: %v, want the required flag named", err)
	}
}

// The executor reads its files as kubectl does: an unquoted n is the
// boolean false, which a variable name cannot be. It refuses the flow at
// the field path the API server and chatflow lint name, instead of
// running a variable called "false".
func TestReadsManifestsAsKubectlDoes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const flow = `apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: f}
spec:
  trigger: {type: Manual}
  logging: {enabled: yes}
  variables: [{name: VAR}]
  nodes:
  - {id: start, type: Start, next: end}
  - {id: end, type: End}
`
	bad := write("bad.yaml", strings.Replace(flow, "VAR", "n", 1))
	cmd := New()
	cmd.SetArgs([]string{"--flow", bad, "--store", "memory", "--listen", "127.0.0.1:0"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	err := cmd.Execute()
	want := bad + `:7: spec.variables[0].name: Invalid value: "boolean": must be a string (quote it: "n")`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}

	unknown := write("unknown.yaml", strings.Replace(flow, "{name: VAR}", "{name: a, vaule: x}", 1))
	if _, _, err := loadManifests(unknown, ""); err == nil || !strings.Contains(err.Error(), "unknown.yaml:7: spec.variables[0].vaule: unknown field") {
		t.Errorf("an unknown field: %v", err)
	}

	good := write("good.yaml", strings.Replace(flow, "VAR", `"n"`, 1))
	f, b, err := loadManifests(good, "")
	if err != nil {
		t.Fatal(err)
	}
	if b != nil || f.Spec.Variables[0].Name != "n" || !f.Spec.Logging.Enabled {
		t.Errorf("decoded %+v (an unquoted yes is true)", f.Spec)
	}
}
