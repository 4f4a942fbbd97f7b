package executor_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/test/procs"
)

// hookFlow is a Manual flow with no channel: it calls an HTTP API with the
// run's input, as a flow without a binding can.
func hookFlow(apiURL string) string {
	return fmt.Sprintf(`
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: hook, namespace: test}
spec:
  trigger: {type: Manual, inputs: [{name: ticket, required: true}], credentialsRef: {name: hook-runs}}
  nodes:
  - {id: start, type: Start, next: call}
  - {id: call, type: HTTPRequest, httpRequest: {method: POST, url: "%s/tickets/{{ trigger.ticket }}/close", body: "by {{ contact.id }}"}, next: end}
  - {id: end, type: End}
`, apiURL)
}

// A Published Manual flow without a ChannelBinding runs: its run API takes
// the runToken of spec.trigger.credentialsRef (mounted as the executor's
// credentials), and the flow calls HTTP APIs. Without a runToken the
// executor refuses to start, as the operator refuses to call such a flow
// Ready: a flow that would refuse every run never looks healthy.
func TestManualFlowRunsWithoutABinding(t *testing.T) {
	var calls atomic.Int32
	var got atomic.Value
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got.Store(r.Method + " " + r.URL.Path + " " + string(body))
		calls.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer api.Close()
	e := procs.StartExecutor(t, procs.ExecutorSpec{Flow: hookFlow(api.URL), Credentials: map[string]string{"runToken": "hook-token"},
		Store: "memory", Args: []string{"--allow-private-networks", "127.0.0.0/8"}})
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/v1/runs",
		strings.NewReader(`{"contact": {"id": "crm-42"}, "variables": {"ticket": "T-7"}}`))
	req.Header.Set("Authorization", "Bearer hook-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("run: %s\n%s", resp.Status, e.Log())
	}
	for deadline := time.Now().Add(10 * time.Second); calls.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if s, _ := got.Load().(string); s != "POST /tickets/T-7/close by crm-42" {
		t.Fatalf("the flow's call: %q\n%s", s, e.Log())
	}

	// No runToken: the executor says why and exits.
	bin, err := procs.ExecutorBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	flowFile := filepath.Join(dir, "flow.yaml")
	if err := os.WriteFile(flowFile, []byte(hookFlow(api.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--flow", flowFile, "--store", "memory", "--listen", "127.0.0.1:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "the credentials have no runToken") {
		t.Fatalf("an executor of a Manual flow without a runToken: %v\n%s", err, out)
	}
}
