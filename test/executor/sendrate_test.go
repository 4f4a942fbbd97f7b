package executor_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/test/procs"
)

// Run from files (chatflow executor --binding FILE), the executor holds
// the account to the binding's spec.sendRate, as it does when the operator
// passes it as --send-rate; the flag wins when both are set. Four replies
// at 1/s (burst 1) spread over about 3 s: the bound checked is a floor,
// which a slow machine only widens; the rate in effect is also in the
// executor's start line.
func TestSendRateFromTheBinding(t *testing.T) {
	r := newRig(t)
	bound := strings.Replace(binding(r.sandbox), "  apiBaseURL:", "  sendRate: 1\n  apiBaseURL:", 1)
	e := procs.StartExecutor(t, procs.ExecutorSpec{Flow: echoFlow, Binding: bound, Credentials: credentials, Store: "memory"})
	if !logShows(e, `"sendRate":1}`) {
		t.Fatalf("the start line does not give the binding's rate:\n%s", e.Log())
	}
	const contacts = 4
	for c := range contacts {
		from := fmt.Sprintf("77%02d", c)
		r.send(e, from, "wamid."+from, "hi")
	}
	var first, last time.Time
	for c := range contacts {
		got := r.waitMessages(fmt.Sprintf("77%02d", c), 1, 20*time.Second)
		if len(got) != 1 {
			t.Fatalf("contact %d: %d replies, want 1\n%s", c, len(got), e.Log())
		}
		if at := got[0].ReceivedAt; first.IsZero() || at.Before(first) {
			first = at
		}
		if at := got[0].ReceivedAt; at.After(last) {
			last = at
		}
	}
	if spread := last.Sub(first); spread < 2*time.Second {
		t.Fatalf("4 sends at the binding's 1/s spread over %v, want about 3 s: spec.sendRate is not applied", spread)
	}

	flagged := procs.StartExecutor(t, procs.ExecutorSpec{Flow: echoFlow, Binding: bound, Credentials: credentials,
		Store: "memory", Args: []string{"--send-rate", "40"}})
	if !logShows(flagged, `"sendRate":40}`) {
		t.Fatalf("with --send-rate 40 the start line does not give 40:\n%s", flagged.Log())
	}
}

// logShows waits a little for the executor's log to contain s: /healthz
// may answer before the start line is written.
func logShows(e *procs.Executor, s string) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(e.Log(), s) {
			return true
		}
	}
	return false
}
