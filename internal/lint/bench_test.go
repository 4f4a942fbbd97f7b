package lint_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
)

// bigFlow writes a valid flow of n nodes that uses every kind of node
// with a schema of its own: a chain whose links are messages, waits,
// conditions, variables, HTTP calls and delays.
func bigFlow(n int) string {
	var b strings.Builder
	b.WriteString("apiVersion: chatflow.dev/v1alpha1\nkind: ChatFlow\nmetadata:\n  name: big\n  namespace: default\nspec:\n  trigger:\n    type: WhatsApp\n  variables:\n  - name: x\n    value: \"0\"\n  nodes:\n  - id: start\n    type: Start\n    next: n1\n")
	for i := 1; i < n-1; i++ {
		next := fmt.Sprintf("n%d", i+1)
		if i+1 == n-1 {
			next = "end"
		}
		switch i % 10 {
		case 0:
			fmt.Fprintf(&b, "  - id: n%d\n    type: Condition\n    condition:\n      branches:\n      - when: 'message.text == \"%d\"'\n        next: %s\n      default: %s\n", i, i, next, next)
		case 3:
			fmt.Fprintf(&b, "  - id: n%d\n    type: WaitForReply\n    waitForReply:\n      timeout: 10m\n      saveAs: reply%d\n    next: %s\n    onTimeout: end\n", i, i, next)
		case 5:
			fmt.Fprintf(&b, "  - id: n%d\n    type: SetVariables\n    setVariables:\n      variables:\n      - name: x\n        expr: 'string(int(vars.x) + %d)'\n    next: %s\n", i, i, next)
		case 7:
			fmt.Fprintf(&b, "  - id: n%d\n    type: HTTPRequest\n    httpRequest:\n      method: POST\n      url: \"https://api.example.com/v1/items/{{ vars.x }}\"\n      body: '{\"n\": %d}'\n      timeout: 5s\n      saveAs: item\n    next: %s\n    onError: end\n", i, i, next)
		case 9:
			fmt.Fprintf(&b, "  - id: n%d\n    type: Delay\n    delay:\n      duration: 1s\n    next: %s\n", i, next)
		default:
			fmt.Fprintf(&b, "  - id: n%d\n    type: SendMessage\n    sendMessage:\n      text: \"Message {{ contact.name }} %d\"\n    next: %s\n", i, i, next)
		}
	}
	b.WriteString("  - id: end\n    type: End\n")
	return b.String()
}

func TestBigFlowLintsClean(t *testing.T) {
	r := lint.Lint([]manifest.Source{{Name: "big.yaml", Data: []byte(bigFlow(500))}})
	for _, p := range r.Problems {
		t.Error(p)
	}
	if len(r.Flows) != 1 || r.Flows[0].Program == nil {
		t.Fatal("the 500-node flow did not compile")
	}
}

// BenchmarkLint500 is `chatflow lint` on a 500-node flow: "full" runs
// every rule and compiles every expression, as the first lint of a flow
// does; "edit" lints it after one node changed, as the studio does after
// each property edit, with what earlier lints remembered.
func BenchmarkLint500(b *testing.B) {
	src := bigFlow(500)
	b.Run("full", func(b *testing.B) {
		defer reportCPU(b)()
		for b.Loop() {
			lint.LintAfresh([]manifest.Source{{Name: "big.yaml", Data: []byte(src)}})
		}
	})
	b.Run("edit", func(b *testing.B) {
		lint.Lint([]manifest.Source{{Name: "big.yaml", Data: []byte(src)}})
		defer reportCPU(b)()
		i := 0
		for b.Loop() {
			i++
			edited := strings.Replace(src, "Message {{ contact.name }} 42\"", fmt.Sprintf("Edit %d {{ contact.name }}\"", i), 1)
			lint.Lint([]manifest.Source{{Name: "big.yaml", Data: []byte(edited)}})
		}
	})
}

// reportCPU adds the process's CPU time per operation (all threads, the
// garbage collector's included) to a benchmark's figures: on a loaded
// machine it varies far less than the wall time.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() { b.ReportMetric(float64(cpuTime()-start)/1e6/float64(b.N), "cpu-ms/op") }
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
