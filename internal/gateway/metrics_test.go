package gateway

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDocumentedMetricsMatchTheRegistry: every chatflow_gateway_ metric of
// docs/operations.md's tables is registered with exactly the labels shown,
// and every one registered is listed.
func TestDocumentedMetricsMatchTheRegistry(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string][]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(chatflow_gateway_[a-z_]+)(?:\\{([a-z_,]+)\\})?` \\|").FindAllStringSubmatch(string(doc), -1) {
		var labels []string
		if m[2] != "" {
			labels = strings.Split(m[2], ",")
		}
		slices.Sort(labels)
		documented[m[1]] = labels
	}
	m := newMetrics()
	m.table(Build(Input{}))
	m.observe("whatsapp", 200, epoch)
	m.forward.WithLabelValues("whatsapp")
	fams, err := m.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string][]string{}
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "chatflow_") || len(f.GetMetric()) == 0 {
			continue
		}
		var labels []string
		for _, l := range f.GetMetric()[0].GetLabel() {
			labels = append(labels, l.GetName())
		}
		slices.Sort(labels)
		registered[f.GetName()] = labels
	}
	for name, labels := range documented {
		if got, ok := registered[name]; !ok {
			t.Errorf("docs/operations.md lists %s, which the gateway does not register", name)
		} else if !slices.Equal(got, labels) {
			t.Errorf("%s: documented with labels %v, registered with %v", name, labels, got)
		}
	}
	for name := range registered {
		if _, ok := documented[name]; !ok {
			t.Errorf("%s is registered but not in docs/operations.md's table", name)
		}
	}
}
