package executor

import (
	"regexp"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/model"
	"github.com/chatflow-dev/chatflow/runtime/store"
)

// metrics are the executor's Prometheus metrics, on a registry of its own so
// several executors can run in one test process. Every chatflow_ metric
// carries the flow's namespace and name (an executor serves one flow), so
// dashboards and alerts select a flow whatever labels the scrape adds.
type metrics struct {
	registry     *prometheus.Registry
	webhooks     *prometheus.CounterVec   // channel, result
	turns        prometheus.Counter       // events stepped through the flow
	sends        *prometheus.CounterVec   // kind, result
	retries      prometheus.Counter       // send and store retries
	queueDepth   prometheus.Gauge         // inbox items waiting
	storeLatency *prometheus.HistogramVec // operation
	turnLatency  *prometheus.HistogramVec // trigger
	// decodeErrors: stored sessions and queued items dropped undecoded.
	decodeErrors *prometheus.CounterVec // what: session, item
	// notifications: hand-off notification attempts by outcome.
	notifications *prometheus.CounterVec // result: delivered, retried, failed
	// deadLetters: items a turn could not process, kept as dead letters.
	deadLetters *prometheus.CounterVec // reason: panic, forged, undecodable
	// forged: stored items and sessions not sealed with the flow's key.
	forged *prometheus.CounterVec // what: item, session
	// budgets: times a limit bit (see budgetNames).
	budgets *prometheus.CounterVec // budget
	// leasesLost: turns stopped because another replica took the contact.
	leasesLost prometheus.Counter
	// erasures: contacts erased through the API.
	erasures prometheus.Counter

	// Per node of the flow (observe.go resolves their series up front):
	// the node label's values are the flow's node ids, which the compiler
	// caps, so the series stay bounded.
	nodeEntered *prometheus.CounterVec // node
	nodeLeft    *prometheus.CounterVec // node, branch
	nodeErrors  *prometheus.CounterVec // node, reason
	nodeWaiting *prometheus.GaugeVec   // node

	// Model calls of AI nodes, by node: calls by result (model.Results),
	// latency, tokens by kind (prompt, completion); retries by model;
	// typing indicators by result.
	modelCalls   *prometheus.CounterVec   // node, result
	modelLatency *prometheus.HistogramVec // node
	modelTokens  *prometheus.CounterVec   // node, kind
	modelRetries *prometheus.CounterVec   // model
	typing       *prometheus.CounterVec   // result: ok, failed
}

// The reasons of dead letters.
const (
	reasonPanic       = "panic"
	reasonForged      = "forged"
	reasonUndecodable = "undecodable"
)

// budgetNames are the limits whose bites chatflow_budget_exceeded_total
// counts: the flow's (runtime/flow), the executor's and the store's.
var budgetNames = []string{
	flow.BudgetVariableSize, flow.BudgetSessionSize,
	budgetHTTPBody, budgetHTTPHeaders, budgetInbox, budgetDecodedCache, budgetStoreMemory,
	store.BudgetDeadLetters,
}

const (
	budgetHTTPBody     = "http_response_body"
	budgetHTTPHeaders  = "http_response_headers"
	budgetInbox        = "inbox"
	budgetDecodedCache = "decoded_cache"
	budgetStoreMemory  = "store_memory"
)

func newMetrics(namespace, flowName string) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_webhooks_total", Help: "Webhook requests by channel and result.",
		}, []string{"channel", "result"}),
		turns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chatflow_turns_total", Help: "Turns: inbox items (messages, timers, runs, resumes) carried through the flow and committed.",
		}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_sends_total", Help: "Outbound messages by message kind and result (ok, retryable, permanent); delivery statuses (result status_<state>) have no kind.",
		}, []string{"kind", "result"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chatflow_retries_total", Help: "Outbound send retries.",
		}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chatflow_queue_depth", Help: "Inbox items waiting to be processed (the one being processed included), across the flow's contacts, as last sampled.",
		}),
		decodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_decode_errors_total", Help: "Stored sessions and queued items that did not decode and were dropped, by what.",
		}, []string{"what"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_handoff_notifications_total", Help: "Hand-off notification attempts by result (delivered, retried, failed: given up).",
		}, []string{"result"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_dead_letters_total", Help: "Inbox items a turn could not process, kept as dead letters, by reason (panic, forged, undecodable).",
		}, []string{"reason"}),
		forged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_forged_total", Help: "Stored items and sessions refused because the flow's key did not seal them, by what (item, session).",
		}, []string{"what"}),
		budgets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_budget_exceeded_total", Help: "Times a limit refused or dropped something, by budget.",
		}, []string{"budget"}),
		leasesLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chatflow_leases_lost_total", Help: "Turns stopped because the contact's lease was lost to another replica.",
		}),
		erasures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chatflow_contacts_erased_total", Help: "Contacts erased through DELETE /v1/contacts/{id}.",
		}),
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chatflow_store_latency_seconds", Help: "Session store latency by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"op"}),
		modelCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_model_calls_total", Help: "Model calls of AI nodes by node and result (ok, refusal, empty, timeout, rate_limited, quota, auth, client_error, server_error, network_error, invalid_response, throttled).",
		}, []string{"node", "result"}),
		modelLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chatflow_model_latency_seconds", Help: "Latency of the model calls of AI nodes, retries included, by node.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}, []string{"node"}),
		modelTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_model_tokens_total", Help: "Tokens of the model calls of AI nodes as the endpoint counts them, by node and kind (prompt, completion).",
		}, []string{"node", "kind"}),
		modelRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_model_retries_total", Help: "Model call attempts retried after a 429, 5xx or network error, by LanguageModel.",
		}, []string{"model"}),
		typing: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_typing_indicators_total", Help: "Mark-as-read with typing indicator calls made while a model answered, by result (ok, failed).",
		}, []string{"result"}),
		turnLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chatflow_turn_latency_seconds", Help: "Time from the acceptance of a turn's trigger (a webhook, a run request, a due timer) to the end of its turn, by trigger.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"trigger"}),
		nodeEntered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_node_entered_total", Help: "Times runs entered a node.",
		}, []string{"node"}),
		nodeLeft: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_node_left_total", Help: "Times runs left a node, by the branch they took.",
		}, []string{"node", "branch"}),
		nodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_node_errors_total", Help: "Errors of a node by reason class (node is empty for errors of no node, such as a rejected run).",
		}, []string{"node", "reason"}),
		nodeWaiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chatflow_node_waiting", Help: "Contacts whose session waits at a node, read from the session store's index (the same on every replica), as last sampled.",
		}, []string{"node"}),
	}
	for _, w := range []string{"session", "item"} {
		m.decodeErrors.WithLabelValues(w)
	}
	for _, r := range []string{"delivered", "retried", "failed"} {
		m.notifications.WithLabelValues(r)
	}
	for _, r := range []string{reasonPanic, reasonForged, reasonUndecodable} {
		m.deadLetters.WithLabelValues(r)
	}
	for _, w := range []string{"item", "session"} {
		m.forged.WithLabelValues(w)
	}
	for _, b := range budgetNames {
		m.budgets.WithLabelValues(b)
	}
	for _, r := range []string{"ok", "failed"} {
		m.typing.WithLabelValues(r)
	}
	flowReg := prometheus.WrapRegistererWith(prometheus.Labels{"namespace": namespace, "flow": flowName}, m.registry)
	flowReg.MustRegister(m.flowMetrics()...)
	m.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// flowMetrics are the chatflow_ metrics.
func (m *metrics) flowMetrics() []prometheus.Collector {
	return []prometheus.Collector{m.webhooks, m.turns, m.sends, m.retries, m.queueDepth,
		m.storeLatency, m.turnLatency, m.decodeErrors, m.notifications,
		m.deadLetters, m.forged, m.budgets, m.leasesLost, m.erasures,
		m.nodeEntered, m.nodeLeft, m.nodeErrors, m.nodeWaiting,
		m.modelCalls, m.modelLatency, m.modelTokens, m.modelRetries, m.typing}
}

// initModelSeries creates the series of the flow's AI nodes up front, so
// dashboards see zeros before the first call.
func (m *metrics) initModelSeries(nodes []flow.AINode) {
	for _, n := range nodes {
		for _, r := range model.Results {
			m.modelCalls.WithLabelValues(n.ID, r)
		}
		for _, k := range []string{"prompt", "completion"} {
			m.modelTokens.WithLabelValues(n.ID, k)
		}
		m.modelRetries.WithLabelValues(n.Model)
	}
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// MetricNames are the names of the series an executor exposes under its
// chatflow_ metrics (a histogram's _bucket, _sum and _count), sorted: what
// the chart's dashboard and alert rules may query.
func MetricNames() []string {
	m := newMetrics("", "")
	var names []string
	for _, c := range m.flowMetrics() {
		ch := make(chan *prometheus.Desc, 4)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			name := fqName.FindStringSubmatch(d.String())[1]
			if _, ok := c.(*prometheus.HistogramVec); ok {
				names = append(names, name+"_bucket", name+"_sum", name+"_count")
				continue
			}
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}
