package testenv

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// metricRow is a row of a metrics table of docs/operations.md:
// | `chatflow_name{label,label}` | meaning |
var metricRow = regexp.MustCompile("(?m)^\\| `(chatflow_[a-z_]+)(?:\\{([a-z_,]+)\\})?` \\|")

// CheckDocumentedMetrics holds a component's Prometheus registry to the
// metrics tables of docs/operations.md: every chatflow_ metric that mine
// selects is listed there with exactly the labels it has, and every one
// listed is registered. Vectors must have a series to be gathered.
func CheckDocumentedMetrics(t testing.TB, component string, g prometheus.Gatherer, mine func(name string) bool) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(RepoRoot(), "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string][]string{}
	for _, m := range metricRow.FindAllStringSubmatch(string(doc), -1) {
		if !mine(m[1]) {
			continue
		}
		var labels []string
		if m[2] != "" {
			labels = strings.Split(m[2], ",")
		}
		slices.Sort(labels)
		documented[m[1]] = labels
	}
	if len(documented) == 0 {
		t.Fatalf("found no metrics of the %s in docs/operations.md: has the table's format changed?", component)
	}
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string][]string{}
	for _, f := range fams {
		if ms := f.GetMetric(); strings.HasPrefix(f.GetName(), "chatflow_") && mine(f.GetName()) && len(ms) > 0 {
			var labels []string
			for _, l := range ms[0].GetLabel() {
				labels = append(labels, l.GetName())
			}
			slices.Sort(labels)
			registered[f.GetName()] = labels
		}
	}
	for name, labels := range documented {
		if got, ok := registered[name]; !ok {
			t.Errorf("docs/operations.md lists %s, which the %s does not register", name, component)
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
