package executor

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/store"
)

// The session inspector: what a contact's session holds and did
// (GET /v1/contacts/{contact}), how many wait at each node (GET /v1/nodes)
// and who waits at one (GET /v1/nodes/{node}/contacts). Both take the runToken, because they
// show contacts' ids and variables; values the flow marks sensitive are
// redacted. `chatflow sessions` and `chatflow trace` read them.

// ContactView is the answer of GET /v1/contacts/{contact}.
type ContactView struct {
	Contact   string `json:"contact"`
	Namespace string `json:"namespace,omitempty"`
	Flow      string `json:"flow"`
	// Revision is the flow revision the session last ran; LiveRevision
	// the one this executor runs (they differ until the contact's next
	// turn after a rollout).
	Revision     string `json:"revision,omitempty"`
	LiveRevision string `json:"liveRevision"`
	RunID        string `json:"runId,omitempty"`
	// Status is the session's (WaitingReply, Delayed, HandedOff, Ended),
	// Node where it is, WaitingFor what it waits for in words.
	Status     flow.Status `json:"status,omitempty"`
	Node       *NodeRef    `json:"node,omitempty"`
	WaitingFor string      `json:"waitingFor,omitempty"`
	// Timers pending for the session (its wait's timeout or delay).
	Timers []TimerView `json:"timers,omitempty"`
	// Variables (vars.*) and Inputs (trigger.* of a Manual run); the
	// values of the names in Redacted are flow.Redacted.
	Variables   map[string]any `json:"variables,omitempty"`
	Inputs      map[string]any `json:"inputs,omitempty"`
	Redacted    []string       `json:"redacted,omitempty"`
	LastMessage *MessageView   `json:"lastMessage,omitempty"`
	Jumps       map[string]int `json:"jumps,omitempty"`
	// Events are the last events of the run (all kept runs with
	// ?events=all), oldest first.
	Events []EventView `json:"events"`
}

// NodeRef names a node.
type NodeRef struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// TimerView is a pending timer: when it fires and where the flow goes.
type TimerView struct {
	ID   string    `json:"id"`
	At   time.Time `json:"at"`
	Then string    `json:"then"`
}

// MessageView is the contact's last message (message.*).
type MessageView struct {
	Kind     string    `json:"kind,omitempty"`
	Text     string    `json:"text,omitempty"`
	ButtonID string    `json:"buttonId,omitempty"`
	At       time.Time `json:"at,omitzero"`
}

// WaitingPage is the answer of GET /v1/nodes/{node}/contacts.
type WaitingPage struct {
	Node     string           `json:"node"`
	Contacts []WaitingContact `json:"contacts"`
	// Next is the cursor of the next page (?cursor=), empty after the last.
	Next string `json:"next,omitempty"`
}

// WaitingContact is a contact waiting at a node.
type WaitingContact struct {
	Contact  string      `json:"contact"`
	Since    time.Time   `json:"since"`
	Status   flow.Status `json:"status"`
	RunID    string      `json:"runId,omitempty"`
	Deadline time.Time   `json:"deadline,omitzero"`
}

// NodesView is the answer of GET /v1/nodes: the flow's nodes, each with
// the contacts the store's index has waiting there (a count that may
// include entries not checked yet; the listing checks them).
type NodesView struct {
	Namespace string     `json:"namespace,omitempty"`
	Flow      string     `json:"flow"`
	Revision  string     `json:"revision"`
	Nodes     []NodeView `json:"nodes"`
}

// NodeView is one node of NodesView.
type NodeView struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Waiting int64  `json:"waiting"`
}

// Page sizes of GET /v1/nodes/{node}/contacts.
const (
	defaultWaitingPage = 50
	maxWaitingPage     = 500
)

func (e *Executor) serveContact(w http.ResponseWriter, r *http.Request) {
	if !e.authorizeRun(w, r) {
		return
	}
	if e.obs.store == nil {
		http.Error(w, "this session store keeps nothing to inspect", http.StatusNotImplemented)
		return
	}
	contact := r.PathValue("contact")
	ctx := r.Context()
	states, err := e.obs.store.Peek(ctx, contact)
	if err != nil {
		http.Error(w, "the session store is unavailable, retry later", http.StatusServiceUnavailable)
		return
	}
	raw, err := e.obs.store.Events(ctx, contact)
	if err != nil {
		http.Error(w, "the session store is unavailable, retry later", http.StatusServiceUnavailable)
		return
	}
	var s *flow.Session
	if states[0] != nil {
		s = new(flow.Session)
		if err := json.Unmarshal(states[0], s); err != nil {
			http.Error(w, "the contact's stored session does not decode", http.StatusInternalServerError)
			return
		}
	}
	if s == nil && len(raw) == 0 {
		http.Error(w, "no session for this contact in flow "+e.flowName, http.StatusNotFound)
		return
	}
	v := e.contactView(contact, s)
	all := r.URL.Query().Get("events") == "all"
	v.Events = []EventView{}
	for _, b := range raw {
		var ev EventView
		if json.Unmarshal(b, &ev) != nil {
			continue
		}
		if all || s == nil || ev.RunID == s.RunID {
			v.Events = append(v.Events, ev)
		}
	}
	writeJSON(w, v)
}

// contactView shows a session, sensitive values redacted.
func (e *Executor) contactView(contact string, s *flow.Session) *ContactView {
	p := e.program
	v := &ContactView{Contact: contact, Namespace: e.namespace, Flow: e.flowName, LiveRevision: p.Revision()}
	if s == nil {
		return v
	}
	v.Revision, v.RunID, v.Status, v.Jumps = s.Revision, s.RunID, s.Status, s.Jumps
	if s.Node != "" {
		v.Node = &NodeRef{ID: s.Node, Type: string(s.NodeType)}
	}
	redact := func(vals flow.Values) map[string]any {
		if len(vals) == 0 {
			return nil
		}
		out := make(map[string]any, len(vals))
		for k, val := range vals {
			if p.Sensitive(k) {
				val = flow.Redacted
				if !slices.Contains(v.Redacted, k) {
					v.Redacted = append(v.Redacted, k)
				}
			}
			out[k] = val
		}
		return out
	}
	v.Variables, v.Inputs = redact(s.Vars), redact(s.Inputs)
	slices.Sort(v.Redacted)
	if m := s.Message; m.Kind != "" || m.Text != "" || m.ButtonID != "" {
		mv := &MessageView{Kind: string(m.Kind), Text: m.Text, ButtonID: m.ButtonID, At: m.Timestamp}
		if p.SensitiveReplies() && mv.Text != "" {
			mv.Text = flow.Redacted
		}
		v.LastMessage = mv
	}
	if !s.Waiting() {
		return v
	}
	switch s.Status {
	case flow.StatusWaitingReply:
		v.WaitingFor = "a reply from the contact, or the timeout"
	case flow.StatusDelayed:
		v.WaitingFor = "the end of the delay"
	case flow.StatusHandedOff:
		v.WaitingFor = "an agent to resume automation (POST /v1/contacts/{id}/resume), or the timeout"
	case flow.StatusWaitingSend, flow.StatusWaitingHTTP:
		v.WaitingFor = "the outcome of a send or an HTTP call (a turn in progress, or one that will be replayed)"
	}
	if s.Wait.TimerID != "" {
		then := "next"
		switch s.Status {
		case flow.StatusWaitingReply, flow.StatusHandedOff:
			then = "timeout"
		}
		v.Timers = append(v.Timers, TimerView{ID: s.Wait.TimerID, At: s.Wait.Deadline, Then: then})
	}
	return v
}

func (e *Executor) serveNodes(w http.ResponseWriter, r *http.Request) {
	if !e.authorizeRun(w, r) {
		return
	}
	if e.obs.store == nil {
		http.Error(w, "this session store keeps no node index", http.StatusNotImplemented)
		return
	}
	counts, err := e.obs.store.WaitingCounts(r.Context(), e.obs.order)
	if err != nil {
		http.Error(w, "the session store is unavailable, retry later", http.StatusServiceUnavailable)
		return
	}
	v := NodesView{Namespace: e.namespace, Flow: e.flowName, Revision: e.program.Revision(), Nodes: []NodeView{}}
	for i, n := range e.program.Nodes() {
		v.Nodes = append(v.Nodes, NodeView{ID: n.ID, Type: string(n.Type), Waiting: counts[i]})
	}
	writeJSON(w, v)
}

func (e *Executor) serveWaiting(w http.ResponseWriter, r *http.Request) {
	if !e.authorizeRun(w, r) {
		return
	}
	node := r.PathValue("node")
	if _, ok := e.program.NodeType(node); !ok {
		http.Error(w, "flow "+e.flowName+" (revision "+e.program.Revision()+") has no node "+strconv.Quote(node), http.StatusNotFound)
		return
	}
	if e.obs.store == nil {
		http.Error(w, "this session store keeps no node index", http.StatusNotImplemented)
		return
	}
	q := r.URL.Query()
	limit := defaultWaitingPage
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxWaitingPage {
			http.Error(w, "limit must be a number from 1 to "+strconv.Itoa(maxWaitingPage), http.StatusBadRequest)
			return
		}
		limit = n
	}
	page := WaitingPage{Node: node, Contacts: []WaitingContact{}}
	cursor := q.Get("cursor")
	// Stale entries are dropped from a page: read on (a few pages at
	// most) until it is about full.
	for range 10 {
		live, next, err := e.obs.waiting(r.Context(), node, cursor, limit-len(page.Contacts))
		if errors.Is(err, store.ErrBadCursor) {
			http.Error(w, "cursor must be the next of a previous page", http.StatusBadRequest)
			return
		}
		if err != nil {
			http.Error(w, "the session store is unavailable, retry later", http.StatusServiceUnavailable)
			return
		}
		for _, l := range live {
			page.Contacts = append(page.Contacts, WaitingContact{Contact: l.Contact, Since: l.Since.UTC(),
				Status: l.session.Status, RunID: l.session.RunID, Deadline: l.session.Wait.Deadline})
		}
		cursor = next
		if next == "" || len(page.Contacts) >= limit {
			break
		}
	}
	page.Next = cursor
	writeJSON(w, page)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}
