package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// Event results of chatflow_gateway_events_total.
const (
	// resultForwarded: the event's executor accepted it.
	resultForwarded = "forwarded"
	// resultUnrouted: no published flow binds the event's account (or the
	// event names no account); acknowledged and dropped.
	resultUnrouted = "unrouted"
	// resultForeign: the account's binding has another signing secret than
	// the one that signed the request (another app's event); dropped, so
	// one app cannot inject into another's flows.
	resultForeign = "foreign"
	// resultFailed: the executor did not accept the event; the request is
	// answered 5xx so the channel redelivers it.
	resultFailed = "failed"
)

// metrics are the gateway's Prometheus metrics, on a registry of its own.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec   // channel, code
	events   *prometheus.CounterVec   // channel, result
	duration *prometheus.HistogramVec // channel
	forward  *prometheus.HistogramVec // channel
	routes   *prometheus.GaugeVec     // channel, state
	problems prometheus.Gauge
	rebuilds prometheus.Counter
	joined   *prometheus.CounterVec // channel
	// The children every webhook touches, by channel label, made once:
	// WithLabelValues hashes its labels on each call.
	answeredOK map[string]prometheus.Counter
	took       map[string]prometheus.Observer
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_gateway_requests_total",
			Help: "Requests by channel (or \"runs\") and HTTP status code.",
		}, []string{"channel", "code"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_gateway_events_total",
			Help: "Webhook events (WhatsApp changes, Messenger and Instagram entry items, Viber callbacks) by channel and result: forwarded, unrouted, foreign, failed.",
		}, []string{"channel", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chatflow_gateway_request_duration_seconds",
			Help:    "Time from a request's arrival to its answer, by channel.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"channel"}),
		forward: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chatflow_gateway_forward_duration_seconds",
			Help:    "Time an executor took to answer one forwarded part, by channel.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"channel"}),
		routes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chatflow_gateway_routes",
			Help: "Bound accounts by channel and state: served (the flow is published) or idle (it is not).",
		}, []string{"channel", "state"}),
		problems: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chatflow_gateway_route_problems",
			Help: "ChannelBindings left out of the routes (no readable signing secret, another binding in effect for the account).",
		}),
		rebuilds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chatflow_gateway_route_rebuilds_total",
			Help: "Times the routes were rebuilt after a change of a binding, Secret or executor Service.",
		}),
		joined: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatflow_gateway_joined_parts_total",
			Help: "Parts of webhooks that waited while forwards to their binding's executor were in flight and were forwarded joined into one request, by channel.",
		}, []string{"channel"}),
	}
	m.answeredOK, m.took = map[string]prometheus.Counter{}, map[string]prometheus.Observer{}
	for _, l := range append(channelLabels(), "runs") {
		m.answeredOK[l] = m.requests.WithLabelValues(l, "200")
		m.took[l] = m.duration.WithLabelValues(l)
	}
	for _, ch := range v1alpha1.Channels {
		for _, r := range []string{resultForwarded, resultUnrouted, resultForeign, resultFailed} {
			m.events.WithLabelValues(label(ch), r)
		}
	}
	m.registry.MustRegister(m.requests, m.events, m.duration, m.forward, m.routes, m.problems, m.rebuilds, m.joined,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe records one answered request.
func (m *metrics) observe(ch string, code int, start time.Time) {
	if c, ok := m.answeredOK[ch]; ok && code == http.StatusOK {
		c.Inc()
	} else {
		m.requests.WithLabelValues(ch, strconv.Itoa(code)).Inc()
	}
	if o, ok := m.took[ch]; ok {
		o.Observe(time.Since(start).Seconds())
	} else {
		m.duration.WithLabelValues(ch).Observe(time.Since(start).Seconds())
	}
}

// channelLabels are the channels' metric labels.
func channelLabels() []string {
	out := make([]string, 0, len(v1alpha1.Channels))
	for _, ch := range v1alpha1.Channels {
		out = append(out, label(ch))
	}
	return out
}

// table records the shape of a new routing table.
func (m *metrics) table(t *Table) {
	m.rebuilds.Inc()
	for _, ch := range v1alpha1.Channels {
		all, served := t.Routes(ch)
		m.routes.WithLabelValues(label(ch), "served").Set(float64(served))
		m.routes.WithLabelValues(label(ch), "idle").Set(float64(all - served))
	}
	m.problems.Set(float64(len(t.Problems)))
}

// label is a channel's metric label, its path segment: "whatsapp". The
// known ones are constants: it is called several times per request.
func label(ch v1alpha1.Channel) string {
	switch ch {
	case v1alpha1.ChannelWhatsApp:
		return "whatsapp"
	case v1alpha1.ChannelMessenger:
		return "messenger"
	case v1alpha1.ChannelInstagram:
		return "instagram"
	case v1alpha1.ChannelViber:
		return "viber"
	}
	return strings.ToLower(string(ch))
}

// logLimiter lets a message about one key through at most once per
// interval, so an unbound account that keeps receiving events does not
// flood the log. It remembers at most max keys.
type logLimiter struct {
	interval time.Duration
	max      int

	mu   sync.Mutex
	last map[string]time.Time
}

func (l *logLimiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.interval {
		return false
	}
	if l.last == nil || len(l.last) >= l.max {
		// Forget what is older than the interval; if that frees nothing,
		// start over (the cost: one extra line per key).
		for k, t := range l.last {
			if now.Sub(t) >= l.interval {
				delete(l.last, k)
			}
		}
		if l.last == nil || len(l.last) >= l.max {
			l.last = map[string]time.Time{}
		}
	}
	l.last[key] = now
	return true
}
