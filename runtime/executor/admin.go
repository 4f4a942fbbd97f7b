package executor

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/store"
)

// The operator's API of a flow's contact data, authorized like runs by the
// bearer runToken: the dead letters (GET /v1/deadletters, POST
// /v1/deadletters/{id}/retry) and erasure (DELETE /v1/contacts/{id}).
// `chatflow deadletters` and `chatflow contacts erase` call it.

// DeadLetter is one dead letter as GET /v1/deadletters lists it.
type DeadLetter struct {
	ID      string    `json:"id"`
	Contact string    `json:"contact"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
	// Item is the inbox item's id (in:<message id>, timer:<id>, run:<key>).
	Item string `json:"item"`
	// Forged items were not queued by this flow's executor and cannot be
	// retried.
	Forged bool `json:"forged,omitempty"`
	// Payload is the queued event, as JSON when it is, else as a string.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// DeadLetters is the body of GET /v1/deadletters.
type DeadLetters struct {
	DeadLetters []DeadLetter `json:"deadLetters"`
}

// serveDeadLetters lists dead letters, oldest first (?limit=, default 100,
// at most 1000).
func (e *Executor) serveDeadLetters(w http.ResponseWriter, r *http.Request) {
	if !e.authorizeRun(w, r) {
		return
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			http.Error(w, "limit must be a number from 1 to 1000", http.StatusBadRequest)
			return
		}
		limit = n
	}
	dls, err := e.store.DeadLetters(r.Context(), limit)
	if err != nil {
		http.Error(w, "could not read the dead letters, retry later", http.StatusServiceUnavailable)
		return
	}
	out := DeadLetters{DeadLetters: make([]DeadLetter, 0, len(dls))}
	for _, d := range dls {
		payload := json.RawMessage(d.Item.Payload)
		if !json.Valid(payload) {
			payload, _ = json.Marshal(string(d.Item.Payload))
		}
		out.DeadLetters = append(out.DeadLetters, DeadLetter{ID: d.ID, Contact: d.Contact, Reason: d.Reason, At: d.At.UTC(),
			Item: d.Item.ID, Forged: d.Item.Forged, Payload: payload})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// serveRetryDeadLetter queues a dead letter's item again.
func (e *Executor) serveRetryDeadLetter(w http.ResponseWriter, r *http.Request) {
	if !e.authorizeRun(w, r) {
		return
	}
	id := r.PathValue("id")
	switch err := e.store.RetryDeadLetter(r.Context(), id); {
	case errors.Is(err, store.ErrNotFound):
		http.Error(w, "no dead letter "+strconv.Quote(id)+": it was retried, erased or expired already", http.StatusNotFound)
	case errors.Is(err, store.ErrForged):
		http.Error(w, "dead letter "+strconv.Quote(id)+" holds a forged item (not queued by this flow's executor): it cannot be retried", http.StatusConflict)
	case err != nil:
		http.Error(w, "could not retry the dead letter, retry later", http.StatusServiceUnavailable)
	default:
		slog.Info("dead letter queued again", "flow", e.flowID, "id", id)
		w.WriteHeader(http.StatusAccepted)
	}
}

// serveErase erases everything kept of one contact: session (with the
// recent conversation a hand-off shows), inbox, timers (hand-off
// notifications waiting for a retry included), dedupe records and dead
// letters, and what this replica caches of it. The answer counts what was
// erased.
func (e *Executor) serveErase(w http.ResponseWriter, r *http.Request) {
	if !e.authorizeRun(w, r) {
		return
	}
	contact := r.PathValue("contact")
	erased, err := e.store.Erase(r.Context(), contact)
	if err == nil {
		err = e.obs.forget(r.Context(), contact) // the inspector's events and node index (observe.go)
	}
	if err != nil {
		http.Error(w, "could not erase the contact, retry later", http.StatusServiceUnavailable)
		return
	}
	e.sessions.drop(contact)
	e.items.dropPrefix(contact + "\x00")
	e.metrics.erasures.Inc()
	e.log.write("", contact, flow.Log{Event: flow.LogRunEnded, Message: "the contact's data was erased"}, 0)
	slog.Info("contact erased", "flow", e.flowID, "contact", e.hashContact(contact))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(erased)
}
