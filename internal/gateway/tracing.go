package gateway

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracing makes the gateway's spans (Options.Tracing; nil when off): a
// server span per webhook or run API request, the child of the caller's
// traceparent (an ingress's, a load balancer's), and a client span per
// forward to an executor, whose traceparent the executor's own spans take
// as their parent, so one trace goes from the gateway to the turn's sends.
// No contact id or account reaches a span name; accounts are attributes,
// contacts never.
type tracing struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

func newTracing(tp trace.TracerProvider) *tracing {
	if tp == nil {
		return nil
	}
	return &tracing{tracer: tp.Tracer("github.com/chatflow-dev/chatflow/internal/gateway"), prop: propagation.TraceContext{}}
}

// serve runs h inside a server span named by route.
func (t *tracing) serve(route string, h func(http.ResponseWriter, *http.Request) int) func(http.ResponseWriter, *http.Request) int {
	if t == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) int {
		ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.tracer.Start(ctx, r.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("http.route", route)))
		code := h(w, r.WithContext(ctx))
		span.SetAttributes(attribute.Int("http.response.status_code", code))
		if code >= 500 {
			span.SetStatus(codes.Error, http.StatusText(code))
		}
		span.End()
		return code
	}
}

// forward starts the client span of a forward to an executor and writes
// its traceparent into h; opts add to the span (a joined forward's links).
func (t *tracing) forward(ctx context.Context, ch, base string, b *Backend, h http.Header, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if t == nil {
		return ctx, nil
	}
	attrs := []attribute.KeyValue{attribute.String("http.request.method", http.MethodPost),
		attribute.String("chatflow.namespace", b.Namespace), attribute.String("chatflow.executor", b.Name)}
	if ch != "" {
		attrs = append(attrs, attribute.String("chatflow.channel", ch))
	}
	if u, err := url.Parse(base); err == nil {
		attrs = append(attrs, attribute.String("server.address", u.Hostname()))
		if p, err := strconv.Atoi(u.Port()); err == nil {
			attrs = append(attrs, attribute.Int("server.port", p))
		}
	}
	opts = append(opts, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	ctx, span := t.tracer.Start(ctx, http.MethodPost, opts...)
	t.prop.Inject(ctx, propagation.HeaderCarrier(h))
	return ctx, span
}

func endForward(span trace.Span, res result) {
	if span == nil {
		return
	}
	switch {
	case res.err != nil:
		span.SetStatus(codes.Error, res.err.Error())
	default:
		span.SetAttributes(attribute.Int("http.response.status_code", res.code))
		if res.code/100 != 2 {
			span.SetStatus(codes.Error, http.StatusText(res.code))
		}
	}
	span.End()
}
