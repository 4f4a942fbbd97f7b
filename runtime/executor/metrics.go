package executor

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/model"
	"github.com/chatflow-dev/chatflow/runtime/store"
)

// metrics are the executor's Prometheus metrics, on a registry of its own so
// several executors can run in one test process.
type metrics struct {
	registry     *prometheus.Registry
	webhooks     *prometheus.CounterVec   // channel, result
	turns        prometheus.Counter       // events stepped through the flow
	nodeErrors   *prometheus.CounterVec   // node type
	sends        *prometheus.CounterVec   // result
	retries      prometheus.Counter       // send and store retries
	queueDepth   prometheus.Gauge         // inbox items waiting
	storeLatency *prometheus.HistogramVec // operation
	turnLatency  prometheus.Histogram
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
	// Model calls of AI nodes, by flow and node: calls by result
	// (model.Results), latency, tokens by kind (prompt, completion);
	// retries by model; typing indicators by result.
	modelCalls   *prometheus.CounterVec   // flow, node, result
	modelLatency *prometheus.HistogramVec // flow, node
	modelTokens  *prometheus.CounterVec   // flow, node, kind
	modelRetries *prometheus.CounterVec   // flow, model
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

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_webhooks_total", Help: "Webhook requests by channel and result.",
		}, []string{"channel", "result"}),
		turns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chatflow_turns_total", Help: "Turns: inbox items (messages, timers, runs, resumes) carried through the flow and committed.",
		}),
		nodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_node_errors_total", Help: "Node errors by node type.",
		}, []string{"node_type"}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_sends_total", Help: "Outbound messages by result (ok, retryable, permanent).",
		}, []string{"result"}),
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
			Name: "chatflow_model_calls_total", Help: "Model calls of AI nodes by flow, node and result (ok, refusal, empty, timeout, rate_limited, quota, auth, client_error, server_error, network_error, invalid_response, throttled).",
		}, []string{"flow", "node", "result"}),
		modelLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chatflow_model_latency_seconds", Help: "Latency of the model calls of AI nodes, retries included, by flow and node.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}, []string{"flow", "node"}),
		modelTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_model_tokens_total", Help: "Tokens of the model calls of AI nodes as the endpoint counts them, by flow, node and kind (prompt, completion).",
		}, []string{"flow", "node", "kind"}),
		modelRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_model_retries_total", Help: "Model call attempts retried after a 429, 5xx or network error, by flow and LanguageModel.",
		}, []string{"flow", "model"}),
		typing: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_typing_indicators_total", Help: "Mark-as-read with typing indicator calls made while a model answered, by result (ok, failed).",
		}, []string{"result"}),
		turnLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "chatflow_turn_latency_seconds", Help: "Time from a webhook's acceptance to the end of its turn.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
	}
	// Create every node type's series up front so dashboards and alerts see
	// zeros instead of a missing metric.
	for _, t := range v1alpha1.NodeTypes {
		m.nodeErrors.WithLabelValues(string(t))
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
	m.registry.MustRegister(m.webhooks, m.turns, m.nodeErrors, m.sends, m.retries, m.queueDepth,
		m.storeLatency, m.turnLatency, m.decodeErrors, m.notifications,
		m.deadLetters, m.forged, m.budgets, m.leasesLost, m.erasures,
		m.modelCalls, m.modelLatency, m.modelTokens, m.modelRetries, m.typing,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// initModelSeries creates the series of the flow's AI nodes up front, so
// dashboards see zeros before the first call.
func (m *metrics) initModelSeries(flowName string, nodes []flow.AINode) {
	for _, n := range nodes {
		for _, r := range model.Results {
			m.modelCalls.WithLabelValues(flowName, n.ID, r)
		}
		for _, k := range []string{"prompt", "completion"} {
			m.modelTokens.WithLabelValues(flowName, n.ID, k)
		}
		m.modelRetries.WithLabelValues(flowName, n.Model)
	}
}
