package flow

import (
	"bytes"
	"os"
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/flow/internal/crdlimits"
)

const crdFile = "../../config/crd/bases/chatflow.dev_chatflows.yaml"

// The compiler's limits are the CRD's: zz_generated.limits.go is what the
// generator makes of the current CRD (go generate ./runtime/flow, run by
// make manifests, rewrites it).
func TestLimitsAreTheCRDs(t *testing.T) {
	crd, err := os.ReadFile(crdFile)
	if err != nil {
		t.Fatal(err)
	}
	want, err := crdlimits.Generate(crd, "flow", "config/crd/bases/chatflow.dev_chatflows.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("zz_generated.limits.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("zz_generated.limits.go is stale: run make manifests (go generate ./runtime/flow)")
	}
	// checkName holds every variable-like name to the rule of
	// spec.variables[].name: the CRD must say the same of the others.
	for _, path := range []string{
		"spec.trigger.inputs[].name",
		"spec.nodes[].setVariables.variables[].name",
		"spec.nodes[].waitForReply.saveAs",
		"spec.nodes[].httpRequest.saveAs",
		"spec.nodes[].aiReply.saveAs",
		"spec.nodes[].aiClassify.saveAs",
		"spec.nodes[].aiExtract.fields[].name",
	} {
		pattern, err := crdlimits.Value(crd, path, "pattern")
		if err != nil || pattern != variableNamePattern {
			t.Errorf("%s: pattern %v (%v), want %q like spec.variables[].name", path, pattern, err, variableNamePattern)
		}
		max, err := crdlimits.Value(crd, path, "maxLength")
		if err != nil || max != float64(MaxVariableName) {
			t.Errorf("%s: maxLength %v (%v), want %d like spec.variables[].name", path, max, err, MaxVariableName)
		}
	}
	// The AI nodes share their bounds: the generated ones are read from
	// AIReply and AIClassify, and the others must say the same.
	same := map[string][]string{
		"spec.nodes[].aiReply.model": {"spec.nodes[].aiClassify.model", "spec.nodes[].aiExtract.model"},
		"spec.nodes[].aiReply.systemPrompt": {"spec.nodes[].aiReply.context", "spec.nodes[].aiClassify.instructions",
			"spec.nodes[].aiClassify.input", "spec.nodes[].aiExtract.instructions", "spec.nodes[].aiExtract.input"},
		"spec.nodes[].aiClassify.labels[].description": {"spec.nodes[].aiExtract.fields[].description"},
	}
	for from, paths := range same {
		for _, kw := range []string{"maxLength", "pattern"} {
			want, wantErr := crdlimits.Value(crd, from, kw)
			for _, path := range paths {
				got, err := crdlimits.Value(crd, path, kw)
				if (err == nil) != (wantErr == nil) || got != want {
					t.Errorf("%s: %s %v, want %v like %s", path, kw, got, want, from)
				}
			}
		}
	}
	for _, path := range []string{"spec.nodes[].aiClassify.history", "spec.nodes[].aiExtract.history"} {
		if max, err := crdlimits.Value(crd, path, "maximum"); err != nil || max != float64(MaxHistory) {
			t.Errorf("%s: maximum %v, want %d like spec.nodes[].aiReply.history", path, max, MaxHistory)
		}
	}
	if MaxHistory > MaxRecent {
		t.Errorf("the CRD lets AI nodes ask for %d messages of history; sessions keep %d", MaxHistory, MaxRecent)
	}
}
