package cli

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// run runs chatflow with args, as main does, and returns what a terminal
// would show: stdout, stderr and the exit status.
func run(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	root := NewRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	exit := 0
	if err := root.Execute(); err != nil {
		exit = 1
	}
	return fmt.Sprintf("$ chatflow %s\n--- stdout\n%s--- stderr\n%s--- exit %d\n", strings.Join(args, " "), out.String(), errOut.String(), exit)
}

// Golden outputs of each flow authoring command, successes and failures.
func TestAuthoringCommandsGolden(t *testing.T) {
	exported, err := os.ReadFile("testdata/authoring/order-status.json")
	if err != nil && !*update {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"lint-samples", "", []string{"lint", "../../config/samples"}},
		{"lint-bad", "", []string{"lint", "testdata/authoring/bad.yaml"}},
		{"lint-bad-json", "", []string{"lint", "-o", "json", "testdata/authoring/bad.yaml"}},
		{"lint-stdin", "apiVersion: chatflow.dev/v1alpha1\nkind: ChannelBinding\nmetadata: {name: b}\nspec: {flowRef: {name: f}, channel: SMS}\n", []string{"lint", "-"}},
		{"lint-no-args", "", []string{"lint"}},
		{"graph-mermaid", "", []string{"graph", "-f", "../../config/samples/order-status.yaml", "--markdown"}},
		{"graph-dot", "", []string{"graph", "-f", "../../config/samples/appointment-reminder.yaml", "--format", "dot"}},
		{"graph-invalid", "", []string{"graph", "-f", "testdata/authoring/bad.yaml"}},
		{"test-pass", "", []string{"test", "-t", "../../config/samples/order-status.test.yaml"}},
		{"test-fail", "", []string{"test", "-f", "../../config/samples/order-status.yaml", "-t", "../transcript/testdata/failing.test.yaml", "--run", "wrong text|not offered"}},
		{"export-file", "", []string{"export", "-f", "../../config/samples/order-status.yaml"}},
		{"export-both", "", []string{"export", "-f", "x.yaml", "name"}},
		{"import-portable", string(exported), []string{"import", "-", "--namespace", "shop"}},
		{"import-studio", "", []string{"import", "--from", "twilio-studio", "../twilio/testdata/survey.json", "--name", "nps"}},
		{"import-studio-strict", "", []string{"import", "--from", "twilio-studio", "../twilio/testdata/survey.json", "--name", "nps", "--strict"}},
		{"new-list", "", []string{"new", "--list"}},
		{"new-faq", "", []string{"new", "help-desk", "--template", "faq-menu", "--trigger", "Viber", "--dir", dir}},
		{"new-exists", "", []string{"new", "help-desk", "--template", "faq-menu", "--dir", dir}},
		{"new-bad-trigger", "", []string{"new", "x", "--template", "order-status", "--trigger", "Manual"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.ReplaceAll(run(t, tc.stdin, tc.args...), dir, "$DIR")
			golden(t, tc.name+".golden", got)
			if tc.name == "export-file" && *update {
				// The export feeds import-portable.
				s := got[strings.Index(got, "{") : strings.LastIndex(got, "}")+1]
				if err := os.WriteFile("testdata/authoring/order-status.json", []byte(s+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	// What new wrote lints clean and passes its tests.
	out := run(t, "", "test", "-f", filepath.Join(dir, "help-desk.yaml"))
	if !strings.Contains(out, "--- exit 0") {
		t.Errorf("the new flow's tests fail:\n%s", out)
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "authoring", name)
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
	if string(want) != got {
		t.Errorf("%s differs (go test -update rewrites it):\n%s", path, got)
	}
}
