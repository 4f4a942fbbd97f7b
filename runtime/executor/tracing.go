package executor

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
	"github.com/chatflow-dev/chatflow/runtime/model"
)

// The executor's traces (Config.Tracing; off when nil), one per turn:
//
//	POST /webhooks/{channel} (server; its parent is the caller's traceparent: the gateway's span)
//	└─ turn <trigger>        (consumer; run later, by any replica: the queued item carries the context)
//	   └─ node <id>          (one per node the turn ran through)
//	      ├─ send <channel>  (client: the channel's send API)
//	      └─ <METHOD>        (client: an HTTPRequest's call, with traceparent sent to the target)
//
// A turn without a request behind it (a timer) starts a trace of its own.
// Contact ids appear only hashed (chatflow.contact), never in clear; URLs
// only as their host (server.address), since a path may carry what a flow
// put there.

// Attribute keys of the executor's spans.
const (
	attrFlow      = attribute.Key("chatflow.flow")
	attrNamespace = attribute.Key("chatflow.namespace")
	attrRevision  = attribute.Key("chatflow.revision")
	attrContact   = attribute.Key("chatflow.contact") // hashed
	attrRunID     = attribute.Key("chatflow.run_id")
	attrTrigger   = attribute.Key("chatflow.trigger")
	attrStatus    = attribute.Key("chatflow.status")
	attrNodeID    = attribute.Key("chatflow.node.id")
	attrNodeType  = attribute.Key("chatflow.node.type")
	attrBranch    = attribute.Key("chatflow.node.branch")
	attrOutcome   = attribute.Key("chatflow.node.outcome") // left, waiting, ended
	attrResumed   = attribute.Key("chatflow.node.resumed")
	attrReason    = attribute.Key("chatflow.error.reason")
	attrKind      = attribute.Key("chatflow.message.kind")
	attrResult    = attribute.Key("chatflow.send.result")
	attrMessages  = attribute.Key("chatflow.webhook.events")
)

// tracing starts the executor's spans.
type tracing struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	flow   []attribute.KeyValue
	// hash is the contact's pseudonym, the event log's.
	hash func(string) string
}

func newTracing(tp trace.TracerProvider, namespace, flowName, revision string, hash func(string) string) *tracing {
	if tp == nil {
		return nil
	}
	return &tracing{
		tracer: tp.Tracer("github.com/chatflow-dev/chatflow/runtime/executor"),
		prop:   propagation.TraceContext{},
		flow:   []attribute.KeyValue{attrNamespace.String(namespace), attrFlow.String(flowName), attrRevision.String(revision)},
		hash:   hash,
	}
}

// server starts the span of a request, the child of the caller's span
// when the request carries a traceparent.
func (t *tracing) server(r *http.Request, route string) (context.Context, trace.Span) {
	ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	return t.tracer.Start(ctx, r.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(t.flow...),
		trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("http.route", route)))
}

// endServer ends a request's span with its status code.
func endServer(span trace.Span, code int) {
	span.SetAttributes(attribute.Int("http.response.status_code", code))
	if code >= 500 {
		span.SetStatus(codes.Error, http.StatusText(code))
	}
	span.End()
}

// carrier is the W3C traceparent of ctx's span, for a queued item: empty
// when tracing is off or ctx holds no span.
func (t *tracing) carrier(ctx context.Context) string {
	if t == nil {
		return ""
	}
	c := propagation.MapCarrier{}
	t.prop.Inject(ctx, c)
	return c["traceparent"]
}

// turn starts the span of a turn, the child of the span its item carries.
func (t *tracing) turn(ctx context.Context, q *queued, contact string) (context.Context, trace.Span) {
	if q.Trace != "" {
		ctx = t.prop.Extract(ctx, propagation.MapCarrier{"traceparent": q.Trace})
	}
	trigger := triggerOf(q)
	return t.tracer.Start(ctx, "turn "+trigger, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(t.flow...),
		trace.WithAttributes(attrTrigger.String(trigger), attrContact.String(t.hash(contact))))
}

// endTurn ends a turn's span with where the session rests.
func endTurn(span trace.Span, s *flow.Session, err error) {
	if s != nil {
		span.SetAttributes(attrRunID.String(s.RunID), attrStatus.String(string(s.Status)), attrNodeID.String(s.Node))
	}
	if err != nil {
		span.SetStatus(codes.Error, "commit: "+err.Error())
	}
	span.End()
}

// turnTrace is a performer's view of the turn's spans: the node span
// open now, whose children the sends and calls of the node are.
type turnTrace struct {
	t       *tracing
	ctx     context.Context // the turn span's
	start   time.Time
	node    trace.Span
	nodeID  string
	nodeCtx context.Context
}

func (tt *turnTrace) begin(t *tracing, ctx context.Context, start time.Time) {
	*tt = turnTrace{t: t, ctx: ctx, start: start}
}

// parent is the context of a node's child spans.
func (tt *turnTrace) parent() context.Context {
	if tt.node != nil {
		return tt.nodeCtx
	}
	return tt.ctx
}

// log follows the turn's log events: a node span opens at node_entered
// and closes at node_left, run_ended or the end of the turn; a node the
// turn resumes (a wait answered) gets a span from the turn's start.
func (tt *turnTrace) log(l *flow.Log) {
	if tt.t == nil {
		return
	}
	switch l.Event {
	case flow.LogNodeEntered:
		tt.close("left")
		tt.open(l, time.Time{})
	case flow.LogNodeLeft:
		tt.at(l).SetAttributes(attrBranch.String(l.Branch))
		tt.close("left")
	case flow.LogRunEnded:
		if tt.node != nil {
			tt.close("ended")
		}
	case flow.LogError:
		if l.NodeID == "" {
			return
		}
		span := tt.at(l)
		span.SetStatus(codes.Error, string(l.Reason))
		span.AddEvent("error", trace.WithAttributes(attrReason.String(string(l.Reason)), attribute.String("message", l.Message)))
	}
}

// at is the span of the log's node, opened from the turn's start when the
// turn resumed that node.
func (tt *turnTrace) at(l *flow.Log) trace.Span {
	if tt.node == nil || tt.nodeID != l.NodeID {
		tt.close("left")
		tt.open(l, tt.start)
		tt.node.SetAttributes(attrResumed.Bool(true))
	}
	return tt.node
}

func (tt *turnTrace) open(l *flow.Log, start time.Time) {
	opts := []trace.SpanStartOption{trace.WithAttributes(attrNodeID.String(l.NodeID), attrNodeType.String(string(l.NodeType)))}
	if !start.IsZero() {
		opts = append(opts, trace.WithTimestamp(start))
	}
	tt.nodeCtx, tt.node = tt.t.tracer.Start(tt.ctx, "node "+l.NodeID, opts...)
	tt.nodeID = l.NodeID
}

func (tt *turnTrace) close(outcome string) {
	if tt.node == nil {
		return
	}
	tt.node.SetAttributes(attrOutcome.String(outcome))
	tt.node.End()
	tt.node, tt.nodeID, tt.nodeCtx = nil, "", nil
}

// finish closes the node span still open at the end of the turn: the node
// the session now waits at.
func (tt *turnTrace) finish() {
	if tt.t != nil {
		tt.close("waiting")
	}
}

// send starts the span of a send through the channel.
func (tt *turnTrace) send(ch message.Channel, kind string) (context.Context, trace.Span) {
	ctx := tt.parent()
	if tt.t == nil {
		return ctx, nil
	}
	return tt.t.tracer.Start(ctx, "send "+string(ch), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("messaging.system", string(ch)), attrKind.String(kind)))
}

func endSend(span trace.Span, r *message.Receipt) {
	if span == nil {
		return
	}
	if r.Error != nil {
		span.SetAttributes(attrResult.String(string(r.Error.Class)))
		span.SetStatus(codes.Error, string(flow.ReasonSendRefused))
	} else {
		span.SetAttributes(attrResult.String("ok"), attribute.String("messaging.message.id", r.MessageID))
	}
	span.End()
}

// call starts the client span of an HTTPRequest's call.
func (tt *turnTrace) call(c *flow.HTTPCall) (context.Context, trace.Span) {
	ctx := tt.parent()
	if tt.t == nil {
		return ctx, nil
	}
	attrs := []attribute.KeyValue{attribute.String("http.request.method", c.Method), attrNodeID.String(c.NodeID)}
	if u, err := url.Parse(c.URL); err == nil {
		attrs = append(attrs, attribute.String("url.scheme", u.Scheme), attribute.String("server.address", u.Hostname()))
		if p, err := strconv.Atoi(u.Port()); err == nil {
			attrs = append(attrs, attribute.Int("server.port", p))
		}
	}
	return tt.t.tracer.Start(ctx, c.Method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

func endCall(span trace.Span, r *flow.HTTPResult) {
	if span == nil {
		return
	}
	switch {
	case r.Err != "":
		reason := r.Reason
		if reason == "" {
			reason = flow.ReasonHTTPError
		}
		span.SetAttributes(attribute.String("error.type", string(reason)))
		span.SetStatus(codes.Error, r.Err)
	default:
		span.SetAttributes(attribute.Int("http.response.status_code", r.Status))
		if r.Status >= 400 {
			span.SetAttributes(attribute.String("error.type", strconv.Itoa(r.Status)))
			span.SetStatus(codes.Error, "")
		}
	}
	span.End()
}

// model starts the client span of an AI node's model call (OpenTelemetry's
// GenAI conventions: "chat <model>"); its HTTP requests carry the span's
// traceparent (client).
func (tt *turnTrace) model(c *flow.ModelCall, modelName string) (context.Context, trace.Span) {
	ctx := tt.parent()
	if tt.t == nil {
		return ctx, nil
	}
	return tt.t.tracer.Start(ctx, "chat "+modelName, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", modelName),
		attribute.String("chatflow.language_model", c.Model), attrNodeID.String(c.NodeID)))
}

// endModel ends a model call's span with its result and token usage.
func endModel(span trace.Span, r model.Response, result string) {
	if span == nil {
		return
	}
	span.SetAttributes(attribute.String("chatflow.model.result", result),
		attribute.Int("gen_ai.usage.input_tokens", r.Usage.PromptTokens), attribute.Int("gen_ai.usage.output_tokens", r.Usage.CompletionTokens))
	if result != "ok" {
		span.SetAttributes(attribute.String("error.type", result))
		span.SetStatus(codes.Error, result)
	}
	span.End()
}

// client returns c, with requests that carry their context's traceparent
// when tracing is on (the model clients' requests).
func (t *tracing) client(c *http.Client) *http.Client {
	if t == nil {
		return c
	}
	out := *c
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	out.Transport = propagating{base: base, t: t}
	return &out
}

// propagating is a RoundTripper that writes the request context's
// traceparent into the request.
type propagating struct {
	base http.RoundTripper
	t    *tracing
}

func (p propagating) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	p.t.propagate(r.Context(), r.Header)
	return p.base.RoundTrip(r)
}

// propagate writes ctx's traceparent into an outbound request's headers.
func (t *tracing) propagate(ctx context.Context, h http.Header) {
	if t != nil {
		t.prop.Inject(ctx, propagation.HeaderCarrier(h))
	}
}

// triggerOf names what started a turn, for metrics and spans.
func triggerOf(q *queued) string {
	switch q.Event.Kind {
	case flow.EventInbound:
		return "message"
	case flow.EventTimer:
		return "timer"
	case flow.EventRun:
		return "run"
	case flow.EventResume:
		return "resume"
	case flow.EventStatus:
		return "status"
	}
	return string(q.Event.Kind)
}
