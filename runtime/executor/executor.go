// Package executor is the process that runs one published flow for its bound
// account: it receives the channel's webhooks, durably queues their events
// per contact in the session store, steps the flow interpreter, and performs
// the effects (sends, HTTP calls, model calls, timers, hand-off notices).
// It owns the I/O
// around runtime/flow, which stays pure; it must not be imported by
// runtime/flow, runtime/store or the channel packages.
//
// The order of work for one contact, whatever the store:
//
//  1. a webhook's events are appended to the contact's inbox (deduplicated
//     by message id) before the webhook is answered 200;
//  2. a worker leases the contact and steps the flow with the oldest event;
//  3. it performs the effects and feeds their results (send receipts, HTTP
//     responses) back into the flow;
//  4. it commits the new session and the consumed event in one atomic write;
//  5. a worker that crashes before that leaves its lease to expire; the next
//     one replays the event from the last committed session (sends are
//     at-least-once, the session moves exactly once per event).
package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
	"github.com/chatflow-dev/chatflow/runtime/model"
	"github.com/chatflow-dev/chatflow/runtime/store"
)

// MaxWebhookBody caps a webhook request body; larger requests get 413.
// Meta batches up to 1000 updates in one request, about 3 MB.
const MaxWebhookBody = channel.DefaultMaxBody

// Byte budgets of the decoded caches (decodedcache.go).
const (
	sessionCacheBytes = 32 << 20
	itemCacheBytes    = 4 << 20
)

// Config is what the executor command line provides.
type Config struct {
	Flow    *v1alpha1.ChatFlow
	Binding *v1alpha1.ChannelBinding // nil for a Manual flow without a binding
	// Credentials are the keys of the binding's Secret.
	Credentials *Credentials
	// SecretsDir holds the Secrets referenced by HTTPRequest headers, one
	// directory per Secret.
	SecretsDir string
	// Store is the session store.
	Store store.Store
	// Workers is the number of contacts processed at once.
	Workers int
	// AllowedNetworks are private networks HTTPRequest nodes may reach.
	AllowedNetworks []netip.Prefix
	// EventLog receives the execution events (os.Stdout when nil) when the
	// flow enables logging.
	EventLog io.Writer
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// SendRate is the account's outbound limit in messages per second (the
	// --send-rate flag). 0 takes the binding's spec.sendRate, else the
	// channel's default (80/s for WhatsApp).
	SendRate float64
	// LeaseTTL is the session store's lease TTL (store.Options.LeaseTTL):
	// a lease not renewed for that long counts as lost. Default 30s.
	LeaseTTL time.Duration
	// ContactHashKey keys the hash that stands for contact ids in logs (the
	// installation's key, see docs/security.md). Empty: an unkeyed hash,
	// the same everywhere (development).
	ContactHashKey []byte
	// Tracing makes the executor's spans (tracing.go); nil turns tracing
	// off.
	Tracing trace.TracerProvider
	// Models are the LanguageModels the flow's AI nodes may use (the
	// --models manifest); ModelKeysDir holds their API keys as mounted
	// Secrets, ModelKeysDir/<Secret>/<key>.
	Models       []v1alpha1.LanguageModel
	ModelKeysDir string
	// Subflows are the flows the flow's ForwardToFlow nodes reach (the
	// --subflows file): they run in this executor, on its account.
	Subflows []*v1alpha1.ChatFlow
}

// Executor runs one flow. Create it with New, serve Handler, and Run the workers.
type Executor struct {
	program    *flow.Program
	flowName   string
	flowID     string // <namespace>/<name>
	namespace  string
	channel    message.Channel
	store      store.Store
	receiver   channel.Receiver
	handshaker channel.Handshaker
	sender     channel.Sender
	creds      *Credentials
	egress     *http.Client
	models     map[string]*model.Client // by LanguageModel name
	typist     channel.Typist           // the sender's typing indicator, when it has one
	secrets    secretReader
	log        *eventLog
	metrics    *metrics
	obs        *observer // observe.go: per-node metrics, node index, kept events
	tracing    *tracing  // nil when tracing is off
	workers    int
	sendRate   float64
	now        func() time.Time
	contactKey []byte
	leaseTTL   time.Duration

	inputs map[string]bool // declared Manual inputs

	// sessions are the decoded sessions last committed, by contact; items
	// the decoded events the webhook handlers queued, by item ID, until a
	// worker takes them. Both spare a turn a JSON decode.
	sessions *decodedCache[flow.Session]
	items    *decodedCache[queued]

	// Set by setupChannel (channels.go) for channels that need it.
	registerWebhook func(context.Context) error // Viber set_webhook

	// ready turns false while shutting down, so /readyz takes the pod out
	// of the Service before the listener closes.
	mu       sync.RWMutex
	draining bool
}

// New compiles the flow and prepares the channel for the binding.
func New(cfg Config) (*Executor, error) {
	if cfg.Flow == nil {
		return nil, errors.New("no flow")
	}
	if cfg.Store == nil {
		return nil, errors.New("no session store")
	}
	ch := message.Channel(cfg.Flow.Spec.Trigger.Type)
	if cfg.Binding != nil {
		ch = message.Channel(cfg.Binding.Spec.Channel)
		if cfg.Flow.Spec.Trigger.Type != v1alpha1.TriggerManual && string(cfg.Flow.Spec.Trigger.Type) != string(cfg.Binding.Spec.Channel) {
			return nil, fmt.Errorf("the binding's channel %s differs from the flow's trigger %s", cfg.Binding.Spec.Channel, cfg.Flow.Spec.Trigger.Type)
		}
	} else if ch != message.Manual {
		return nil, fmt.Errorf("a %s flow needs a ChannelBinding (--binding)", ch)
	}
	program, errs := flow.Compile(&cfg.Flow.Spec, flow.Options{Channel: channelOrEmpty(ch), FlowName: cfg.Flow.Name})
	if len(errs) > 0 {
		return nil, fmt.Errorf("the flow does not compile: %w", errs.ToAggregate())
	}
	program, err := linkSubflows(program, cfg.Subflows, channelOrEmpty(ch))
	if err != nil {
		return nil, err
	}
	creds := cfg.Credentials
	if creds == nil {
		creds, _ = NewCredentials("")
	}
	if program.Trigger() == v1alpha1.TriggerManual && creds.Get(channel.KeyRunToken) == "" {
		// Every run would be refused: say so instead of serving.
		return nil, errors.New("a Manual flow starts runs only through the run API, and the credentials have no runToken: " +
			"add one to the binding's Secret, or, without a binding, to the Secret of spec.trigger.credentialsRef")
	}
	e := &Executor{
		program:    program,
		flowName:   cfg.Flow.Name,
		flowID:     FlowID(cfg.Flow),
		namespace:  cfg.Flow.Namespace,
		channel:    ch,
		store:      cfg.Store,
		creds:      creds,
		egress:     newEgressClient(cfg.AllowedNetworks),
		secrets:    mountedSecrets(cfg.SecretsDir),
		metrics:    newMetrics(cfg.Flow.Namespace, cfg.Flow.Name),
		workers:    cfg.Workers,
		sendRate:   cfg.SendRate,
		now:        cfg.Now,
		inputs:     map[string]bool{},
		contactKey: cfg.ContactHashKey,
		leaseTTL:   cfg.LeaseTTL,
	}
	if e.leaseTTL <= 0 {
		e.leaseTTL = 30 * time.Second
	}
	full := func() { e.metrics.budgets.WithLabelValues(budgetDecodedCache).Inc() }
	e.sessions = newDecodedCache[flow.Session](sessionCacheBytes, full)
	// Items wait here only between their webhook and their turn.
	e.items = newDecodedCache[queued](itemCacheBytes, full)
	if e.workers <= 0 {
		e.workers = 16
	}
	if e.now == nil {
		e.now = time.Now
	}
	w := cfg.EventLog
	if w == nil {
		w = os.Stdout
	}
	e.log = newEventLog(w, cfg.Flow.Spec.Logging.Enabled, cfg.Flow.Name, program.Revision(), e.hashContact)
	e.obs = newObserver(e.metrics, e.namespace, e.flowName, program, e.store)
	e.tracing = newTracing(cfg.Tracing, e.namespace, e.flowName, program.Revision(), e.hashContact)
	for _, in := range program.Inputs() {
		e.inputs[in.Name] = true
	}
	if cfg.Binding != nil {
		if e.sendRate <= 0 && cfg.Binding.Spec.SendRate > 0 {
			// Run from files (outside the operator), the binding says it.
			e.sendRate = float64(cfg.Binding.Spec.SendRate)
		}
		if err := e.setupChannel(cfg.Binding); err != nil {
			return nil, err
		}
		e.typist, _ = e.sender.(channel.Typist)
	}
	if e.models, err = newModels(program, cfg.Models, cfg.ModelKeysDir, e.tracing.client(e.egress), e.metrics); err != nil {
		return nil, err
	}
	e.metrics.initModelSeries(program.AINodes())
	e.log.modelText = cfg.Flow.Spec.Logging.ModelText
	return e, nil
}

// channelOrEmpty returns the channel the compiler checks messages against:
// none for a Manual flow without a binding.
func channelOrEmpty(ch message.Channel) message.Channel {
	if ch == message.Manual {
		return ""
	}
	return ch
}

// Program is the compiled flow.
func (e *Executor) Program() *flow.Program { return e.program }

// SendRate is the account's send rate in messages per second: the
// --send-rate flag, else the binding's spec.sendRate, else the channel's
// default; 0 when the flow has no binding to send through.
func (e *Executor) SendRate() float64 { return e.sendRate }

// Run processes contacts with the configured number of workers until ctx
// is cancelled; then each worker finishes the contact it holds (within
// drainTimeout) and releases it.
func (e *Executor) Run(ctx context.Context, drainTimeout time.Duration) error {
	e.obs.start()
	var workers, wg sync.WaitGroup
	for range e.workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			e.work(ctx, drainTimeout)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		workers.Wait()
		e.obs.stop() // what the last turns noted, written
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.sampleQueue(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.runRegistration(ctx) // channels.go: Viber set_webhook, when the binding asks
	}()
	wg.Wait()
	return nil
}

// sampleQueue keeps the queue-depth gauge current.
func (e *Executor) sampleQueue(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.sampleQueueOnce(ctx)
		}
	}
}

// sampleQueueOnce sets the queue-depth gauge to the items waiting in the
// store's inboxes.
func (e *Executor) sampleQueueOnce(ctx context.Context) {
	if st, err := e.store.Stats(ctx); err == nil {
		e.metrics.queueDepth.Set(float64(st.InboxItems))
	}
	e.obs.sampleWaiting(ctx)
}

// decodeFailed counts and logs a stored session or queued item that does
// not decode: it cannot be processed (an item becomes a dead letter, a
// session is started over), but not silently.
func (e *Executor) decodeFailed(what, contact string, err error) {
	e.metrics.decodeErrors.WithLabelValues(what).Inc()
	slog.Error("a stored "+what+" does not decode", "flow", e.flowID,
		"contact", e.hashContact(contact), "error", err.Error())
}

// FlowID names a flow in the session store and in logs:
// "<namespace>/<name>", the namespace "default" when the manifest names
// none.
func FlowID(f *v1alpha1.ChatFlow) string {
	ns := f.Namespace
	if ns == "" {
		ns = "default"
	}
	return ns + "/" + f.Name
}

// StoreDropped is the session store's Options.Dropped: it counts and logs
// what the store dropped to stay within a budget.
func (e *Executor) StoreDropped(budget string, n int) {
	e.metrics.budgets.WithLabelValues(budget).Add(float64(n))
	e.log.write("", "", flow.Log{Event: flow.LogError, Budget: budget, Message: fmt.Sprintf(
		"the session store dropped %d of its oldest %s to stay within its budget", n, strings.ReplaceAll(budget, "_", " "))}, 0)
	slog.Warn("the session store dropped data to stay within a budget", "flow", e.flowID, "budget", budget, "count", n)
}

// overBudget counts and logs a limit of the executor's that bit.
func (e *Executor) overBudget(contact, budget, msg string) {
	e.metrics.budgets.WithLabelValues(budget).Inc()
	e.log.write("", contact, flow.Log{Event: flow.LogError, Budget: budget, Message: msg}, 0)
}

// Drain marks the executor as shutting down: /readyz fails from now on.
func (e *Executor) Drain() {
	e.mu.Lock()
	e.draining = true
	e.mu.Unlock()
}

func (e *Executor) isDraining() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.draining
}
