package chart

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/chatflow-dev/chatflow/runtime/executor"
)

// external are the metrics the alerts read from elsewhere: kube-state-metrics.
var external = []string{"kube_deployment_spec_replicas", "kube_deployment_status_replicas_available"}

var (
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	promKeywords = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "inf", "nan"}
	labelValues  = regexp.MustCompile(`^\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$`)
)

// metricNames are the metric names a PromQL expression (or a Grafana
// label_values query) selects: what is left once strings, label matchers,
// ranges and grouping labels are taken out, without function names,
// keywords and numbers.
func metricNames(expr string) []string {
	if m := labelValues.FindStringSubmatch(expr); m != nil {
		expr = m[1]
	}
	e := promStrings.ReplaceAllString(expr, `""`)
	e = promMatchers.ReplaceAllString(e, " ")
	e = promRanges.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	var out []string
	for _, loc := range promIdent.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		if loc[0] > 0 && strings.ContainsAny(e[loc[0]-1:loc[0]], "0123456789.$") {
			continue // 1e-9, $__range
		}
		if rest := strings.TrimLeft(e[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") || slices.Contains(promKeywords, name) {
			continue // a function, an aggregation, a keyword
		}
		out = append(out, name)
	}
	return out
}

func TestMetricNamesOfPromQL(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum by (node, reason) (rate(chatflow_node_errors_total{flow="$flow",x=~"a|b"}[$__rate_interval]))`: {"chatflow_node_errors_total"},
		`a_total / clamp_min(sum(b_total{r="ok"}), 1e-9) > 0.05`:                                            {"a_total", "b_total"},
		`x > 0 unless on (namespace, flow) sum by (namespace) (rate(y[10m])) > 0`:                           {"x", "y"},
		`label_values(chatflow_turns_total{namespace="$namespace"}, flow)`:                                  {"chatflow_turns_total"},
		`histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))`:                                        {"h_bucket"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%s) = %v, want %v", expr, got, want)
		}
	}
}

// The dashboard and the alert rules query only metrics the executor
// exposes (or kube-state-metrics' for the executors' Deployments), every
// dashboard query is of the flow picked, and they cover what operators
// look at: the funnel by node, where contacts wait, errors, sends, latency
// and the queue.
func TestDashboardAndAlertsQueryExecutorMetrics(t *testing.T) {
	registered := executor.MetricNames()
	objs := decode(t, render(t, "monitoring"))
	var dashboard, rule *unstructured.Unstructured
	for _, o := range objs {
		switch {
		case o.GetKind() == "ConfigMap" && strings.HasSuffix(o.GetName(), "-dashboards"):
			dashboard = o
		case o.GetKind() == "PrometheusRule":
			rule = o
		}
	}
	if dashboard == nil || rule == nil {
		t.Fatalf("monitoring.yaml renders no dashboard ConfigMap (%v) or PrometheusRule (%v)", dashboard != nil, rule != nil)
	}
	if dashboard.GetLabels()["grafana_dashboard"] != "1" || dashboard.GetNamespace() != "support" {
		t.Errorf("the dashboard ConfigMap: labels %v in %s; want grafana_dashboard: \"1\" in support", dashboard.GetLabels(), dashboard.GetNamespace())
	}
	check := func(where, expr string) []string {
		t.Helper()
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric in %q", where, expr)
		}
		for _, n := range names {
			if !slices.Contains(registered, n) && !slices.Contains(external, n) {
				t.Errorf("%s queries %s, which the executor does not expose (it has %v)", where, n, registered)
			}
		}
		return names
	}

	data, _, _ := unstructured.NestedStringMap(dashboard.Object, "data")
	var dash struct {
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(data["chatflow-flows.json"]), &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	vars := map[string]bool{}
	for _, v := range dash.Templating.List {
		vars[v.Name] = true
		if q, ok := v.Query.(map[string]any); ok && v.Type == "query" {
			check("variable "+v.Name, q["query"].(string))
		}
	}
	if !vars["namespace"] || !vars["flow"] || !vars["datasource"] {
		t.Errorf("dashboard variables: %v; want datasource, namespace and flow", vars)
	}
	queried := map[string]bool{}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, n := range check("panel "+p.Title, tg.Expr) {
				queried[n] = true
			}
			if strings.Count(tg.Expr, `namespace="$namespace",flow="$flow"`) != strings.Count(tg.Expr, "chatflow_") {
				t.Errorf("panel %q: a selector is not of the flow picked: %s", p.Title, tg.Expr)
			}
		}
	}
	for _, m := range []string{"chatflow_node_entered_total", "chatflow_node_waiting", "chatflow_node_errors_total",
		"chatflow_sends_total", "chatflow_turn_latency_seconds_bucket", "chatflow_queue_depth"} {
		if !queried[m] {
			t.Errorf("no panel shows %s", m)
		}
	}

	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	alerts := map[string]string{}
	for _, g := range groups {
		rules, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
		for _, r := range rules {
			r := r.(map[string]any)
			name, _ := r["alert"].(string)
			expr, _ := r["expr"].(string)
			alerts[name] = expr
			check("alert "+name, expr)
			if sev, _, _ := unstructured.NestedString(r, "labels", "severity"); sev == "" {
				t.Errorf("alert %s has no severity", name)
			}
			if s, _, _ := unstructured.NestedString(r, "annotations", "summary"); s == "" {
				t.Errorf("alert %s has no summary", name)
			}
		}
	}
	for _, a := range []string{"ChatflowQueueStuck", "ChatflowSendFailures", "ChatflowExecutorUnavailable"} {
		if alerts[a] == "" {
			t.Errorf("no alert %s: %v", a, alerts)
		}
	}
	if !strings.Contains(alerts["ChatflowSendFailures"], "> 0.1") || !strings.Contains(alerts["ChatflowQueueBacklog"], "> 500") {
		t.Errorf("the thresholds of the values are not in the rules: %v", alerts)
	}
}
