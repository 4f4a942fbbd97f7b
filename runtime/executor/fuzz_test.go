package executor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/executor"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
	"github.com/chatflow-dev/chatflow/runtime/runapi"
	"github.com/chatflow-dev/chatflow/runtime/store"
)

// fuzzFlow is a Manual flow that keeps a session: it saves what it is
// given, waits for a reply and branches on it.
const fuzzFlow = `
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: fuzz, namespace: test}
spec:
  trigger: {type: Manual, inputs: [{name: orderId}]}
  nodes:
  - {id: start, type: Start, next: save}
  - {id: save, type: SetVariables, setVariables: {variables: [{name: order, expr: 'trigger.?orderId.orValue("none")'}]}, next: wait}
  - {id: wait, type: WaitForReply, waitForReply: {timeout: 1h, saveAs: reply}, next: route}
  - id: route
    type: Condition
    condition: {branches: [{when: 'vars.?reply.orValue("") == "again"', next: wait}], default: end}
  - {id: end, type: End}
`

// newExecutor runs fuzzFlow on a memory store with a run token.
func newExecutor(t testing.TB) (*executor.Executor, store.Store) {
	t.Helper()
	var f v1alpha1.ChatFlow
	if err := yaml.UnmarshalStrict([]byte(fuzzFlow), &f); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "runToken"), []byte("fuzz-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	creds, err := executor.NewCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory(store.Options{})
	e, err := executor.New(executor.Config{Flow: &f, Credentials: creds, Store: st, Workers: 2, EventLog: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	return e, st
}

// FuzzRunRequest: any body of POST /v1/runs (the run API, authorized) is
// either accepted (202 with a run id) or refused as the client's fault
// (400, 413): never a panic or a 5xx.
func FuzzRunRequest(f *testing.F) {
	f.Add([]byte(`{"contact": {"id": "15550001111", "name": "Kerry"}, "variables": {"orderId": "A-1"}, "idempotencyKey": "k1", "discardAfter": "15m"}`))
	f.Add([]byte(`{"contact": {"id": "c"}, "discardAfter": "2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"contact": {"id": ""}}`))
	f.Add([]byte(`{"contact": {"id": "c"}, "variables": {"orderId": {"deep": [1, 2.5, null, true]}}}`))
	f.Add([]byte(`{"contact": {"id": "c"}, "extra": 1}`))
	f.Add([]byte(`{"contact": {"id": "c"}}{"trailing": true}`))
	f.Add([]byte(`[]`))
	f.Add([]byte{0xff, 0xfe})
	e, _ := newExecutor(f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = e.Run(ctx, time.Second) }()
	h := e.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/v1/runs", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer fuzz-token")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusAccepted:
			if !json.Valid(body) {
				t.Fatalf("202 for a body that is not one JSON value: %q", body)
			}
			var res struct {
				RunID string `json:"runId"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || res.RunID == "" {
				t.Fatalf("202 without a run id: %q", rec.Body.String())
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body.String())
		}
	})
}

// FuzzRunsBatch: any body of POST /v1/runs:batch (a campaign's hand-over,
// authorized) is either answered 200 with one known status per run, or
// refused as the client's fault (400, 413): never a panic or a 5xx.
func FuzzRunsBatch(f *testing.F) {
	f.Add([]byte(`{"campaign": "0b9c-uid", "discardAfter": "1h", "runs": [{"contact": {"id": "15550001111", "name": "Kerry"}, "variables": {"orderId": "A-1"}}, {"contact": {"id": "15550001111"}}]}`))
	f.Add([]byte(`{"campaign": "c", "runs": [{"contact": {"id": ""}}, {"contact": {"id": "x"}, "variables": {"undeclared": "v"}}]}`))
	f.Add([]byte(`{"campaign": "a/b", "runs": [{"contact": {"id": "c"}}]}`))
	f.Add([]byte(`{"campaign": "c", "runs": []}`))
	f.Add([]byte(`{"campaign": "c", "discardAfter": "-1s", "runs": [{"contact": {"id": "c"}}]}`))
	f.Add([]byte(`{"campaign": "c", "runs": [{"contact": {"id": "c"}, "variables": {"orderId": 1}}]}`))
	f.Add([]byte(`{"campaign": "c", "runs": [{"contact": {"id": "c"}}]}{"trailing": true}`))
	f.Add([]byte{0xff, 0xfe})
	e, _ := newExecutor(f)
	h := e.Handler()
	known := map[string]bool{runapi.Started: true, runapi.Duplicate: true, runapi.Invalid: true, runapi.Unavailable: true}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/v1/runs:batch", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer fuzz-token")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			var in runapi.BatchRequest
			var out runapi.BatchResponse
			if err := json.Unmarshal(body, &in); err != nil {
				t.Fatalf("200 for a body that does not decode (%v): %q", err, body)
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Results) != len(in.Runs) {
				t.Fatalf("200 with %d results for %d runs (%v): %s", len(out.Results), len(in.Runs), err, rec.Body)
			}
			for _, r := range out.Results {
				if !known[r.Status] {
					t.Fatalf("unknown status %q in %s", r.Status, rec.Body)
				}
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body.String())
		}
	})
}

// FuzzStoredWork: whatever a contact's stored session and queued item hold
// (a store written by a bug, an old version or someone with access to
// Redis), the executor consumes the item without panicking and the contact
// is not blocked: its inbox empties and its lease is given up.
func FuzzStoredWork(f *testing.F) {
	run, _ := json.Marshal(map[string]any{"event": flow.RunStarted{RunID: "r1",
		Contact: message.Contact{ID: "c1", Channel: message.Manual}, Inputs: map[string]any{"orderId": "A-1"}}.Event()})
	reply, _ := json.Marshal(map[string]any{"event": flow.Inbound(message.Inbound{ID: "m1",
		Contact: message.Contact{ID: "c1", Channel: message.Manual}, Kind: message.KindText, Text: "again"})})
	waiting := []byte(`{"version":1,"runId":"r1","revision":"x","status":"Waiting","node":"wait","nodeType":"WaitForReply","vars":{"order":"A-1"},"wait":{"timerId":"t1"}}`)
	f.Add([]byte(nil), run)
	f.Add(waiting, reply)
	f.Add(waiting, run)
	f.Add([]byte(`{"status":"Waiting","node":"nowhere","vars":{"reply":[1,2]}}`), reply)
	f.Add([]byte(`{"status":"Active","node":"route","jumps":{"x":-1}}`), []byte(`{"event":{"kind":"timer","timer":{"id":""}}}`))
	f.Add([]byte(`not json`), []byte(`{"event":{"kind":"http","http":{"effectId":"e","status":200,"body":"e30="}}}`))
	f.Add([]byte(`null`), []byte(`{"endSession":true}`))
	f.Add([]byte(`{}`), []byte(`{"discardAfter":"2000-01-01T00:00:00Z","event":{"kind":"run"}}`))
	f.Fuzz(func(t *testing.T, state, payload []byte) {
		e, st := newExecutor(t)
		defer st.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		// The contact's session, as some earlier turn left it.
		if _, err := st.Enqueue(ctx, "c1", store.Item{ID: "setup"}); err != nil {
			t.Fatal(err)
		}
		l, err := st.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Commit(ctx, l, store.Commit{State: state, Consumed: 1, Release: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Enqueue(ctx, "c1", store.Item{ID: "fuzzed", Payload: payload}); err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = e.Run(runCtx, time.Second); close(done) }()
		defer func() { stop(); <-done }()
		for {
			s, err := st.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if s.InboxItems == 0 && s.Signals == 0 {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("the item was never consumed (%+v): it blocks the contact\nstate %q\npayload %q", s, state, payload)
			}
			time.Sleep(time.Millisecond)
		}
	})
}
