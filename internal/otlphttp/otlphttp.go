// Package otlphttp is a span exporter for the OpenTelemetry SDK that sends
// OTLP over HTTP (binary protobuf, POST /v1/traces), configured from the
// OTEL_EXPORTER_OTLP_* environment variables of the OpenTelemetry
// specification, and the TracerProvider around it (FromEnvironment) that
// the executor and the gateway use.
//
// Why not go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp:
// it imports the collector's service package, which carries the gRPC stubs,
// so it links google.golang.org/grpc and grpc-gateway into the executor.
// Measured on chatflow-executor: the binary grows from 34 to 55 MB and an
// idle executor's resident memory by 5.8 MiB (27%), tracing on or off;
// this package and the SDK cost 1.3 MB and 0.4 MiB. It encodes the request
// (ExportTraceServiceRequest: repeated ResourceSpans, field 1) itself from
// the message types of go.opentelemetry.io/proto/otlp/trace/v1, which link
// no gRPC.
//
// Supported: OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS, _TIMEOUT,
// _COMPRESSION (gzip or none), _CERTIFICATE, _CLIENT_CERTIFICATE,
// _CLIENT_KEY; retries on 429, 502, 503 and 504 (honouring Retry-After)
// within the timeout. Protocol http/protobuf only.
//
// It must not import the executor, flow or store packages.
package otlphttp

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"golang.org/x/net/http/httpguts"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Config is where and how spans go.
type Config struct {
	// URL receives the POSTs, e.g. http://collector:4318/v1/traces.
	URL     string
	Headers map[string]string
	Timeout time.Duration
	Gzip    bool
	TLS     *tls.Config
}

// Configured reports whether the environment names an OTLP endpoint for
// traces.
func Configured() bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != ""
}

// FromEnv reads the Config of the traces signal from the environment:
// OTEL_EXPORTER_OTLP_TRACES_<X>, else OTEL_EXPORTER_OTLP_<X>.
func FromEnv() (Config, error) {
	get := func(x string) (string, string) {
		for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_" + x, "OTEL_EXPORTER_OTLP_" + x} {
			if v := os.Getenv(k); v != "" {
				return k, v
			}
		}
		return "", ""
	}
	c := Config{Timeout: 10 * time.Second}
	if k, v := get("PROTOCOL"); v != "" && v != "http/protobuf" {
		return c, fmt.Errorf("%s=%s: the executor exports OTLP over HTTP only: set http/protobuf and the collector's OTLP/HTTP endpoint (port 4318)", k, v)
	}
	if v := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); v != "" {
		c.URL = v // the signal's endpoint is used as it is
	} else if v := os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"); v != "" {
		c.URL = strings.TrimRight(v, "/") + "/v1/traces"
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("the OTLP endpoint %q is not an http:// or https:// URL", c.URL)
	}
	if k, v := get("HEADERS"); v != "" {
		var err error
		if c.Headers, err = parseHeaders(v); err != nil {
			return c, fmt.Errorf("%s: %w", k, err)
		}
	}
	if k, v := get("TIMEOUT"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return c, fmt.Errorf("%s=%s: give milliseconds, e.g. 10000", k, v)
		}
		c.Timeout = time.Duration(ms) * time.Millisecond
	}
	if k, v := get("COMPRESSION"); v != "" {
		switch v {
		case "gzip":
			c.Gzip = true
		case "none":
		default:
			return c, fmt.Errorf("%s=%s: gzip or none", k, v)
		}
	}
	_, ca := get("CERTIFICATE")
	_, cert := get("CLIENT_CERTIFICATE")
	_, key := get("CLIENT_KEY")
	if ca != "" || cert != "" {
		c.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		if ca != "" {
			pem, err := os.ReadFile(ca)
			if err != nil {
				return c, fmt.Errorf("the OTLP CA certificate: %w", err)
			}
			c.TLS.RootCAs = x509.NewCertPool()
			if !c.TLS.RootCAs.AppendCertsFromPEM(pem) {
				return c, fmt.Errorf("the OTLP CA certificate %s holds no PEM certificate", ca)
			}
		}
		if cert != "" {
			pair, err := tls.LoadX509KeyPair(cert, key)
			if err != nil {
				return c, fmt.Errorf("the OTLP client certificate: %w", err)
			}
			c.TLS.Certificates = []tls.Certificate{pair}
		}
	}
	return c, nil
}

// parseHeaders reads OTEL_EXPORTER_OTLP_HEADERS: name=value pairs
// separated by commas, values percent-encoded. A name or a value that
// cannot go in an HTTP header is refused here, at start, rather than
// failing every export.
func parseHeaders(v string) (map[string]string, error) {
	h := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		name, val, ok := strings.Cut(kv, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("%q is not name=value", kv)
		}
		if dec, err := url.QueryUnescape(strings.TrimSpace(val)); err == nil {
			val = dec
		}
		if !httpguts.ValidHeaderFieldName(name) {
			return nil, fmt.Errorf("%q is not an HTTP header name", name)
		}
		if !httpguts.ValidHeaderFieldValue(val) {
			return nil, fmt.Errorf("the value of %s holds a character an HTTP header cannot carry", name)
		}
		h[name] = val
	}
	return h, nil
}

// Exporter sends spans to an OTLP/HTTP endpoint.
type Exporter struct {
	cfg    Config
	client *http.Client

	mu      sync.Mutex
	stopped bool
}

var _ sdktrace.SpanExporter = (*Exporter)(nil)

// New returns an exporter for cfg.
func New(cfg Config) *Exporter {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg.TLS
	return &Exporter{cfg: cfg, client: &http.Client{Transport: t}}
}

// ExportSpans sends one batch, retrying while the endpoint asks to.
func (x *Exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	x.mu.Lock()
	stopped := x.stopped
	x.mu.Unlock()
	if stopped || len(spans) == 0 {
		return nil
	}
	body, err := Encode(spans)
	if err != nil {
		return err
	}
	if x.cfg.Gzip {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		_, _ = zw.Write(body)
		_ = zw.Close()
		body = zb.Bytes()
	}
	ctx, cancel := context.WithTimeout(ctx, x.cfg.Timeout)
	defer cancel()
	delay := 100 * time.Millisecond
	for {
		retry, err := x.post(ctx, body)
		if err == nil || retry < 0 {
			return err
		}
		if retry > 0 {
			delay = retry
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up: %v)", err, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// post makes one attempt. retry is negative when the error is final, else
// the delay the endpoint asked for (0: the exporter's backoff).
func (x *Exporter) post(ctx context.Context, body []byte) (retry time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, x.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return -1, err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", "chatflow-executor")
	if x.cfg.Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	for k, v := range x.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := x.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return -1, fmt.Errorf("exporting spans: %w", err)
		}
		return 0, fmt.Errorf("exporting spans: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return 0, nil
	case code == http.StatusTooManyRequests || code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout:
		d := time.Duration(0)
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			d = time.Duration(s) * time.Second
		}
		return d, fmt.Errorf("exporting spans: %s answered %s", x.cfg.URL, resp.Status)
	default:
		return -1, fmt.Errorf("exporting spans: %s answered %s", x.cfg.URL, resp.Status)
	}
}

// Shutdown stops exporting; the SDK flushes its batch before calling it.
func (x *Exporter) Shutdown(context.Context) error {
	x.mu.Lock()
	x.stopped = true
	x.mu.Unlock()
	x.client.CloseIdleConnections()
	return nil
}

// Encode makes the body of an OTLP/HTTP export: an
// ExportTraceServiceRequest holding spans grouped by resource and scope.
func Encode(spans []sdktrace.ReadOnlySpan) ([]byte, error) {
	type scopeKey struct{ name, version, schema string }
	var order []*tracepb.ResourceSpans
	byRes := map[attribute.Distinct]*tracepb.ResourceSpans{}
	byScope := map[*tracepb.ResourceSpans]map[scopeKey]*tracepb.ScopeSpans{}
	for _, s := range spans {
		res := s.Resource()
		var key attribute.Distinct
		if res != nil {
			key = res.Equivalent()
		}
		rs := byRes[key]
		if rs == nil {
			rs = &tracepb.ResourceSpans{Resource: &resourcepb.Resource{}}
			if res != nil {
				rs.Resource.Attributes = keyValues(res.Attributes())
				rs.SchemaUrl = res.SchemaURL()
			}
			byRes[key] = rs
			byScope[rs] = map[scopeKey]*tracepb.ScopeSpans{}
			order = append(order, rs)
		}
		is := s.InstrumentationScope()
		sk := scopeKey{is.Name, is.Version, is.SchemaURL}
		ss := byScope[rs][sk]
		if ss == nil {
			ss = &tracepb.ScopeSpans{Scope: &commonpb.InstrumentationScope{Name: is.Name, Version: is.Version}, SchemaUrl: is.SchemaURL}
			byScope[rs][sk] = ss
			rs.ScopeSpans = append(rs.ScopeSpans, ss)
		}
		ss.Spans = append(ss.Spans, span(s))
	}
	var out []byte
	for _, rs := range order {
		b, err := proto.Marshal(rs)
		if err != nil {
			return nil, err
		}
		out = protowire.AppendTag(out, 1, protowire.BytesType)
		out = protowire.AppendBytes(out, b)
	}
	return out, nil
}

func span(s sdktrace.ReadOnlySpan) *tracepb.Span {
	sc, parent := s.SpanContext(), s.Parent()
	tid, sid := sc.TraceID(), sc.SpanID()
	p := &tracepb.Span{
		TraceId:                tid[:],
		SpanId:                 sid[:],
		TraceState:             sc.TraceState().String(),
		Name:                   s.Name(),
		Kind:                   tracepb.Span_SpanKind(s.SpanKind()), // the same numbering
		StartTimeUnixNano:      uint64(s.StartTime().UnixNano()),
		EndTimeUnixNano:        uint64(s.EndTime().UnixNano()),
		Attributes:             keyValues(s.Attributes()),
		DroppedAttributesCount: uint32(s.DroppedAttributes()),
		DroppedEventsCount:     uint32(s.DroppedEvents()),
		DroppedLinksCount:      uint32(s.DroppedLinks()),
		Flags:                  uint32(sc.TraceFlags()) | uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK),
	}
	if parent.IsValid() {
		psid := parent.SpanID()
		p.ParentSpanId = psid[:]
		if parent.IsRemote() {
			p.Flags |= uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK)
		}
	}
	for _, e := range s.Events() {
		p.Events = append(p.Events, &tracepb.Span_Event{TimeUnixNano: uint64(e.Time.UnixNano()), Name: e.Name,
			Attributes: keyValues(e.Attributes), DroppedAttributesCount: uint32(e.DroppedAttributeCount)})
	}
	for _, l := range s.Links() {
		ltid, lsid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
		p.Links = append(p.Links, &tracepb.Span_Link{TraceId: ltid[:], SpanId: lsid[:], TraceState: l.SpanContext.TraceState().String(),
			Attributes: keyValues(l.Attributes), DroppedAttributesCount: uint32(l.DroppedAttributeCount), Flags: uint32(l.SpanContext.TraceFlags())})
	}
	st := s.Status()
	switch st.Code {
	case codes.Error:
		p.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: st.Description}
	case codes.Ok:
		p.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK}
	}
	return p
}

func keyValues(kvs []attribute.KeyValue) []*commonpb.KeyValue {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]*commonpb.KeyValue, 0, len(kvs))
	for _, kv := range kvs {
		out = append(out, &commonpb.KeyValue{Key: string(kv.Key), Value: anyValue(kv.Value)})
	}
	return out
}

func anyValue(v attribute.Value) *commonpb.AnyValue {
	a := &commonpb.AnyValue{}
	switch v.Type() {
	case attribute.BOOL:
		a.Value = &commonpb.AnyValue_BoolValue{BoolValue: v.AsBool()}
	case attribute.INT64:
		a.Value = &commonpb.AnyValue_IntValue{IntValue: v.AsInt64()}
	case attribute.FLOAT64:
		a.Value = &commonpb.AnyValue_DoubleValue{DoubleValue: v.AsFloat64()}
	case attribute.STRING:
		a.Value = &commonpb.AnyValue_StringValue{StringValue: v.AsString()}
	case attribute.BOOLSLICE:
		a.Value = array(v.AsBoolSlice(), func(b bool) *commonpb.AnyValue {
			return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: b}}
		})
	case attribute.INT64SLICE:
		a.Value = array(v.AsInt64Slice(), func(i int64) *commonpb.AnyValue {
			return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: i}}
		})
	case attribute.FLOAT64SLICE:
		a.Value = array(v.AsFloat64Slice(), func(f float64) *commonpb.AnyValue {
			return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}
		})
	case attribute.STRINGSLICE:
		a.Value = array(v.AsStringSlice(), func(s string) *commonpb.AnyValue {
			return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
		})
	default:
		a.Value = &commonpb.AnyValue_StringValue{StringValue: v.Emit()}
	}
	return a
}

func array[T any](vs []T, f func(T) *commonpb.AnyValue) *commonpb.AnyValue_ArrayValue {
	arr := &commonpb.ArrayValue{Values: make([]*commonpb.AnyValue, len(vs))}
	for i, v := range vs {
		arr.Values[i] = f(v)
	}
	return &commonpb.AnyValue_ArrayValue{ArrayValue: arr}
}
