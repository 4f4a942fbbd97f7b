package transcript

import (
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/internal/manifest"
)

// A test file lists the files of the flows its flow forwards to under
// flows:; without them the flow cannot be tested and the error says so.
func TestCalledFlowsFromOtherFiles(t *testing.T) {
	read := func(p string) manifest.Source {
		src, err := manifest.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	flow := read("testdata/forward/desk.yaml")
	tf, prog, ch, err := Load(flow, read("testdata/forward/desk.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := prog.Linked(); len(got) != 1 || got[0] != "billing" {
		t.Fatalf("linked with %v", got)
	}
	for _, r := range Run(tf, prog, ch, nil) {
		if !r.Passed() {
			t.Errorf("%s: %s", r.Name, r.Failure)
		}
	}
	_, _, _, err = Load(flow, read("testdata/forward/nofiles.test.yaml"))
	if err == nil || !strings.Contains(err.Error(), "the flow forwards to billing: list the file of each flow it calls under flows:") {
		t.Errorf("without flows: %v", err)
	}
}
