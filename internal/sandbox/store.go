package sandbox

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Record is one message the sandbox accepted.
type Record struct {
	// Seq orders records; it keeps growing across DELETE, so an "after"
	// cursor stays valid.
	Seq int64 `json:"seq"`
	// Channel is the channel's name ("whatsapp"), or "model" for the
	// model stand-in's chat completions.
	Channel string `json:"channel"`
	// Kind is empty for a message; KindRead for a WhatsApp mark-as-read
	// (with the typing indicator when its body says so), whose MessageID
	// is the message marked and whose To is empty.
	Kind string `json:"kind,omitempty"`
	// Account is the sending account (the phone_number_id), or the model
	// name of a chat completion.
	Account string `json:"account"`
	// To is the recipient as the request named it.
	To string `json:"to"`
	// MessageID is the id the sandbox answered (a wamid, a completion id).
	MessageID string `json:"messageId"`
	// Body is the raw request JSON (for a chat completion, the request).
	Body json.RawMessage `json:"body"`
	// ReceivedAt is when the sandbox accepted it.
	ReceivedAt time.Time `json:"receivedAt"`
}

// KindRead is the Kind of a WhatsApp mark-as-read record.
const KindRead = "read"

// Query selects records; zero fields match everything.
type Query struct {
	Channel string
	To      string
	// After returns only records with a greater Seq.
	After int64
	// Limit caps the result (default and maximum 1000).
	Limit int
}

const maxLimit = 1000

// store is the bounded, ordered record of accepted messages.
type store struct {
	mu      sync.Mutex
	max     int
	recs    []Record // ascending Seq
	seq     int64
	changed chan struct{} // closed and replaced on every add
	// byTo holds, per recipient, a channel closed on the next add for that
	// recipient, so a long poll for one contact is not woken by every
	// other contact's messages (a load test has one poll per contact).
	byTo map[string]chan struct{}
}

func newStore(max int) *store {
	return &store{max: max, changed: make(chan struct{}), byTo: map[string]chan struct{}{}}
}

func (st *store) add(r Record) Record {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.seq++
	r.Seq = st.seq
	if len(st.recs) >= st.max {
		drop := len(st.recs) - st.max + 1
		clear(st.recs[:drop]) // release the bodies
		st.recs = st.recs[drop:]
	}
	st.recs = append(st.recs, r)
	close(st.changed)
	st.changed = make(chan struct{})
	if ch, ok := st.byTo[normalizeTo(r.To)]; ok {
		close(ch)
		delete(st.byTo, normalizeTo(r.To))
	}
	return r
}

func (st *store) reset() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.recs = nil
}

// queryLocked returns the matching records and the channel that will be
// closed on the next add.
func (st *store) query(q Query) ([]Record, <-chan struct{}) {
	st.mu.Lock()
	defer st.mu.Unlock()
	limit := q.Limit
	if limit <= 0 || limit > maxLimit {
		limit = maxLimit
	}
	out := []Record{}
	i := sort.Search(len(st.recs), func(i int) bool { return st.recs[i].Seq > q.After })
	for ; i < len(st.recs) && len(out) < limit; i++ {
		r := st.recs[i]
		if q.Channel != "" && !strings.EqualFold(q.Channel, r.Channel) {
			continue
		}
		if q.To != "" && normalizeTo(q.To) != normalizeTo(r.To) {
			continue
		}
		out = append(out, r)
	}
	if q.To == "" {
		return out, st.changed
	}
	to := normalizeTo(q.To)
	ch, ok := st.byTo[to]
	if !ok {
		ch = make(chan struct{})
		st.byTo[to] = ch
	}
	return out, ch
}

// wait returns the matching records, waiting up to d for one to arrive.
func (st *store) wait(ctx context.Context, q Query, d time.Duration) []Record {
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	for {
		recs, changed := st.query(q)
		if len(recs) > 0 || timeout == nil {
			return recs
		}
		select {
		case <-changed:
		case <-timeout:
			return recs
		case <-ctx.Done():
			return recs
		}
	}
}

// normalizeTo compares recipients with or without a leading +.
func normalizeTo(s string) string { return strings.TrimPrefix(strings.TrimSpace(s), "+") }

// Messages returns the accepted messages matching q, for Go tests that hold
// the Server.
func (s *Server) Messages(q Query) []Record {
	recs, _ := s.store.query(q)
	return recs
}

// Wait is Messages, waiting up to d (or until ctx ends) for a matching
// message to arrive: the long poll of GET /sandbox/messages?wait=, for Go
// tests that hold the Server, such as a load generator, which then spends
// no HTTP exchange on learning that a reply arrived.
func (s *Server) Wait(ctx context.Context, q Query, d time.Duration) []Record {
	return s.store.wait(ctx, q, d)
}

// ClearMessages forgets the accepted messages (Seq keeps growing).
func (s *Server) ClearMessages() { s.store.reset() }

// serveMessages is GET and DELETE /sandbox/messages.
func (s *Server) serveMessages(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodDelete:
		s.store.reset()
		w.WriteHeader(http.StatusNoContent)
	case http.MethodGet:
		p := r.URL.Query()
		q := Query{Channel: p.Get("channel"), To: p.Get("to")}
		var err error
		if v := p.Get("after"); v != "" {
			if q.After, err = strconv.ParseInt(v, 10, 64); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "after must be an integer seq"})
				return
			}
		}
		if v := p.Get("limit"); v != "" {
			if q.Limit, err = strconv.Atoi(v); err != nil || q.Limit < 0 {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit must be a positive integer"})
				return
			}
		}
		var wait time.Duration
		if v := p.Get("wait"); v != "" {
			if wait, err = time.ParseDuration(v); err != nil || wait < 0 {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "wait must be a duration such as 30s"})
				return
			}
			wait = min(wait, s.opts.MaxWait)
		}
		writeJSON(w, http.StatusOK, map[string][]Record{"messages": s.store.wait(r.Context(), q, wait)})
	default:
		w.Header().Set("Allow", "GET, DELETE")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
