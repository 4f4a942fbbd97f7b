package executor

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
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
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_webhooks_total", Help: "Webhook requests by channel and result.",
		}, []string{"channel", "result"}),
		turns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chatflow_turns_total", Help: "Events (messages, timers, results) processed by the flow.",
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
			Name: "chatflow_queue_depth", Help: "Inbox items waiting to be processed, as last sampled.",
		}),
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chatflow_store_latency_seconds", Help: "Session store latency by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"op"}),
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
	m.registry.MustRegister(m.webhooks, m.turns, m.nodeErrors, m.sends, m.retries, m.queueDepth,
		m.storeLatency, m.turnLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
