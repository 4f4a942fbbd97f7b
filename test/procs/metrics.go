package procs

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Metric returns the value of one series of a process's /metrics, e.g.
// `chatflow_gateway_events_total{channel="whatsapp",result="unrouted"}`;
// 0 when the series is absent.
func Metric(url, series string) (float64, error) {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, nil
}
