package gateway_test

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/test/procs"
)

// The gateway relays the executors' session inspector under the run API's
// prefix, the runToken checked by the executor: the raw routes, and
// `chatflow sessions` and `chatflow trace` with --gateway.
func TestInspectorThroughTheGateway(t *testing.T) {
	r, g := twoNumbers(t)
	r.expect("15550001", "orders: you said where is my order")

	get := func(path, token string, into any) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, g.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := r.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if into != nil && resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		return resp.StatusCode
	}
	const orders = "/v1/namespaces/" + ns + "/chatflows/orders"
	var page struct {
		Node     string `json:"node"`
		Contacts []struct {
			Contact string `json:"contact"`
			Status  string `json:"status"`
		} `json:"contacts"`
	}
	// The index is written after the turn commits: wait for Ann there.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if code := get(orders+"/nodes/wait/contacts?limit=10", "run-orders", &page); code != http.StatusOK {
			t.Fatalf("the waiting contacts through the gateway: %d\n%s", code, g.Log())
		}
		if len(page.Contacts) == 1 || time.Now().After(deadline) {
			break
		}
	}
	if page.Node != "wait" || len(page.Contacts) != 1 || page.Contacts[0].Contact != "15550001" || page.Contacts[0].Status != "WaitingReply" {
		t.Errorf("waiting at orders' wait: %+v, want Ann alone (Bob is support's)", page)
	}
	var contact struct {
		Flow   string `json:"flow"`
		Status string `json:"status"`
		Events []struct {
			Event string `json:"event"`
		} `json:"events"`
	}
	if code := get(orders+"/contacts/15550001?events=all", "run-orders", &contact); code != http.StatusOK ||
		contact.Flow != "orders" || contact.Status != "WaitingReply" || len(contact.Events) == 0 {
		t.Errorf("Ann's session through the gateway: %d %+v", code, contact)
	}
	var nodes struct {
		Nodes []struct {
			ID      string `json:"id"`
			Waiting int64  `json:"waiting"`
		} `json:"nodes"`
	}
	if code := get(orders+"/nodes", "run-orders", &nodes); code != http.StatusOK || len(nodes.Nodes) != 5 {
		t.Errorf("orders' nodes: %d %+v", code, nodes)
	}
	for path, want := range map[string]int{
		orders + "/nodes/wait/contacts?cursor=":             http.StatusOK,
		orders + "/nodes/wait/contacts?limit=0":             http.StatusBadRequest, // the executor's verdict, relayed
		orders + "/nodes/nope/contacts":                     http.StatusNotFound,
		orders + "/contacts/15550404":                       http.StatusNotFound,
		"/v1/namespaces/" + ns + "/chatflows/nope/nodes":    http.StatusNotFound, // not published
		"/v1/namespaces/" + ns + "/chatflows/support/nodes": http.StatusUnauthorized,
	} {
		token := "run-orders"
		if code := get(path, token, nil); code != want {
			t.Errorf("GET %s with orders' runToken: %d, want %d", path, code, want)
		}
	}
	if code := get(orders+"/nodes", "", nil); code != http.StatusUnauthorized {
		t.Errorf("without a runToken: %d, want 401", code)
	}
	if code := get(orders+"/nodes", "run-support", nil); code != http.StatusUnauthorized {
		t.Errorf("with another flow's runToken: %d, want 401", code)
	}

	// The commands, as a user outside the cluster runs them.
	bin, err := procs.Binary()
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append(args, "-n", ns, "--gateway", g.URL, "--run-token", "run-orders", "--dir", t.TempDir())...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("sessions", "orders")
	if err != nil || !strings.Contains(out, "wait  15550001  WaitingReply") || strings.Contains(out, "15550002") {
		t.Errorf("chatflow sessions --gateway: %v\n%s", err, out)
	}
	out, err = run("trace", "orders", "15550001")
	if err != nil || !strings.Contains(out, "Contact 15550001 of flow shop/orders") || !strings.Contains(out, "Status: WaitingReply at wait (WaitForReply)") {
		t.Errorf("chatflow trace --gateway: %v\n%s", err, out)
	}
	if out, err := run("trace", "orders", "15550001", "--executor", r.executors["orders"].URL); err == nil || !strings.Contains(out, "--gateway and --executor") {
		t.Errorf("--gateway with --executor: %v\n%s", err, out)
	}
}
