package studio

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/internal/dev/statefile"
)

// Counters are the per-node numbers drawn on a live flow's canvas.
type Counters struct {
	// Entered counts the runs that entered the node.
	Entered float64 `json:"entered"`
	// Errors counts the node's errors, all reasons.
	Errors float64 `json:"errors"`
	// Waiting is the number of contacts waiting at the node now.
	Waiting float64 `json:"waiting"`
}

// The executor's per-node metrics. Counters are summed over the replicas;
// the gauge is the largest any replica reports, since replicas sharing a
// Redis store see the same waiting contacts.
const (
	metricEntered = "chatflow_node_entered_total"
	metricErrors  = "chatflow_node_errors_total"
	metricWaiting = "chatflow_node_waiting"
)

// addNodeCounters adds one replica's metrics of the flow ns/flow to into,
// by node id. It is the one place that knows the metrics' names and
// labels; series without a node label (older executors count errors by
// node type only) are not per node and are skipped.
func addNodeCounters(fams map[string]*dto.MetricFamily, ns, flow string, into map[string]*Counters) {
	for _, name := range []string{metricEntered, metricErrors, metricWaiting} {
		fam := fams[name]
		if fam == nil {
			continue
		}
		for _, m := range fam.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			node := labels["node"]
			if node == "" || (labels["namespace"] != "" && labels["namespace"] != ns) || (labels["flow"] != "" && labels["flow"] != flow) {
				continue
			}
			c := into[node]
			if c == nil {
				c = &Counters{}
				into[node] = c
			}
			switch name {
			case metricEntered:
				c.Entered += m.GetCounter().GetValue()
			case metricErrors:
				c.Errors += m.GetCounter().GetValue()
			case metricWaiting:
				c.Waiting = max(c.Waiting, m.GetGauge().GetValue())
			}
		}
	}
}

// parseMetrics reads the Prometheus text format of an executor's /metrics.
func parseMetrics(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(io.LimitReader(r, 16<<20))
}

// counters reads the per-node counters of a live flow from every replica
// of its executor: the local processes of `chatflow dev`, else the pods
// through the API server's pod proxy, with the user's credentials.
func (l *live) counters(r *http.Request) (any, error) {
	ns, name := l.namespace(r), r.URL.Query().Get("name")
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	var sources []func() (io.ReadCloser, error)
	if st, err := statefile.LoadState(l.devDir); err == nil && l.devDir != "" {
		if e, ok := st.ExecutorOf(ns, name); ok {
			for _, rep := range e.Replicas {
				if rep.Ready {
					url := strings.TrimRight(rep.URL, "/") + "/metrics"
					sources = append(sources, func() (io.ReadCloser, error) { return httpGet(ctx, url) })
				}
			}
		}
	} else {
		c, err := l.c()
		if err != nil {
			return nil, err
		}
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels(builders.SelectorLabels(name))); err != nil {
			return nil, kubeError(err)
		}
		cs, err := kubernetes.NewForConfig(l.cluster.Config)
		if err != nil {
			return nil, err
		}
		for _, p := range pods.Items {
			if p.Status.Phase != corev1.PodRunning {
				continue
			}
			pod := p.Name
			sources = append(sources, func() (io.ReadCloser, error) {
				return cs.CoreV1().Pods(ns).ProxyGet("http", pod, builders.PortName, "metrics", nil).Stream(ctx)
			})
		}
	}
	out := map[string]*Counters{}
	var errs []string
	for _, src := range sources {
		body, err := src()
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		fams, err := parseMetrics(body)
		body.Close()
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		addNodeCounters(fams, ns, name, out)
	}
	return map[string]any{"replicas": len(sources), "nodes": out, "errors": errs}, nil
}

func httpGet(ctx context.Context, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return resp.Body, nil
}
