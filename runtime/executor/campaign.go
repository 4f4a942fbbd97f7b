package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
	"github.com/chatflow-dev/chatflow/runtime/runapi"
	"github.com/chatflow-dev/chatflow/runtime/store"
)

// Campaign runs. A campaign (the operator's Campaign controller) hands the
// executor its contacts in batches through POST /v1/runs:batch and reads
// its progress from GET /v1/campaigns/{campaign}. The executor keeps the
// campaign's ledger in the session store (store.Campaigns), so every
// replica, and a restarted one, sees the same:
//
//   - a contact the ledger knows for the campaign is answered "duplicate"
//     and never queued again, however often the operator hands it over (a
//     manager restart, an edited audience); the run item's ID,
//     "run:<campaign>/<contact>", also deduplicates a contact queued by a
//     request whose ledger write was lost;
//   - the worker that takes the run marks the contact started, and done or
//     failed when the run ends (End reached, or an error, a discard, a
//     newer run taking over), before it commits the turn: marks only move
//     forward, so a replayed turn counts nothing twice.

// campaignRunID is the run id of a campaign's contact: the same for every
// hand-over, so effect ids of a replay match.
func campaignRunID(campaign, contact string) string {
	sum := sha256.Sum256([]byte(campaign + "\x00" + contact))
	return "cmp-" + hex.EncodeToString(sum[:8])
}

// campaigns returns the store's campaign ledger, or nil.
func (e *Executor) campaigns() store.Campaigns {
	l, _ := e.store.(store.Campaigns)
	return l
}

// authorizeCampaign checks a campaign request's run token and returns the
// store's ledger; nil when it answered the request already (401, or 501
// for a store without ledgers).
func (e *Executor) authorizeCampaign(w http.ResponseWriter, r *http.Request) store.Campaigns {
	if !e.authorizeRun(w, r) {
		return nil
	}
	ledger := e.campaigns()
	if ledger == nil {
		http.Error(w, "this session store keeps no campaign ledger", http.StatusNotImplemented)
	}
	return ledger
}

// serveRunsBatch queues the runs of a batch for a campaign, each contact
// at most once per campaign.
func (e *Executor) serveRunsBatch(w http.ResponseWriter, r *http.Request) {
	ledger := e.authorizeCampaign(w, r)
	if ledger == nil {
		return
	}
	body, err := channel.ReadBody(r, runapi.MaxBatchBody)
	if err != nil {
		http.Error(w, "request body too large", channel.HTTPStatus(err))
		return
	}
	var req runapi.BatchRequest
	if err := decodeRequest(body, &req); err != nil {
		http.Error(w, "malformed batch request: "+err.Error(), http.StatusBadRequest)
		return
	}
	switch {
	case req.Campaign == "" || len(req.Campaign) > 128 || strings.ContainsAny(req.Campaign, "/{} \t\r\n"):
		http.Error(w, "campaign must be an id of at most 128 characters without '/', braces or spaces", http.StatusBadRequest)
		return
	case len(req.Runs) == 0 || len(req.Runs) > runapi.MaxBatchRuns:
		http.Error(w, "a batch has 1 to 1000 runs", http.StatusBadRequest)
		return
	}
	now := e.now()
	var discard time.Time
	if req.DiscardAfter != "" {
		d, err := time.ParseDuration(req.DiscardAfter)
		if err != nil || d <= 0 {
			http.Error(w, `discardAfter must be a positive duration such as "1h"`, http.StatusBadRequest)
			return
		}
		discard = now.Add(d)
	}

	results := make([]runapi.Result, len(req.Runs))
	var contacts []string
	var idx []int
	for i, run := range req.Runs {
		if msg := e.checkRun(run.Contact.ID, run.Variables); msg != "" {
			results[i] = runapi.Result{Status: runapi.Invalid, Error: msg}
			continue
		}
		contacts = append(contacts, run.Contact.ID)
		idx = append(idx, i)
	}
	ctx := r.Context()
	states, err := ledger.CampaignStates(ctx, req.Campaign, contacts...)
	if err != nil {
		http.Error(w, "the session store is unavailable, retry later", http.StatusServiceUnavailable)
		return
	}
	// Queue the contacts the ledger does not know, in parallel (on Redis
	// concurrent enqueues share pipelines), then mark every one of them
	// accepted; a contact queued by an earlier request whose mark was lost
	// is refused by the item's dedupe and marked now.
	var (
		wg     sync.WaitGroup
		sem    = make(chan struct{}, 64)
		mu     sync.Mutex
		marked []string
	)
	for k, c := range contacts {
		i := idx[k]
		if states[k] != store.CampaignNone {
			results[i].Status = runapi.Duplicate
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			run := &req.Runs[i]
			res := e.queueCampaignRun(ctx, req.Campaign, c, run, now, discard)
			results[i] = res
			if res.Status != runapi.Unavailable {
				mu.Lock()
				marked = append(marked, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(marked) > 0 {
		if _, err := ledger.CampaignMark(ctx, req.Campaign, store.CampaignAccepted, marked...); err != nil {
			// The runs are queued and their items deduplicated: a later
			// hand-over marks them. Say so, so the caller tries again.
			for _, i := range idx {
				if results[i].Status == runapi.Started || results[i].Status == runapi.Duplicate {
					results[i] = runapi.Result{Status: runapi.Unavailable, Error: "the ledger could not be written"}
				}
			}
		}
	}
	counts, err := ledger.CampaignCounts(ctx, req.Campaign)
	if err != nil {
		slog.Warn("reading a campaign's counts", "flow", e.flowName, "error", err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(runapi.BatchResponse{Results: results, Counts: wireCounts(counts)})
}

// checkRun says what makes a run impossible ("" when nothing does): a
// missing or oversized contact id, a required input missing.
func (e *Executor) checkRun(contact string, vars map[string]string) string {
	switch {
	case contact == "":
		return "contact.id is required"
	case len(contact) > 128 || strings.ContainsAny(contact, "{} \t\r\n"):
		return "contact.id must be at most 128 characters without braces or spaces"
	}
	var missing []string
	for _, in := range e.program.Inputs() {
		if v, ok := vars[in.Name]; in.Required && (!ok || v == "") {
			missing = append(missing, in.Name)
		}
	}
	if len(missing) > 0 {
		return "missing required variables: " + strings.Join(missing, ", ")
	}
	return ""
}

// queueCampaignRun queues one campaign run.
func (e *Executor) queueCampaignRun(ctx context.Context, campaign, contactID string, run *runapi.Run, now, discard time.Time) runapi.Result {
	inputs := map[string]any{}
	for k, v := range run.Variables {
		if e.inputs[k] { // undeclared variables are dropped, as with /v1/runs
			inputs[k] = v
		}
	}
	contact := message.Contact{ID: contactID, Name: run.Contact.Name, Channel: e.channel}
	payload, err := json.Marshal(queued{
		Event:        flow.RunStarted{RunID: campaignRunID(campaign, contactID), Contact: contact, Inputs: inputs, Campaign: campaign}.Event(),
		Accepted:     now,
		DiscardAfter: discard,
	})
	if err != nil {
		return runapi.Result{Status: runapi.Invalid, Error: err.Error()}
	}
	n, err := e.store.Enqueue(ctx, contactID, store.Item{ID: "run:" + campaign + "/" + contactID, Payload: payload})
	switch {
	case err != nil:
		return runapi.Result{Status: runapi.Unavailable, Error: "the session store is unavailable"}
	case n == 0:
		return runapi.Result{Status: runapi.Duplicate}
	}
	return runapi.Result{Status: runapi.Started}
}

// serveCampaign reports a campaign's counts.
func (e *Executor) serveCampaign(w http.ResponseWriter, r *http.Request) {
	ledger := e.authorizeCampaign(w, r)
	if ledger == nil {
		return
	}
	counts, err := ledger.CampaignCounts(r.Context(), r.PathValue("campaign"))
	if err != nil {
		http.Error(w, "the session store is unavailable, retry later", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(wireCounts(counts))
}

func wireCounts(c store.CampaignCounts) runapi.Counts {
	return runapi.Counts{Accepted: c.Accepted, Started: c.Started, Done: c.Done, Failed: c.Failed}
}

// runMark is what a turn needs to know of the run before it: which run,
// for which campaign, still going on.
type runMark struct {
	runID, campaign string
	waiting         bool
}

func markOf(s *flow.Session) runMark {
	if s == nil {
		return runMark{}
	}
	return runMark{runID: s.RunID, campaign: s.Campaign, waiting: s.Waiting()}
}

// campaignTurn updates the ledgers of the campaigns a turn moved: a run
// the turn started (started, or done or failed when it ended at once), a
// run it ended, a campaign run a newer run replaced. It runs before the
// turn commits; a failed write is logged, the counts being informative.
func (e *Executor) campaignTurn(ctx context.Context, contact string, ev *flow.Event, before runMark, s *flow.Session) {
	ledger := e.campaigns()
	if ledger == nil {
		return
	}
	mark := func(campaign string, st store.CampaignState) {
		if _, err := ledger.CampaignMark(ctx, campaign, st, contact); err != nil {
			slog.Warn("updating a campaign's ledger", "flow", e.flowName, "campaign", campaign, "error", err.Error())
		}
	}
	after := markOf(s)
	if ev.Kind == flow.EventRun {
		if before.campaign != "" && before.waiting && after.runID != before.runID {
			mark(before.campaign, store.CampaignFailed) // replaced by a newer run
		}
		if c := ev.Run.Campaign; c != "" {
			switch {
			case after.runID != ev.Run.RunID:
				mark(c, store.CampaignFailed) // refused (an input it cannot take)
			case after.waiting:
				mark(c, store.CampaignStarted)
			default:
				mark(c, outcome(s))
			}
		}
		return
	}
	if before.waiting && !after.waiting && s != nil && s.Campaign != "" {
		mark(s.Campaign, outcome(s))
	}
}

// outcome is how an ended run counts: done when it reached an End node.
func outcome(s *flow.Session) store.CampaignState {
	if s.NodeType == v1alpha1.NodeEnd {
		return store.CampaignDone
	}
	return store.CampaignFailed
}

// campaignDropped counts a campaign run that never started: its item was
// discarded (discardAfter passed).
func (e *Executor) campaignDropped(ctx context.Context, contact string, ev *flow.Event) {
	if ledger := e.campaigns(); ledger != nil && ev.Kind == flow.EventRun && ev.Run.Campaign != "" {
		if _, err := ledger.CampaignMark(ctx, ev.Run.Campaign, store.CampaignFailed, contact); err != nil {
			slog.Warn("updating a campaign's ledger", "flow", e.flowName, "error", err.Error())
		}
	}
}

// linkSubflows links the flow with the flows it forwards to, compiled for
// its channel: they run in this executor, on its account (see
// flow.Link). A flow without ForwardToFlow nodes is returned as it is.
func linkSubflows(root *flow.Program, subflows []*v1alpha1.ChatFlow, ch message.Channel) (*flow.Program, error) {
	if len(root.Calls()) == 0 {
		return root, nil
	}
	called := make([]*flow.Program, 0, len(subflows))
	for _, f := range subflows {
		p, errs := flow.Compile(&f.Spec, flow.Options{Channel: ch, FlowName: f.Name})
		if len(errs) > 0 {
			return nil, fmt.Errorf("ChatFlow %s, which the flow forwards to, does not compile: %w", f.Name, errs.ToAggregate())
		}
		called = append(called, p)
	}
	linked, errs := flow.Link(root, called)
	if len(errs) > 0 {
		return nil, fmt.Errorf("the flow's ForwardToFlow nodes cannot be linked (pass the flows they call with --subflows): %w", errs.ToAggregate())
	}
	return linked, nil
}

// campaignDeadLettered counts a campaign run whose item a panicking turn
// kept as a dead letter: the campaign waits for every run it handed over
// to end, and this one will not, unless someone retries it (it then runs,
// and still counts failed: a contact's first outcome stays). Items that do
// not decode, or are not sealed with the flow's key, name no campaign that
// can be trusted: they are not counted.
func (e *Executor) campaignDeadLettered(ctx context.Context, contact string, payload []byte) {
	var q queued
	if json.Unmarshal(payload, &q) == nil {
		e.campaignDropped(ctx, contact, &q.Event)
	}
}
