package otlphttp

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

func TestFromEnv(t *testing.T) {
	clear := func() {
		for _, k := range []string{"ENDPOINT", "HEADERS", "TIMEOUT", "COMPRESSION", "PROTOCOL", "CERTIFICATE"} {
			t.Setenv("OTEL_EXPORTER_OTLP_"+k, "")
			t.Setenv("OTEL_EXPORTER_OTLP_TRACES_"+k, "")
		}
	}
	clear()
	if Configured() {
		t.Fatal("Configured without an endpoint")
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=a%20b, tenant=shop")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500")
	t.Setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.URL != "http://collector:4318/v1/traces" || c.Headers["x-api-key"] != "a b" || c.Headers["tenant"] != "shop" ||
		c.Timeout != 2500*time.Millisecond || !c.Gzip {
		t.Errorf("config %+v", c)
	}
	// The signal's own endpoint is taken as it is.
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://traces.example.com/custom")
	if c, _ := FromEnv(); c.URL != "https://traces.example.com/custom" {
		t.Errorf("traces endpoint: %s", c.URL)
	}
	for env, want := range map[string]string{
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc":           "OTLP over HTTP only",
		"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT=soon":     "milliseconds",
		"OTEL_EXPORTER_OTLP_COMPRESSION=zstd":        "gzip or none",
		"OTEL_EXPORTER_OTLP_HEADERS=novalue":         "name=value",
		"OTEL_EXPORTER_OTLP_HEADERS=a b=c":           "not an HTTP header name",
		"OTEL_EXPORTER_OTLP_HEADERS=auth=x%0Ay":      "a character an HTTP header cannot carry",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=ftp://x": "not an http",
		"OTEL_EXPORTER_OTLP_CERTIFICATE=/nonexist":   "CA certificate",
	} {
		t.Run(env, func(t *testing.T) {
			k, v, _ := strings.Cut(env, "=")
			t.Setenv(k, v)
			if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v, want an error saying %q", env, err, want)
			}
		})
	}
}

func stub(name string, parent trace.SpanContext) tracetest.SpanStub {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	start := time.Unix(1700000000, 0)
	return tracetest.SpanStub{
		Name:        name,
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}),
		Parent:      parent,
		SpanKind:    trace.SpanKindClient,
		StartTime:   start, EndTime: start.Add(time.Second),
		Attributes: []attribute.KeyValue{attribute.String("s", "v"), attribute.Int("i", 7), attribute.Bool("b", true),
			attribute.Float64("f", 1.5), attribute.StringSlice("ss", []string{"a", "b"})},
		Events:               []sdktrace.Event{{Name: "error", Time: start, Attributes: []attribute.KeyValue{attribute.String("reason", "timeout")}}},
		Status:               sdktrace.Status{Code: codes.Error, Description: "boom"},
		Resource:             resource.NewSchemaless(attribute.String("service.name", "x")),
		InstrumentationScope: instrumentation.Scope{Name: "scope"},
	}
}

// Spans encode as an ExportTraceServiceRequest the OTLP types decode, and
// the exporter posts them (gzipped), retrying a 503.
func TestExportRoundTrip(t *testing.T) {
	remote := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, Remote: true})
	spans := tracetest.SpanStubs{stub("a", remote), stub("b", trace.SpanContext{})}.Snapshots()
	var calls atomic.Int32
	got := make(chan *coltracepb.ExportTraceServiceRequest, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get("X-Key") != "k" || r.Header.Get("Content-Encoding") != "gzip" {
			http.Error(w, "headers", http.StatusBadRequest)
			return
		}
		zr, _ := gzip.NewReader(r.Body)
		b, _ := io.ReadAll(zr)
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got <- &req
	}))
	defer srv.Close()
	x := New(Config{URL: srv.URL + "/v1/traces", Headers: map[string]string{"X-Key": "k"}, Timeout: 5 * time.Second, Gzip: true})
	if err := x.ExportSpans(context.Background(), spans); err != nil {
		t.Fatal(err)
	}
	req := <-got
	if calls.Load() != 2 {
		t.Errorf("%d calls, want a retry after the 503", calls.Load())
	}
	if len(req.ResourceSpans) != 1 || len(req.ResourceSpans[0].ScopeSpans) != 1 || len(req.ResourceSpans[0].ScopeSpans[0].Spans) != 2 {
		t.Fatalf("grouping: %v", req)
	}
	a := req.ResourceSpans[0].ScopeSpans[0].Spans[0]
	if a.Name != "a" || a.Kind != tracepb.Span_SPAN_KIND_CLIENT || !bytes.Equal(a.ParentSpanId, []byte{2, 0, 0, 0, 0, 0, 0, 0}) ||
		a.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || a.Status.GetMessage() != "boom" ||
		len(a.Attributes) != 5 || a.Attributes[1].GetValue().GetIntValue() != 7 || len(a.Attributes[4].GetValue().GetArrayValue().GetValues()) != 2 ||
		len(a.Events) != 1 || a.Events[0].Attributes[0].GetValue().GetStringValue() != "timeout" ||
		a.EndTimeUnixNano-a.StartTimeUnixNano != uint64(time.Second) || a.Flags&uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK) == 0 {
		t.Errorf("span a: %v", a)
	}
	if b := req.ResourceSpans[0].ScopeSpans[0].Spans[1]; len(b.ParentSpanId) != 0 {
		t.Errorf("a root span has a parent: %v", b)
	}
	if rs := req.ResourceSpans[0]; rs.Resource.Attributes[0].GetValue().GetStringValue() != "x" || req.ResourceSpans[0].ScopeSpans[0].Scope.Name != "scope" {
		t.Errorf("resource and scope: %v", rs)
	}

	// A 400 is final: no retry.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusBadRequest) }))
	defer bad.Close()
	x = New(Config{URL: bad.URL, Timeout: 5 * time.Second})
	if err := x.ExportSpans(context.Background(), spans); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("a 400: %v", err)
	}
}
