package executorcmd

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/chatflow-dev/chatflow/internal/otlphttp"
)

// tracingFromEnv sets up OpenTelemetry tracing from the OTEL_* environment
// variables of the OpenTelemetry specification, and returns nil (tracing
// off) unless an OTLP endpoint is set: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
// or OTEL_EXPORTER_OTLP_ENDPOINT. OTEL_SDK_DISABLED=true and
// OTEL_TRACES_EXPORTER=none turn it off too.
//
// Spans go over OTLP/HTTP (http/protobuf, port 4318; internal/otlphttp says
// why not gRPC). The SDK reads its sampler (OTEL_TRACES_SAMPLER, default
// parentbased_always_on: a gateway's sampling decision holds) and batching
// (OTEL_BSP_*), and the resource OTEL_SERVICE_NAME (default
// chatflow-executor) and OTEL_RESOURCE_ATTRIBUTES.
func tracingFromEnv(ctx context.Context, namespace, flowName string) (trace.TracerProvider, func(context.Context) error, error) {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(os.Getenv("OTEL_TRACES_EXPORTER"), "none") ||
		!otlphttp.Configured() {
		return nil, nil, nil
	}
	if e := os.Getenv("OTEL_TRACES_EXPORTER"); e != "" && e != "otlp" {
		return nil, nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: the executor exports traces with otlp (or none)", e)
	}
	cfg, err := otlphttp.FromEnv()
	if err != nil {
		return nil, nil, err
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName("chatflow-executor"), semconv.K8SNamespaceName(namespace),
			semconv.ServiceInstanceID(instanceID()), attribute.String("chatflow.flow", flowName)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("the trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(otlphttp.New(cfg)), sdktrace.WithResource(res))
	return tp, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return tp.Shutdown(ctx) // exports what is batched
	}, nil
}

// instanceID names this executor process among its flow's replicas.
func instanceID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}
