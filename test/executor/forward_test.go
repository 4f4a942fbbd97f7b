package executor_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/test/procs"
)

// deskFlow greets, calls billing and waits for it, then says what billing
// found; a second ForwardToFlow hands the contact to billing for good.
const deskFlow = `
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: desk, namespace: test}
spec:
  trigger: {type: WhatsApp}
  nodes:
  - {id: start, type: Start, next: hello}
  - {id: hello, type: SendMessage, sendMessage: {text: "Welcome, {{ contact.name }}"}, next: route}
  - id: route
    type: Condition
    condition:
      branches: [{when: 'message.text == "transfer"', next: away}]
      default: call
  - id: call
    type: ForwardToFlow
    forwardToFlow:
      flowRef: {name: billing}
      return: true
      saveAs: bill
      variables: [{name: order, value: "A-{{ message.text }}"}]
    next: back
  - {id: back, type: SendMessage, sendMessage: {text: "Back at the desk: {{ vars.bill.amount }} for {{ vars.bill.order }}"}, next: end}
  - {id: away, type: ForwardToFlow, forwardToFlow: {flowRef: {name: billing}, variables: [{name: order, value: transferred}]}}
  - {id: end, type: End}
`

const billingFlow = `
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: billing, namespace: test}
spec:
  trigger: {type: Manual, inputs: [{name: order, required: true}]}
  variables: [{name: amount, value: "?"}]
  nodes:
  - {id: start, type: Start, next: ask}
  - {id: ask, type: SendMessage, sendMessage: {text: "Billing for {{ trigger.order }}: the amount?"}, next: wait}
  - {id: wait, type: WaitForReply, waitForReply: {saveAs: amount, timeout: 1h}, next: end}
  - {id: end, type: End}
`

// TestForwardToFlowRunsTheCalledFlowOnTheCallersAccount: the executor of
// desk runs billing (given with --subflows) inside the contact's session:
// billing's questions go out on desk's account, the contact's answer
// reaches billing, and billing's End returns to desk, across a restart of
// the executor on Redis. Without return, billing takes the contact over.
func TestForwardToFlowRunsTheCalledFlowOnTheCallersAccount(t *testing.T) {
	dir := t.TempDir()
	subflows := filepath.Join(dir, "subflows.yaml")
	if err := os.WriteFile(subflows, []byte(billingFlow), 0o600); err != nil {
		t.Fatal(err)
	}
	url, _ := redisURL(t)
	r := newRig(t)
	e := r.executor(deskFlow, url, "--subflows", subflows)

	const ann = "15550006001"
	r.send(e, ann, "wamid.f1", "42")
	if got := r.waitTexts(ann, 2, 10*time.Second); !equal(got, []string{"Welcome, Kerry", "Billing for A-42: the amount?"}) {
		t.Fatalf("replies %q\n%s", got, e.Log())
	}
	// The session waits in billing; it survives a killed executor.
	e.Kill()
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	r.send(e, ann, "wamid.f2", "19 EUR")
	if got := r.waitTexts(ann, 3, 10*time.Second); len(got) != 3 || got[2] != "Back at the desk: 19 EUR for A-42" {
		t.Fatalf("replies %q\n%s", got, e.Log())
	}

	const bo = "15550006002"
	r.send(e, bo, "wamid.f3", "transfer")
	if got := r.waitTexts(bo, 2, 10*time.Second); !equal(got, []string{"Welcome, Kerry", "Billing for transferred: the amount?"}) {
		t.Fatalf("replies %q", got)
	}
	r.send(e, bo, "wamid.f4", "7")
	// billing's End ends the run: desk does not come back.
	time.Sleep(300 * time.Millisecond)
	if got := r.waitTexts(bo, 2, 0); len(got) != 2 {
		t.Errorf("after billing ended: %q", got)
	}
	// The next message starts desk again.
	r.send(e, bo, "wamid.f5", "hello")
	if got := r.waitTexts(bo, 4, 10*time.Second); len(got) != 4 || got[2] != "Welcome, Kerry" {
		t.Errorf("a new run: %q", got)
	}
}

// TestForwardToFlowNeedsItsSubflows: an executor whose flow forwards to a
// flow it was not given refuses to start and says how to fix it.
func TestForwardToFlowNeedsItsSubflows(t *testing.T) {
	bin, err := procs.ExecutorBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	flowFile := filepath.Join(dir, "flow.yaml")
	bindingFile := filepath.Join(dir, "binding.yaml")
	creds := filepath.Join(dir, "creds")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(flowFile, []byte(deskFlow), 0o600))
	must(os.WriteFile(bindingFile, []byte(binding("http://127.0.0.1:1")), 0o600))
	must(os.MkdirAll(creds, 0o700))
	for k, v := range credentials {
		must(os.WriteFile(filepath.Join(creds, k), []byte(v), 0o600))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--flow", flowFile, "--binding", bindingFile, "--credentials", creds,
		"--store", "memory", "--listen", "127.0.0.1:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "pass the flows they call with --subflows") || !strings.Contains(string(out), "no ChatFlow billing is available") {
		t.Fatalf("an executor without its subflows: %v\n%s", err, out)
	}
}
