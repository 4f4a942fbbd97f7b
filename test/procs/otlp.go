package procs

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// OTLPReceiver is an OTLP/HTTP trace receiver on a loopback port, for
// processes that export their spans (OTEL_EXPORTER_OTLP_ENDPOINT=URL): it
// decodes what they POST to /v1/traces with the OTLP protobuf types.
type OTLPReceiver struct {
	URL string

	mu    sync.Mutex
	spans []Span
	res   [][]string
}

// Span is a span received, with the service.name of its resource.
type Span struct {
	*tracepb.Span
	Service string
}

// StartOTLPReceiver serves a receiver until the test ends.
func StartOTLPReceiver(t testing.TB) *OTLPReceiver {
	o := &OTLPReceiver{}
	srv := httptest.NewServer(o)
	t.Cleanup(srv.Close)
	o.URL = srv.URL
	return o
}

func (o *OTLPReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want POST /v1/traces of application/x-protobuf", http.StatusBadRequest)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(data, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		var keys []string
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			keys = append(keys, kv.Key+"="+AttrString(kv.GetValue()))
			if kv.Key == "service.name" {
				service = AttrString(kv.GetValue())
			}
		}
		o.res = append(o.res, keys)
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				o.spans = append(o.spans, Span{Span: s, Service: service})
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

// Trace returns the spans of a trace received so far.
func (o *OTLPReceiver) Trace(id []byte) []Span {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Span
	for _, s := range o.spans {
		if bytes.Equal(s.TraceId, id) {
			out = append(out, s)
		}
	}
	return out
}

// Spans returns every span received so far.
func (o *OTLPReceiver) Spans() []Span {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.spans)
}

// Resources returns the resource attributes (key=value) of each batch.
func (o *OTLPReceiver) Resources() [][]string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.res)
}

// AttrString renders an attribute value: strings as they are, others in Go
// syntax.
func AttrString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	case *commonpb.AnyValue_BoolValue:
		return fmt.Sprint(x.BoolValue)
	}
	return fmt.Sprint(v)
}

// Attrs are a span's attributes, rendered by AttrString.
func (s Span) Attrs() map[string]string {
	out := map[string]string{}
	for _, kv := range s.Attributes {
		out[kv.Key] = AttrString(kv.GetValue())
	}
	return out
}
