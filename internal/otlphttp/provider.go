package otlphttp

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// Start is FromEnvironment for a process: stop exports what is batched,
// logging a failure, and does nothing when tracing is off.
func Start(ctx context.Context, log *slog.Logger, service string, attrs ...attribute.KeyValue) (trace.TracerProvider, func(), error) {
	tp, shutdown, err := FromEnvironment(ctx, service, attrs...)
	if err != nil || shutdown == nil {
		return tp, func() {}, err
	}
	return tp, func() {
		if err := shutdown(context.Background()); err != nil {
			log.Warn("exporting the last spans", "error", err)
		}
	}, nil
}

// FromEnvironment sets up tracing from the OTEL_* environment variables of
// the OpenTelemetry specification, and returns nil (tracing off) unless an
// OTLP endpoint is set: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
// OTEL_EXPORTER_OTLP_ENDPOINT. OTEL_SDK_DISABLED=true and
// OTEL_TRACES_EXPORTER=none turn it off too.
//
// The SDK reads its sampler (OTEL_TRACES_SAMPLER, default
// parentbased_always_on: a caller's sampling decision holds) and batching
// (OTEL_BSP_*); the resource is service (the default service.name), attrs,
// then OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, which win. shutdown
// exports what is batched.
func FromEnvironment(ctx context.Context, service string, attrs ...attribute.KeyValue) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(os.Getenv("OTEL_TRACES_EXPORTER"), "none") || !Configured() {
		return nil, nil, nil
	}
	if e := os.Getenv("OTEL_TRACES_EXPORTER"); e != "" && e != "otlp" {
		return nil, nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: traces are exported with otlp (or none)", e)
	}
	cfg, err := FromEnv()
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	base := append([]attribute.KeyValue{semconv.ServiceName(service), semconv.ServiceInstanceID(fmt.Sprintf("%s-%d", host, os.Getpid()))}, attrs...)
	res, err := resource.New(ctx, resource.WithAttributes(base...), resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, nil, fmt.Errorf("the trace resource: %w", err)
	}
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(New(cfg)), sdktrace.WithResource(res))
	return sdk, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return sdk.Shutdown(ctx)
	}, nil
}
