package executor

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
	"github.com/chatflow-dev/chatflow/runtime/store"
)

// queued is the payload of an inbox item: an event for the flow plus what
// the executor needs to know about it.
type queued struct {
	Event flow.Event `json:"event"`
	// Accepted is when the webhook or run request was accepted; the turn
	// latency metric starts there.
	Accepted time.Time `json:"accepted,omitzero"`
	// DiscardAfter drops a Manual run that could not start in time.
	DiscardAfter time.Time `json:"discardAfter,omitzero"`
	// EndSession ends the contact's session instead of stepping the flow
	// (the contact unsubscribed: Viber forbids messaging them).
	EndSession bool `json:"endSession,omitempty"`
	// Welcomed starts a run whose first message already went out as the
	// webhook's greeting (Viber conversation_started): that send is not
	// made again, so the contact's first message answers what follows it.
	Welcomed bool `json:"welcomed,omitempty"`
	// Notify is a hand-off notification to try again (its retry timer
	// fired) instead of stepping the flow.
	Notify *notification `json:"notify,omitempty"`
	// Trace is the W3C traceparent of the request that queued the item,
	// so that its turn, run later by any replica, joins that trace.
	Trace string `json:"trace,omitempty"`
}

// Handler returns the executor's HTTP routes.
func (e *Executor) Handler() http.Handler {
	mux := http.NewServeMux()
	if path := channel.WebhookPath(e.channel, routeAccount); path != "" && e.receiver != nil {
		mux.HandleFunc("POST "+path, e.traced(path, e.serveWebhook))
		if e.handshaker != nil {
			mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
				e.handshaker.Handshake(w, r)
			})
		}
	}
	mux.HandleFunc("POST /v1/runs", e.traced("/v1/runs", e.serveRun))
	mux.HandleFunc("POST /v1/runs:batch", e.traced("/v1/runs:batch", e.serveRunsBatch)) // campaign.go
	mux.HandleFunc("GET /v1/campaigns/{campaign}", e.serveCampaign)
	mux.HandleFunc("POST /v1/contacts/{contact}/resume", e.traced("/v1/contacts/{contact}/resume", e.serveResume))
	mux.HandleFunc("GET /v1/contacts/{contact}", e.serveContact)    // inspect.go
	mux.HandleFunc("GET /v1/nodes", e.serveNodes)                   // inspect.go
	mux.HandleFunc("GET /v1/nodes/{node}/contacts", e.serveWaiting) // inspect.go
	mux.HandleFunc("DELETE /v1/contacts/{contact}", e.serveErase)
	mux.HandleFunc("GET /v1/deadletters", e.serveDeadLetters)
	mux.HandleFunc("POST /v1/deadletters/{id}/retry", e.serveRetryDeadLetter)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", e.serveReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(e.metrics.registry, promhttp.HandlerOpts{}))
	return mux
}

// traced wraps a handler in a server span when tracing is on; the span's
// context reaches the handler, which queues it with its items.
func (e *Executor) traced(route string, h http.HandlerFunc) http.HandlerFunc {
	if e.tracing == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, span := e.tracing.server(r, route)
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h(sw, r.WithContext(ctx))
		endServer(span, sw.code)
	}
}

// statusWriter remembers the status code a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// serveReady reports ready when the flow compiled (it did, or New would have
// failed), the store answers and the executor is not shutting down.
func (e *Executor) serveReady(w http.ResponseWriter, r *http.Request) {
	if e.isDraining() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := e.store.Ping(ctx); err != nil {
		http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// serveWebhook authenticates a channel webhook over its raw bytes, parses
// it, and queues its events. It answers 200 only once every event is
// durably queued, so the channel retries anything that was not.
func (e *Executor) serveWebhook(w http.ResponseWriter, r *http.Request) {
	ch := strings.ToLower(string(e.channel))
	if ar, ok := e.receiver.(channel.AccountRouter); ok && !ar.ServesAccount(r.PathValue("account")) {
		http.NotFound(w, r)
		return
	}
	body, err := channel.ReadBody(r, MaxWebhookBody)
	if err != nil {
		e.metrics.webhooks.WithLabelValues(ch, "too_large").Inc()
		http.Error(w, "request body too large", channel.HTTPStatus(err))
		return
	}
	if err := e.receiver.Authenticate(r.Header, body); err != nil {
		e.metrics.webhooks.WithLabelValues(ch, "unauthenticated").Inc()
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	batch, err := e.receiver.Parse(body)
	if err != nil {
		e.metrics.webhooks.WithLabelValues(ch, "malformed").Inc()
		http.Error(w, "malformed payload", http.StatusBadRequest)
		return
	}
	if e.tracing != nil {
		trace.SpanFromContext(r.Context()).SetAttributes(attrMessages.Int(len(batch.Messages) + len(batch.Statuses) + len(batch.Opened) + len(batch.Unsubscribed)))
	}
	greeting := e.greeting(batch)
	if err := e.enqueueBatch(r.Context(), batch, greeting); err != nil {
		result, msg := e.refused(err)
		e.metrics.webhooks.WithLabelValues(ch, result).Inc()
		w.Header().Set("Retry-After", "60")
		http.Error(w, msg, http.StatusServiceUnavailable)
		return
	}
	result := "accepted"
	if len(batch.Messages) == 0 && len(batch.Statuses) == 0 && len(batch.Opened) == 0 && len(batch.Unsubscribed) == 0 {
		result = "ignored"
	}
	e.metrics.webhooks.WithLabelValues(ch, result).Inc()
	if greeting != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(greeting.body)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// enqueueBatch queues a batch's messages and the statuses the flow can act
// on, grouped per contact in payload order, and the run a greeting opened.
func (e *Executor) enqueueBatch(ctx context.Context, b channel.Batch, g *greeting) error {
	now := e.now()
	var order []string
	items := map[string][]store.Item{}
	add := func(contact string, it store.Item) {
		if _, ok := items[contact]; !ok {
			order = append(order, contact)
		}
		items[contact] = append(items[contact], it)
	}
	tp := e.tracing.carrier(ctx)
	for _, m := range b.Messages {
		q := &queued{Event: flow.Inbound(m), Accepted: now, Trace: tp}
		payload, err := json.Marshal(q)
		if err != nil {
			return err
		}
		id := "in:" + m.ID
		// The worker that takes this item is most often one of ours.
		e.items.put(itemCacheKey(m.Contact.ID, id), payload, q)
		add(m.Contact.ID, store.Item{ID: id, Payload: payload})
	}
	for _, st := range b.Statuses {
		// Only failures change a flow's course (onError); the others are
		// counted and dropped instead of costing a turn each.
		if st.State != "failed" {
			e.metrics.sends.WithLabelValues("", "status_"+st.State).Inc()
			continue
		}
		payload, err := json.Marshal(queued{Event: flow.StatusUpdate(st), Accepted: now, Trace: tp})
		if err != nil {
			return err
		}
		add(st.Contact.ID, store.Item{ID: "st:" + st.MessageID + ":" + st.State, Payload: payload})
	}
	if g != nil {
		payload, err := json.Marshal(queued{Event: flow.RunStarted{Contact: g.opened.Contact}.Event(), Welcomed: true, Accepted: now, Trace: tp})
		if err != nil {
			return err
		}
		id := ""
		if g.opened.ID != "" {
			id = "open:" + g.opened.ID
		}
		add(g.opened.Contact.ID, store.Item{ID: id, Payload: payload})
	}
	for _, u := range b.Unsubscribed {
		payload, err := json.Marshal(queued{EndSession: true, Accepted: now, Trace: tp})
		if err != nil {
			return err
		}
		id := ""
		if u.ID != "" {
			id = "end:" + u.ID
		}
		add(u.Contact.ID, store.Item{ID: id, Payload: payload})
	}
	enqueue := func(contact string) error {
		start := time.Now()
		_, err := e.store.Enqueue(ctx, contact, items[contact]...)
		e.metrics.storeLatency.WithLabelValues("enqueue").Observe(time.Since(start).Seconds())
		if err != nil {
			return contactError{contact, err}
		}
		return nil
	}
	if len(order) == 1 {
		return enqueue(order[0])
	}
	// A batch (Meta's, or the gateway's joined forward) holds many
	// contacts: their enqueues are independent, so they go at once, and a
	// store with round trips (Redis) sends them in one pipeline. The first
	// failure in payload order is the answer; the channel redelivers the
	// batch and the store drops what it already took.
	errs := make([]error, len(order))
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxEnqueueConcurrency)
	for i, contact := range order {
		sem <- struct{}{}
		wg.Go(func() {
			errs[i] = enqueue(contact)
			<-sem
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// maxEnqueueConcurrency bounds the enqueues of one batch in flight at once.
const maxEnqueueConcurrency = 32

// runRequest is the body of POST /v1/runs.
type runRequest struct {
	Contact struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"contact"`
	Variables      map[string]any `json:"variables"`
	IdempotencyKey string         `json:"idempotencyKey"`
	// DiscardAfter is an RFC 3339 time or a duration from now ("15m"): a
	// run that cannot start by then is dropped instead of reaching the
	// contact late.
	DiscardAfter string `json:"discardAfter"`
}

// RunTokenHeader carries the runToken where Authorization cannot: through
// the Kubernetes API server's service proxy, which takes Authorization for
// itself (`chatflow deadletters`, `chatflow contacts erase`, `chatflow
// sessions`, `chatflow trace`).
const RunTokenHeader = "X-Chatflow-Run-Token"

// authorizeRun checks the runToken, a bearer token or in RunTokenHeader, in
// constant time.
func (e *Executor) authorizeRun(w http.ResponseWriter, r *http.Request) bool {
	want := e.creds.Get(channel.KeyRunToken)
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if t := r.Header.Get(RunTokenHeader); t != "" {
		got, ok = t, true
	}
	if want == "" {
		http.Error(w, "runs are disabled: the credentials Secret has no runToken", http.StatusForbidden)
		return false
	}
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		http.Error(w, "invalid run token", http.StatusUnauthorized)
		return false
	}
	return true
}

// serveRun starts a run of a Manual flow for one contact.
func (e *Executor) serveRun(w http.ResponseWriter, r *http.Request) {
	if !e.authorizeRun(w, r) {
		return
	}
	body, err := channel.ReadBody(r, 64<<10)
	if err != nil {
		http.Error(w, "request body too large", channel.HTTPStatus(err))
		return
	}
	var req runRequest
	if err := decodeRequest(body, &req); err != nil {
		http.Error(w, "malformed run request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if req.Contact.ID == "" {
		http.Error(w, "contact.id is required", http.StatusBadRequest)
		return
	}
	now := e.now()
	var discard time.Time
	if req.DiscardAfter != "" {
		if d, err := time.ParseDuration(req.DiscardAfter); err == nil {
			discard = now.Add(d)
		} else if t, err := time.Parse(time.RFC3339, req.DiscardAfter); err == nil {
			discard = t
		} else {
			http.Error(w, `discardAfter must be an RFC 3339 time or a duration such as "15m"`, http.StatusBadRequest)
			return
		}
	}
	var missing []string
	for _, in := range e.program.Inputs() {
		if _, ok := req.Variables[in.Name]; in.Required && !ok {
			missing = append(missing, in.Name)
		}
	}
	if len(missing) > 0 {
		http.Error(w, "missing required variables: "+strings.Join(missing, ", "), http.StatusBadRequest)
		return
	}
	inputs := map[string]any{}
	for k, v := range req.Variables {
		if e.inputs[k] { // undeclared variables are dropped, as documented
			inputs[k] = v
		}
	}
	runID := req.IdempotencyKey
	if runID == "" {
		runID = newID()
	}
	contact := message.Contact{ID: req.Contact.ID, Name: req.Contact.Name, Channel: e.channel}
	payload, err := json.Marshal(queued{
		Event:        flow.RunStarted{RunID: runID, Contact: contact, Inputs: inputs}.Event(),
		Accepted:     now,
		DiscardAfter: discard,
		Trace:        e.tracing.carrier(r.Context()),
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	itemID := ""
	if req.IdempotencyKey != "" {
		itemID = "run:" + req.IdempotencyKey
	}
	accepted, err := e.store.Enqueue(r.Context(), contact.ID, store.Item{ID: itemID, Payload: payload})
	if err != nil {
		_, msg := e.refused(contactError{contact.ID, err})
		w.Header().Set("Retry-After", "60")
		http.Error(w, msg, http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]any{"runId": runID, "duplicate": accepted == 0})
}

// serveResume ends a hand-off: an agent gives the contact back to the flow.
func (e *Executor) serveResume(w http.ResponseWriter, r *http.Request) {
	if !e.authorizeRun(w, r) {
		return
	}
	contact := r.PathValue("contact")
	payload, err := json.Marshal(queued{Event: flow.Resume{}.Event(), Accepted: e.now(), Trace: e.tracing.carrier(r.Context())})
	if err == nil {
		_, err = e.store.Enqueue(r.Context(), contact, store.Item{Payload: payload})
	}
	if err != nil {
		_, msg := e.refused(contactError{contact, err})
		w.Header().Set("Retry-After", "60")
		http.Error(w, msg, http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

var errNoSender = errors.New("this flow has no ChannelBinding to send messages through")

// contactError is an Enqueue failure for one contact.
type contactError struct {
	contact string
	err     error
}

func (c contactError) Error() string { return c.err.Error() }
func (c contactError) Unwrap() error { return c.err }

// refused says why the store refused items — a full inbox, a full store,
// or an error — as a webhook result label and a message for the 503, and
// counts and logs the budgets that bit. The sender retries later (Meta and
// Viber retry a webhook that did not get 200; runs are retried by their
// caller), and duplicates of what was accepted are dropped then.
func (e *Executor) refused(err error) (result, msg string) {
	contact := ""
	var ce contactError
	if errors.As(err, &ce) {
		contact = ce.contact
	}
	switch {
	case errors.Is(err, store.ErrInboxFull):
		e.overBudget(contact, budgetInbox,
			"the contact's inbox is full: new messages are refused with 503 until the flow catches up ("+err.Error()+")")
		return "inbox_full", "the contact's inbox is full: retry later"
	case errors.Is(err, store.ErrStoreFull):
		e.overBudget(contact, budgetStoreMemory, "the session store is out of memory: webhooks are refused with 503; "+
			"raise Redis's maxmemory or lower retention (see docs/operations.md)")
		return "store_full", "the session store is full: retry later"
	}
	return "unavailable", "could not queue the events, retry later"
}

// decodeRequest decodes a run API body: one JSON object with no field v
// does not know, and nothing after it.
func decodeRequest(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}
