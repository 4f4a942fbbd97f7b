package transcript_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/internal/transcript"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// Every flow in config/samples ships with transcript tests, and they pass.
func TestSamples(t *testing.T) {
	srcs, err := manifest.Read([]string{"../../config/samples"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{}
	for _, f := range lint.Lint(srcs).Flows {
		files[f.Object.Source] = true
	}
	if len(files) < 3 {
		t.Fatalf("found flows in only %d sample files", len(files))
	}
	for file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			testsFile := transcript.TestsFileFor(file)
			tsrc, err := manifest.ReadFile(testsFile)
			if err != nil {
				t.Fatalf("every sample flow ships with its tests: %v", err)
			}
			fsrc, err := manifest.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			tf, prog, ch, err := transcript.Load(fsrc, tsrc)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range transcript.Run(tf, prog, ch, nil) {
				if !r.Passed() {
					t.Errorf("%s:\n%s", r.Name, r.Failure)
				}
			}
		})
	}
}

// A failing test says where, what differs and what happened: the report
// is a golden file.
func TestFailureReport(t *testing.T) {
	tf, prog, ch := loadFailing(t)
	var out bytes.Buffer
	failed := transcript.Report(&out, transcript.Run(tf, prog, ch, nil), true)
	if failed != len(tf.Tests)-1 {
		t.Errorf("%d tests failed, want all but the first", failed)
	}
	golden(t, "failing.out", out.Bytes())
}

// loadFailing loads testdata/failing.test.yaml, tests of the order-status
// sample.
func loadFailing(t *testing.T) (*transcript.File, *flow.Program, message.Channel) {
	t.Helper()
	fsrc, err := manifest.ReadFile("../../config/samples/order-status.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tsrc, err := manifest.ReadFile("testdata/failing.test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tf, prog, ch, err := transcript.Load(fsrc, tsrc)
	if err != nil {
		t.Fatal(err)
	}
	return tf, prog, ch
}

func TestParseErrors(t *testing.T) {
	for name, tc := range map[string]struct{ src, want string }{
		"empty":          {"", "the file is empty"},
		"no tests":       {"flow: x\n", "no tests"},
		"unknown field":  {"flow: x\nteste: []\n", "field teste not found"},
		"unknown step":   {"tests:\n- name: a\n  transcript:\n  - say: hi\n", `line 4: unknown step "say"`},
		"two keys":       {"tests:\n- name: a\n  transcript:\n  - {user: hi, bot: hi}\n", "line 4: a transcript step is a mapping with one key"},
		"bot field":      {"tests:\n- name: a\n  transcript:\n  - bot: {txt: hi}\n", `line 4: unknown field "txt"`},
		"test field":     {"tests:\n- name: a\n  transcrpt: []\n", `line 3: unknown field "transcrpt"`},
		"contact field":  {"contact: {id: x, nam: y}\ntests: []\n", "field nam not found"},
		"no name":        {"tests:\n- transcript: [{user: hi}]\n", "the test needs a name"},
		"duplicate name": {"tests:\n- name: a\n  transcript: [{user: hi}]\n- name: a\n  transcript: [{user: hi}]\n", "also named"},
		"no transcript":  {"tests:\n- name: a\n", "has no transcript"},
		"bad channel":    {"channel: Telegram\ntests:\n- name: a\n  transcript: [{user: hi}]\n", "channel"},
		"bad now":        {"now: tomorrow\ntests:\n- name: a\n  transcript: [{user: hi}]\n", "now"},
		"tap needs id":   {"tests:\n- name: a\n  transcript:\n  - tap: {title: x}\n", "tap needs an id"},
		"timer node":     {"tests:\n- name: a\n  transcript:\n  - timer: ''\n", "timer needs a node id"},
		"stub list":      {"http: {a: []}\ntests:\n- name: a\n  transcript: [{user: hi}]\n", "give at least one response"},
		"stub field":     {"http: {a: {stauts: 200}}\ntests:\n- name: a\n  transcript: [{user: hi}]\n", "field stauts not found"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := transcript.Parse("t.yaml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestConventions(t *testing.T) {
	if got := transcript.TestsFileFor("a/b.yaml"); got != "a/b.test.yaml" {
		t.Error(got)
	}
	if got := transcript.FlowFileFor("a/b.test.yaml"); got != "a/b.yaml" {
		t.Error(got)
	}
	if got := transcript.FlowFileFor("a/b.yaml"); got != "" {
		t.Error(got)
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n%s", path, got)
	}
}

// Play records what the flow does at each input, in the driver's order,
// and stops at the first input a test cannot play.
func TestPlayRecordsEachInput(t *testing.T) {
	tf, prog, ch := loadFailing(t)
	test := func(name string) *transcript.Test {
		for i := range tf.Tests {
			if tf.Tests[i].Name == name {
				return &tf.Tests[i]
			}
		}
		t.Fatalf("no test %q", name)
		return nil
	}
	// Expectations are not checked: the wrong variables do not matter.
	xs, err := transcript.Play(tf, prog, ch, test("wrong variables and call"))
	if err != nil {
		t.Fatal(err)
	}
	if len(xs) != 2 || xs[0].Input.Text != "hi" || xs[1].Input.Text != "10452" {
		t.Fatalf("exchanges: %+v", xs)
	}
	if len(xs[0].Sends) != 1 || xs[0].Sends[0].NodeID != "ask" || xs[0].Session.Node != "wait-order" {
		t.Errorf("first input: sends %+v, session at %q", xs[0].Sends, xs[0].Session.Node)
	}
	if c := xs[1].Calls; len(c) != 1 || c[0].URL != "https://orders.example.com/v1/orders/10452" {
		t.Errorf("second input: calls %+v", c)
	}
	if len(xs[1].Sends) != 1 || xs[1].Sends[0].NodeID != "shipped" || xs[1].Session.Vars["orderNumber"] != "10452" ||
		xs[1].Session.Waiting() {
		t.Errorf("second input: sends %+v, session %+v", xs[1].Sends, xs[1].Session)
	}
	if !xs[1].Now.After(xs[0].Now) {
		t.Errorf("the clock did not move: %v, %v", xs[0].Now, xs[1].Now)
	}
	var events []string
	for _, l := range xs[1].Logs {
		events = append(events, string(l.Event)+"@"+l.NodeID)
	}
	// The send's outcome is stepped after everything emitted before it.
	if got := strings.Join(events, " "); !strings.HasPrefix(got, "node_left@wait-order node_entered@check-format") ||
		!strings.HasSuffix(got, "node_entered@end run_ended@end message_sent@shipped") {
		t.Errorf("logs of the second input: %s", got)
	}

	// A call without a stub stops the play before that input.
	xs, err = transcript.Play(tf, prog, ch, test("no stub for a call"))
	if err == nil || !strings.Contains(err.Error(), "no stub") || len(xs) != 1 || len(xs[0].Sends) != 1 {
		t.Errorf("no stub: %d exchanges, %v", len(xs), err)
	}
}
