package executor_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/runapi"
	"github.com/chatflow-dev/chatflow/test/procs"
)

// promoFlow sends a WhatsApp template to the contact and ends: what a
// campaign typically starts.
const promoFlow = `
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: promo, namespace: test}
spec:
  trigger:
    type: Manual
    inputs: [{name: firstName, required: true}, {name: code}]
  nodes:
  - {id: start, type: Start, next: offer}
  - id: offer
    type: SendMessage
    sendMessage:
      template:
        name: spring_offer
        language: en_US
        components: [{type: body, parameters: [{type: text, text: "{{ trigger.firstName }}"}]}]
    next: end
  - {id: end, type: End}
`

// TestCampaignBatchStartsEachContactOnce hands a campaign's contacts to an
// executor process in batches, again after a kill and restart on the same
// Redis: every valid contact gets its template once, an invalid one is
// refused with the reason, and the counts follow the runs to their end.
func TestCampaignBatchStartsEachContactOnce(t *testing.T) {
	url, _ := redisURL(t)
	r := newRig(t)
	e := r.executor(promoFlow, url)
	client := &runapi.Client{BaseURL: e.URL, Token: credentials["runToken"], HTTP: r.client}
	ctx := context.Background()
	batch := &runapi.BatchRequest{Campaign: "c-0001", DiscardAfter: "1h", Runs: []runapi.Run{
		{Contact: runapi.Contact{ID: "15550004001", Name: "Ana"}, Variables: map[string]string{"firstName": "Ana", "code": "X1"}},
		{Contact: runapi.Contact{ID: "15550004002"}, Variables: map[string]string{"firstName": "Bo", "undeclared": "x"}},
		{Contact: runapi.Contact{ID: "15550004003"}, Variables: map[string]string{"code": "X3"}},
		{Contact: runapi.Contact{ID: "has space"}, Variables: map[string]string{"firstName": "D"}},
	}}
	statuses := func(resp *runapi.BatchResponse) string {
		var s []string
		for _, r := range resp.Results {
			s = append(s, r.Status)
		}
		return strings.Join(s, " ")
	}
	resp, err := client.Batch(ctx, batch)
	if err != nil {
		t.Fatalf("batch: %v\n%s", err, e.Log())
	}
	if got := statuses(resp); got != "started started invalid invalid" {
		t.Fatalf("statuses %q, want started started invalid invalid", got)
	}
	if !strings.Contains(resp.Results[2].Error, "firstName") {
		t.Errorf("the invalid run's reason %q does not name the missing input", resp.Results[2].Error)
	}
	resp, err = client.Batch(ctx, batch)
	if err != nil || statuses(resp) != "duplicate duplicate invalid invalid" {
		t.Fatalf("the same batch again: %v %v", resp, err)
	}
	waitCounts := func(want runapi.Counts) {
		t.Helper()
		var got runapi.Counts
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if got, err = client.Counts(ctx, "c-0001"); err == nil && got == want {
				return
			}
		}
		t.Fatalf("counts %+v (%v), want %+v\n%s", got, err, want, e.Log())
	}
	waitCounts(runapi.Counts{Accepted: 2, Started: 2, Done: 2})
	for _, c := range []string{"15550004001", "15550004002"} {
		if n := len(r.waitMessages(c, 1, 10*time.Second)); n != 1 {
			t.Errorf("%s got %d messages, want its template once", c, n)
		}
	}

	// A killed executor, restarted on the same store, still knows them.
	e.Kill()
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	batch.Runs = append(batch.Runs, runapi.Run{Contact: runapi.Contact{ID: "15550004005"}, Variables: map[string]string{"firstName": "Ed"}})
	resp, err = client.Batch(ctx, batch)
	if err != nil || statuses(resp) != "duplicate duplicate invalid invalid started" {
		t.Fatalf("after a restart: %v %v", resp, err)
	}
	waitCounts(runapi.Counts{Accepted: 3, Started: 3, Done: 3})
	time.Sleep(200 * time.Millisecond)
	for _, c := range []string{"15550004001", "15550004002", "15550004005"} {
		if n := len(r.waitMessages(c, 1, 10*time.Second)); n != 1 {
			t.Errorf("%s got %d messages, want exactly 1", c, n)
		}
	}
	// Another campaign is another key: the same contact starts again.
	resp, err = client.Batch(ctx, &runapi.BatchRequest{Campaign: "c-0002", Runs: batch.Runs[:1]})
	if err != nil || statuses(resp) != "started" {
		t.Errorf("another campaign: %v %v", resp, err)
	}

	// Refusals: the token, the body.
	bad := &runapi.Client{BaseURL: e.URL, Token: "wrong", HTTP: r.client}
	if _, err := bad.Batch(ctx, batch); !runapi.IsUnauthorized(err) {
		t.Errorf("a wrong token: %v, want 401", err)
	}
	for name, req := range map[string]*runapi.BatchRequest{
		"no campaign":      {Runs: batch.Runs},
		"no runs":          {Campaign: "c"},
		"too many runs":    {Campaign: "c", Runs: make([]runapi.Run, runapi.MaxBatchRuns+1)},
		"a slash in an id": {Campaign: "a/b", Runs: batch.Runs},
		"a bad discard":    {Campaign: "c", DiscardAfter: "soon", Runs: batch.Runs},
	} {
		var se *runapi.StatusError
		if _, err := client.Batch(ctx, req); !errors.As(err, &se) || se.Code != http.StatusBadRequest {
			t.Errorf("%s: %v, want 400", name, err)
		}
	}
}

// TestCampaignRunDiscardedLateCountsFailed: a run handed over with a
// discardAfter that passes before a worker takes it is dropped, and the
// campaign counts it failed, never started.
func TestCampaignRunDiscardedLateCountsFailed(t *testing.T) {
	r := newRig(t)
	// One worker sending one message a second: the queue drains slowly.
	url, _ := redisURL(t)
	e := r.executor(promoFlow, url, "--workers", "1", "--send-rate", "1")
	client := &runapi.Client{BaseURL: e.URL, Token: credentials["runToken"], HTTP: r.client}
	ctx := context.Background()
	var runs []runapi.Run
	for _, id := range []string{"15550005001", "15550005002", "15550005003", "15550005004"} {
		runs = append(runs, runapi.Run{Contact: runapi.Contact{ID: id}, Variables: map[string]string{"firstName": "P"}})
	}
	// At one send per second, the last runs wait longer than 1.5s.
	if _, err := client.Batch(ctx, &runapi.BatchRequest{Campaign: "late", DiscardAfter: "1500ms", Runs: runs}); err != nil {
		t.Fatal(err)
	}
	var got runapi.Counts
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got, _ = client.Counts(ctx, "late"); got.Done+got.Failed == 4 {
			break
		}
	}
	if got.Accepted != 4 || got.Done+got.Failed != 4 || got.Failed == 0 || got.Done == 0 {
		t.Fatalf("counts %+v: want every run done or failed, some discarded late\n%s", got, e.Log())
	}
	sent, _ := procs.SandboxMessages(ctx, r.sandbox, "", 0, 0)
	if int64(len(sent)) != got.Done {
		t.Errorf("%d messages reached the sandbox, %d runs done: a discarded run must not send", len(sent), got.Done)
	}
}

// TestCampaignBatchAcrossReplicas: two executor replicas on one Redis are
// handed the same contacts at the same time (a manager that retried on
// another replica): each contact is started once, whichever replica took
// it, and both replicas report the same counts.
func TestCampaignBatchAcrossReplicas(t *testing.T) {
	url, _ := redisURL(t)
	r := newRig(t)
	replicas := []*procs.Executor{r.executor(promoFlow, url), r.executor(promoFlow, url)}
	const contacts = 300
	batch := &runapi.BatchRequest{Campaign: "c-replicas", DiscardAfter: "1h"}
	for i := range contacts {
		batch.Runs = append(batch.Runs, runapi.Run{Contact: runapi.Contact{ID: fmt.Sprintf("1555000%04d", i)},
			Variables: map[string]string{"firstName": "F"}})
	}
	ctx := context.Background()
	started := make([]int, len(replicas))
	var wg sync.WaitGroup
	for k, e := range replicas {
		wg.Go(func() {
			client := &runapi.Client{BaseURL: e.URL, Token: credentials["runToken"], HTTP: r.client}
			resp, err := client.Batch(ctx, batch)
			if err != nil {
				t.Errorf("replica %d: %v\n%s", k, err, e.Log())
				return
			}
			for _, res := range resp.Results {
				switch res.Status {
				case runapi.Started:
					started[k]++
				case runapi.Duplicate:
				default:
					t.Errorf("replica %d answered %q (%s)", k, res.Status, res.Error)
				}
			}
		})
	}
	wg.Wait()
	if started[0]+started[1] != contacts {
		t.Fatalf("the replicas started %d and %d runs, want %d in all", started[0], started[1], contacts)
	}
	want := runapi.Counts{Accepted: contacts, Started: contacts, Done: contacts}
	for k, e := range replicas {
		client := &runapi.Client{BaseURL: e.URL, Token: credentials["runToken"], HTTP: r.client}
		var got runapi.Counts
		var err error
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if got, err = client.Counts(ctx, "c-replicas"); err == nil && got == want {
				break
			}
		}
		if got != want {
			t.Fatalf("replica %d counts %+v (%v), want %+v", k, got, err, want)
		}
	}
	per := map[string]int{}
	var after int64
	for {
		ms, err := procs.SandboxMessages(ctx, r.sandbox, "", after, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 {
			break
		}
		for _, m := range ms {
			per[m.To]++
			after = m.Seq
		}
	}
	if len(per) != contacts {
		t.Errorf("%d contacts got a message, want %d", len(per), contacts)
	}
	for c, n := range per {
		if n != 1 {
			t.Errorf("%s got %d messages, want its template once", c, n)
		}
	}
}
