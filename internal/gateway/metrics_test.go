package gateway

import (
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/internal/testenv"
)

// TestDocumentedMetricsMatchTheRegistry: every chatflow_gateway_ metric of
// docs/operations.md's tables is registered with exactly the labels shown,
// and every one registered is listed.
func TestDocumentedMetricsMatchTheRegistry(t *testing.T) {
	m := newMetrics()
	m.table(Build(Input{}))
	m.observe("whatsapp", 200, epoch)
	m.forward.WithLabelValues("whatsapp")
	m.joined.WithLabelValues("whatsapp")
	testenv.CheckDocumentedMetrics(t, "gateway", m.registry, func(name string) bool {
		return strings.HasPrefix(name, "chatflow_gateway_")
	})
}
