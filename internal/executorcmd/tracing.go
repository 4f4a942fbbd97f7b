package executorcmd

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/chatflow-dev/chatflow/internal/otlphttp"
)

// tracingFromEnv sets up the executor's tracing from the OTEL_* variables
// (internal/otlphttp): off unless an OTLP endpoint is set. Spans go over
// OTLP/HTTP (http/protobuf, port 4318; otlphttp says why not gRPC), as
// service chatflow-executor of the flow's namespace.
func tracingFromEnv(ctx context.Context, namespace, flowName string) (trace.TracerProvider, func(context.Context) error, error) {
	return otlphttp.FromEnvironment(ctx, "chatflow-executor", semconv.K8SNamespaceName(namespace), attribute.String("chatflow.flow", flowName))
}
