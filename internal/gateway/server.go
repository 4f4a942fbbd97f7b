package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/channel/viber"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// Limits of the gateway's requests.
const (
	// MaxWebhookBody caps a webhook body (413 above): Meta batches up to
	// 1000 updates, about 3 MB. It is the executor's cap too, so a part
	// never exceeds what its executor reads.
	MaxWebhookBody = channel.DefaultMaxBody
	// MaxRunBody caps a run API body, as the executor does.
	MaxRunBody = 64 << 10
	// maxReply bounds what is read of an executor's answer (a Viber
	// welcome message, a run API verdict).
	maxReply = 64 << 10
	// maxInspectorReply bounds a relayed answer of the session inspector
	// (a page of up to 500 waiting contacts, a contact's 50 events).
	maxInspectorReply = 1 << 20
)

// Options configure a Server.
type Options struct {
	// Resolve returns the base URL of an executor Service (default: its
	// cluster address, Backend.URL). `chatflow dev` resolves to its local
	// executor processes instead.
	Resolve func(*Backend) (string, error)
	// ForwardTimeout bounds the forwards of a webhook's parts, from its
	// arrival, waiting to be joined included (default 15s; Meta gives a
	// webhook about 20s).
	ForwardTimeout time.Duration
	// Transport carries the forwards to https executors (default: a pooled
	// transport); http ones go over the gateway's own keep-alive
	// connections (backends).
	Transport http.RoundTripper
	// Logger receives the gateway's log (default slog.Default()).
	Logger *slog.Logger
	// Tracing makes the gateway's spans (tracing.go); nil turns tracing off.
	Tracing trace.TracerProvider
}

// Server serves the gateway's HTTP routes over the current Table.
type Server struct {
	opts     Options
	table    atomic.Pointer[Table]
	draining atomic.Bool
	metrics  *metrics
	tracing  *tracing
	backends *backends
	log      *slog.Logger
	// unrouted and failures limit the log lines of events dropped or not
	// accepted, per account, to one a minute.
	unrouted, failures logLimiter
	lanes              lanes
}

// New returns a Server with no routes: it answers 503 until SetTable.
func New(o Options) *Server {
	if o.Resolve == nil {
		o.Resolve = func(b *Backend) (string, error) { return b.URL(), nil }
	}
	if o.ForwardTimeout <= 0 {
		o.ForwardTimeout = 15 * time.Second
	}
	if o.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Every forward goes to a few executor Services: keep enough idle
		// connections to them that a burst does not reopen them.
		t.MaxIdleConns, t.MaxIdleConnsPerHost = 1024, 256
		t.Proxy = nil
		o.Transport = t
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Server{
		opts:     o,
		metrics:  newMetrics(),
		tracing:  newTracing(o.Tracing),
		backends: newBackends(&http.Client{Transport: o.Transport}),
		log:      o.Logger,
		unrouted: logLimiter{interval: time.Minute, max: 10000},
		failures: logLimiter{interval: time.Minute, max: 10000},
		lanes:    lanes{m: map[*Route]*lane{}},
	}
}

// SetTable swaps in new routes; requests already running finish with the
// routes they started with.
func (s *Server) SetTable(t *Table) {
	old := s.table.Swap(t)
	s.metrics.table(t)
	var before []Problem
	if old != nil {
		before = old.Problems
	}
	for _, p := range t.Problems {
		if !slices.Contains(before, p) {
			s.log.Warn("binding not routed", "binding", p.Binding.String(), "reason", p.Reason)
		}
	}
}

// Drain makes /readyz fail, so the Service stops sending new requests
// while the ones in flight finish.
func (s *Server) Drain() { s.draining.Store(true) }

// webhooks are the handlers of the channels' webhook POSTs, by path
// (Viber's under its path prefix, with the bot in {account}), each with its
// span and metrics: Handler serves them through net/http, and Frontend
// straight from its connection loop.
type webhooks struct {
	meta  map[string]http.HandlerFunc
	viber http.HandlerFunc
}

func (s *Server) webhooks() webhooks {
	hooks := webhooks{meta: map[string]http.HandlerFunc{}}
	for _, ch := range []v1alpha1.Channel{v1alpha1.ChannelWhatsApp, v1alpha1.ChannelMessenger, v1alpha1.ChannelInstagram} {
		path := channel.WebhookPath(message.Channel(ch), "")
		serve := s.tracing.serve(path, func(w http.ResponseWriter, r *http.Request) int { return s.serveMeta(w, r, ch) })
		hooks.meta[path] = func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			s.metrics.observe(label(ch), serve(w, r), start)
		}
	}
	serveViber := s.tracing.serve(channel.WebhookPath(message.Viber, "{account}"), s.serveViber)
	hooks.viber = func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.metrics.observe(label(v1alpha1.ChannelViber), serveViber(w, r), start)
	}
	return hooks
}

// Handler returns the gateway's HTTP routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	hooks := s.webhooks()
	for _, ch := range []v1alpha1.Channel{v1alpha1.ChannelWhatsApp, v1alpha1.ChannelMessenger, v1alpha1.ChannelInstagram} {
		path := channel.WebhookPath(message.Channel(ch), "")
		mux.HandleFunc("POST "+path, hooks.meta[path])
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			s.metrics.observe(label(ch), s.serveHandshake(w, r, ch), start)
		})
	}
	mux.HandleFunc("POST "+channel.WebhookPath(message.Viber, "{account}"), hooks.viber)
	runs := "/v1/namespaces/{namespace}/chatflows/{name}/runs"
	serveRuns := s.tracing.serve(runs, func(w http.ResponseWriter, r *http.Request) int { return s.serveRunAPI(w, r, "/v1/runs") })
	mux.HandleFunc("POST "+runs, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.metrics.observe("runs", serveRuns(w, r), start)
	})
	resume := "/v1/namespaces/{namespace}/chatflows/{name}/contacts/{contact}/resume"
	serveResume := s.tracing.serve(resume, func(w http.ResponseWriter, r *http.Request) int {
		return s.serveRunAPI(w, r, "/v1/contacts/"+url.PathEscape(r.PathValue("contact"))+"/resume")
	})
	mux.HandleFunc("POST "+resume, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.metrics.observe("runs", serveResume(w, r), start)
	})
	// The session inspector of a flow's executor, read only, under the
	// same runToken as the run API (chatflow sessions and trace --gateway).
	for _, route := range []string{"/contacts/{contact}", "/nodes", "/nodes/{node}/contacts"} {
		pattern := "/v1/namespaces/{namespace}/chatflows/{name}" + route
		serve := s.tracing.serve(pattern, func(w http.ResponseWriter, r *http.Request) int { return s.serveInspector(w, r) })
		mux.HandleFunc("GET "+pattern, func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			s.metrics.observe("runs", serve(w, r), start)
		})
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusOK, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case s.draining.Load():
			reply(w, http.StatusServiceUnavailable, "shutting down")
		case s.table.Load() == nil:
			reply(w, http.StatusServiceUnavailable, "no routes yet")
		default:
			reply(w, http.StatusOK, "ok")
		}
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	return mux
}

// reply writes a short plain-text answer and returns its status.
func reply(w http.ResponseWriter, code int, msg string) int {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
	return code
}

// load returns the routes and the request body (at most max bytes), or
// answers (503 before the first routes, 413 for a longer body) and returns
// the status it wrote.
func (s *Server) load(w http.ResponseWriter, r *http.Request, max int64) (*Table, []byte, int) {
	t := s.table.Load()
	if t == nil {
		return nil, nil, reply(w, http.StatusServiceUnavailable, "the gateway has no routes yet")
	}
	body, err := channel.ReadBody(r, max)
	if err != nil {
		return nil, nil, reply(w, channel.HTTPStatus(err), err.Error())
	}
	return t, body, 0
}

// objectOf is the envelope object of a Meta channel.
func objectOf(ch v1alpha1.Channel) string {
	switch ch {
	case v1alpha1.ChannelMessenger:
		return meta.ObjectPage
	case v1alpha1.ChannelInstagram:
		return meta.ObjectInstagram
	}
	return meta.ObjectWhatsApp
}

// serveHandshake answers Meta's GET verification with the verify tokens of
// the channel's bindings.
func (s *Server) serveHandshake(w http.ResponseWriter, r *http.Request, ch v1alpha1.Channel) int {
	t := s.table.Load()
	if t == nil {
		return reply(w, http.StatusServiceUnavailable, "the gateway has no routes yet")
	}
	var tokens []string
	if c := t.channels[ch]; c != nil {
		tokens = c.verifyTokens
	}
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	meta.ServeHandshake(rec, r, tokens...)
	return rec.code
}

// job is one part of a batch for one executor.
type job struct {
	route *Route
	part  meta.Part
	// deadline is when the channel's request must have its answer: its
	// arrival plus ForwardTimeout. However long a part waits to be
	// joined or is sent again, its forwards end by then.
	deadline time.Time
}

// serveMeta verifies, splits and forwards a WhatsApp, Messenger or
// Instagram webhook.
func (s *Server) serveMeta(w http.ResponseWriter, r *http.Request, ch v1alpha1.Channel) int {
	t, body, code := s.load(w, r, MaxWebhookBody)
	if code != 0 {
		return code
	}
	routes := t.channels[ch]
	if routes == nil {
		routes = &channelRoutes{}
	}
	// Verify before anything, once per distinct secret of the channel.
	header := r.Header.Get(meta.SignatureHeader)
	signedBy := ""
	for _, secret := range routes.secrets {
		if meta.VerifySignature(header, body, secret) == nil {
			signedBy = secret
			break
		}
	}
	if signedBy == "" {
		return reply(w, http.StatusUnauthorized, "invalid signature: no "+string(ch)+" binding's app secret verifies it")
	}
	split, err := meta.SplitByAccount(body, objectOf(ch))
	if err != nil {
		return reply(w, http.StatusBadRequest, "malformed payload")
	}
	if split.Unaddressed > 0 {
		s.dropped(ch, "", split.Unaddressed, resultUnrouted, "events that name no "+string(ch)+" account ("+split.Object+")")
	}
	var jobs []job
	deadline := time.Now().Add(s.opts.ForwardTimeout)
	for _, p := range split.Parts {
		rt := routes.accounts[p.Account]
		switch {
		case rt == nil:
			s.dropped(ch, p.Account, p.Events, resultUnrouted, "no ChannelBinding binds the account")
		case rt.Secret != signedBy:
			// Another app's account: its own deliveries, signed with its
			// own secret, are the ones to trust.
			s.dropped(ch, p.Account, p.Events, resultForeign, "the request is signed by another app than the one of ChannelBinding "+rt.Binding.String())
		case rt.Backend == nil:
			s.dropped(ch, p.Account, p.Events, resultUnrouted, "ChatFlow "+rt.Binding.Namespace+"/"+rt.Flow+" of ChannelBinding "+rt.Binding.String()+" is not published")
		default:
			jobs = append(jobs, job{route: rt, part: p, deadline: deadline})
		}
	}
	if !s.forwardAll(r.Context(), ch, jobs, header) {
		return reply(w, http.StatusBadGateway, "an executor did not accept its events; redeliver")
	}
	w.WriteHeader(http.StatusOK)
	return http.StatusOK
}

// forwardAll forwards every job at once and reports whether every
// executor accepted its part.
func (s *Server) forwardAll(ctx context.Context, ch v1alpha1.Channel, jobs []job, signature string) bool {
	if len(jobs) == 1 {
		return s.forwardJoinable(ctx, ch, jobs[0], signature)
	}
	var wg sync.WaitGroup
	var failed atomic.Bool
	for _, j := range jobs {
		wg.Go(func() {
			if !s.forwardJoinable(ctx, ch, j, signature) {
				failed.Store(true)
			}
		})
	}
	wg.Wait()
	return !failed.Load()
}

// forwardPart posts one part to its executor, signed with the binding's
// secret: the request's own signature when the part is the whole body
// (the binding's secret verified it), a new one otherwise.
func (s *Server) forwardPart(ctx context.Context, ch v1alpha1.Channel, j job, signature string) bool {
	if !j.part.Whole {
		signature = meta.Sign(j.part.Body, j.route.Secret)
	}
	h := http.Header{meta.SignatureHeader: {signature}}
	res := s.post(ctx, ch, j.route.Backend, channel.WebhookPath(message.Channel(ch), j.route.Account), j.part.Body, h, j.deadline)
	if res.err != nil || res.code/100 != 2 {
		s.failed(ch, j.route, j.part.Events, res)
		return false
	}
	s.metrics.events.WithLabelValues(label(ch), resultForwarded).Add(float64(j.part.Events))
	return true
}

// serveViber verifies a Viber callback with its bot's auth token (the bot
// is in the path) and forwards it; the executor's answer, which may carry
// the welcome message, goes back to Viber as it is.
func (s *Server) serveViber(w http.ResponseWriter, r *http.Request) int {
	t, body, code := s.load(w, r, MaxWebhookBody)
	if code != 0 {
		return code
	}
	account := r.PathValue("account")
	rt := t.Route(v1alpha1.ChannelViber, account)
	if rt == nil {
		// No token to verify with: acknowledge, or Viber retries for nothing.
		s.dropped(v1alpha1.ChannelViber, account, 1, resultUnrouted, "no ChannelBinding binds the bot")
		w.WriteHeader(http.StatusOK)
		return http.StatusOK
	}
	if err := viber.VerifySignature(r.Header.Get(viber.SignatureHeader), body, rt.Secret); err != nil {
		return reply(w, http.StatusUnauthorized, "invalid signature")
	}
	if _, err := viber.Parse(body); err != nil {
		return reply(w, http.StatusBadRequest, "malformed payload")
	}
	if rt.Backend == nil {
		s.dropped(v1alpha1.ChannelViber, account, 1, resultUnrouted, "ChatFlow "+rt.Binding.Namespace+"/"+rt.Flow+" is not published")
		w.WriteHeader(http.StatusOK)
		return http.StatusOK
	}
	h := http.Header{viber.SignatureHeader: {r.Header.Get(viber.SignatureHeader)}}
	res := s.post(r.Context(), v1alpha1.ChannelViber, rt.Backend, r.URL.Path, body, h, time.Time{})
	if res.err != nil || res.code/100 != 2 {
		s.failed(v1alpha1.ChannelViber, rt, 1, res)
		return reply(w, http.StatusBadGateway, "the executor did not accept the callback; redeliver")
	}
	s.metrics.events.WithLabelValues(label(v1alpha1.ChannelViber), resultForwarded).Inc()
	return relay(w, res)
}

// serveRunAPI forwards a run API request to the flow's executor, with its
// bearer runToken: the executor checks it, and its verdict is the answer.
func (s *Server) serveRunAPI(w http.ResponseWriter, r *http.Request, path string) int {
	t, body, code := s.load(w, r, MaxRunBody)
	if code != 0 {
		return code
	}
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	b := t.Backend(ns, name)
	if b == nil {
		return reply(w, http.StatusNotFound, fmt.Sprintf("ChatFlow %s/%s is not published (or not served by this gateway)", ns, name))
	}
	h := http.Header{}
	if a := r.Header.Get("Authorization"); a != "" {
		h.Set("Authorization", a)
	}
	res := s.post(r.Context(), "", b, path, body, h, time.Time{})
	if res.err != nil {
		return reply(w, http.StatusBadGateway, "the flow's executor cannot be reached; retry")
	}
	return relay(w, res)
}

// serveInspector relays a GET of the executor's session inspector
// (GET /v1/contacts/{contact}, /v1/nodes, /v1/nodes/{node}/contacts), its
// query included; the executor checks the runToken.
func (s *Server) serveInspector(w http.ResponseWriter, r *http.Request) int {
	t := s.table.Load()
	if t == nil {
		return reply(w, http.StatusServiceUnavailable, "the gateway has no routes yet")
	}
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	b := t.Backend(ns, name)
	if b == nil {
		return reply(w, http.StatusNotFound, fmt.Sprintf("ChatFlow %s/%s is not published (or not served by this gateway)", ns, name))
	}
	base, err := s.opts.Resolve(b)
	if err != nil {
		return reply(w, http.StatusBadGateway, "the flow's executor cannot be reached; retry")
	}
	// The route matched /v1/namespaces/<ns>/chatflows/<name>/...: the rest
	// is the executor's path, as escaped.
	path := "/v1" + strings.TrimPrefix(r.URL.EscapedPath(), "/v1/namespaces/"+ns+"/chatflows/"+name)
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	h := http.Header{}
	if a := r.Header.Get("Authorization"); a != "" {
		h.Set("Authorization", a)
	}
	ctx, span := s.tracing.forward(r.Context(), "runs", base, b, h)
	res := s.backends.do(ctx, http.MethodGet, base+path, nil, h, s.opts.ForwardTimeout, maxInspectorReply)
	endForward(span, res)
	if res.err != nil {
		return reply(w, http.StatusBadGateway, "the flow's executor cannot be reached; retry")
	}
	return relay(w, res)
}

// result is an executor's answer to a forward.
type result struct {
	code        int
	body        []byte
	contentType string
	err         error
}

// post sends body to path on an executor Service, within ForwardTimeout
// and by deadline when it is set. The forward is not cut short when the
// channel hangs up: the executor finishes accepting what it got, and a
// redelivery is deduplicated.
func (s *Server) post(ctx context.Context, ch v1alpha1.Channel, b *Backend, path string, body []byte, h http.Header, deadline time.Time, span ...trace.SpanStartOption) result {
	timeout := s.opts.ForwardTimeout
	if !deadline.IsZero() {
		if timeout = time.Until(deadline); timeout <= 0 {
			return result{err: errOutOfTime}
		}
	}
	base, err := s.opts.Resolve(b)
	if err != nil {
		return result{err: err}
	}
	start := time.Now()
	ctx, fwd := s.tracing.forward(ctx, label(ch), base, b, h, span...)
	res := s.backends.post(context.WithoutCancel(ctx), base, path, body, h, timeout)
	endForward(fwd, res)
	if ch != "" && res.err == nil {
		s.metrics.forward.WithLabelValues(label(ch)).Observe(time.Since(start).Seconds())
	}
	return res
}

// relay writes an executor's answer as the gateway's.
func relay(w http.ResponseWriter, res result) int {
	if res.contentType != "" {
		w.Header().Set("Content-Type", res.contentType)
	}
	w.WriteHeader(res.code)
	_, _ = w.Write(res.body)
	return res.code
}

// dropped counts events acknowledged without forwarding, and logs it at
// most once a minute per account.
func (s *Server) dropped(ch v1alpha1.Channel, account string, events int, result, why string) {
	s.metrics.events.WithLabelValues(label(ch), result).Add(float64(events))
	if s.unrouted.allow(string(ch)+"/"+account+"/"+result, time.Now()) {
		s.log.Info("events acknowledged and dropped", "channel", string(ch), "account", account,
			"events", events, "result", result, "reason", why)
	}
}

// failed counts events an executor did not accept, and logs it at most
// once a minute per binding.
func (s *Server) failed(ch v1alpha1.Channel, rt *Route, events int, res result) {
	s.metrics.events.WithLabelValues(label(ch), resultFailed).Add(float64(events))
	if !s.failures.allow(rt.Binding.String(), time.Now()) {
		return
	}
	attrs := []any{"channel", string(ch), "account", rt.Account, "binding", rt.Binding.String(),
		"service", rt.Backend.Namespace + "/" + rt.Backend.Name, "events", events}
	if res.err != nil {
		attrs = append(attrs, "error", res.err.Error())
	} else {
		attrs = append(attrs, "status", res.code, "answer", string(bytes.TrimSpace(res.body)))
	}
	s.log.Warn("an executor did not accept its events; the channel will redeliver", attrs...)
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// errNoReplica: chatflow dev runs no ready process of the Service.
var errNoReplica = errors.New("no ready executor process")

// errOutOfTime is a forward not sent: its request's time was spent waiting
// or on earlier forwards, and the channel redelivers.
var errOutOfTime = errors.New("the webhook's time to be answered ran out before this forward")
