//go:build bench

// Package bench is `make bench`: a load test of a real executor process
// through its HTTP port. A Go load generator plays N contacts × K turns of
// signed WhatsApp text webhooks, each contact waiting for its reply before
// its next turn, against the executor with the memory store and then the
// Redis store, with the channel sandbox receiving the replies. It prints
// throughput, end-to-end latency, reply accounting and the executor's peak
// RSS. Figures are printed, never asserted: timings do not belong in
// pass/fail tests. Reply accounting is asserted (nothing missing).
package bench

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/internal/harness"
	"github.com/chatflow-dev/chatflow/runtime/channel/sandbox"
	"github.com/chatflow-dev/chatflow/runtime/store/redistest"
)

var (
	contacts = flag.Int("contacts", 50, "contacts talking at once")
	turns    = flag.Int("turns", 20, "turns per contact")
)

const (
	phoneID   = "106540352242922"
	appSecret = "bench-app-secret"
	echoFlow  = `
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: echo, namespace: bench}
spec:
  trigger: {type: WhatsApp}
  nodes:
  - {id: start, type: Start, next: reply}
  - {id: reply, type: SendMessage, sendMessage: {text: "you said {{ message.text }}"}, next: wait}
  - {id: wait, type: WaitForReply, waitForReply: {timeout: 1h}, next: loop}
  - {id: loop, type: Jump, jump: {target: reply, maxJumps: 100}, next: end}
  - {id: end, type: End}
`
)

func TestLoad(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			url := "memory"
			if store == "redis" {
				url, _ = redistest.Start(t)
			}
			run(t, store, url)
		})
	}
}

func run(t *testing.T, name, storeURL string) {
	sb := httptest.NewServer(sandbox.New(sandbox.Options{}))
	defer sb.Close()
	e := harness.StartExecutor(t, harness.ExecutorSpec{
		Flow: echoFlow,
		Binding: fmt.Sprintf(`
apiVersion: chatflow.dev/v1alpha1
kind: ChannelBinding
metadata: {name: bench, namespace: bench}
spec:
  flowRef: {name: echo}
  channel: WhatsApp
  account: {id: %q}
  credentialsRef: {name: bench}
  apiBaseURL: %s
`, phoneID, sb.URL),
		Credentials: map[string]string{"accessToken": "t", "appSecret": appSecret, "verifyToken": "v"},
		Store:       storeURL,
		// The sandbox has no throughput limit; WhatsApp's default of 80
		// messages/s would otherwise be all this measures.
		Args: []string{"--workers", "32", "--send-rate", "1000000"},
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 30 * time.Second}

	// Warm up connections and the executor's first-use paths.
	oneTurn(client, e.URL, sb.URL, "warmup", 0, 0)

	var (
		mu        sync.Mutex
		latencies []time.Duration
		missing   int
		dup       int
	)
	stopRSS := make(chan struct{})
	peak := make(chan int64, 1)
	go func() { peak <- samplePeakRSS(e.Pid(), stopRSS) }()

	start := time.Now()
	var wg sync.WaitGroup
	for c := range *contacts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := fmt.Sprintf("4477%05d", c)
			var after int64
			for k := range *turns {
				lat, seq, ok := oneTurn(client, e.URL, sb.URL, from, k, after)
				mu.Lock()
				if ok {
					latencies = append(latencies, lat)
					after = seq
				} else {
					missing++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	// Let late duplicates show up, then account for every reply.
	time.Sleep(200 * time.Millisecond)
	for c := range *contacts {
		msgs, err := harness.SandboxMessages(context.Background(), sb.URL, fmt.Sprintf("4477%05d", c), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		dup += len(msgs) - *turns
	}
	close(stopRSS)
	rss := <-peak

	total := *contacts * *turns
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(float64(len(latencies))*p))]
	}
	fmt.Printf("store=%-6s contacts=%d turns=%d  webhooks/s=%.0f  latency p50=%v p99=%v  replies ok=%d missing=%d duplicated=%d  executor peak RSS=%.1f MiB\n",
		name, *contacts, *turns, float64(total)/elapsed.Seconds(), pct(0.50).Round(10*time.Microsecond),
		pct(0.99).Round(10*time.Microsecond), len(latencies), missing, max(dup, 0), float64(rss)/1024)
	if missing > 0 || dup > 0 {
		t.Errorf("replies missing: %d, duplicated: %d\n%s", missing, dup, e.Log())
	}
}

// oneTurn sends turn k of a contact and waits for its reply (a sandbox
// record newer than after). It returns the latency from sending the
// webhook to receiving the reply, and the reply's sequence number.
func oneTurn(c *http.Client, execURL, sandboxURL, from string, k int, after int64) (time.Duration, int64, bool) {
	body, err := harness.WhatsAppWebhook(phoneID, harness.WhatsAppMessage{
		From: from, Name: "Bench", ID: fmt.Sprintf("wamid.%s.%d", from, k), Text: "m" + strconv.Itoa(k)})
	if err != nil {
		return 0, 0, false
	}
	start := time.Now()
	code, err := harness.PostWebhook(context.Background(), c, execURL, "/webhooks/whatsapp", body, appSecret)
	if err != nil || code != http.StatusOK {
		return 0, 0, false
	}
	want := "you said m" + strconv.Itoa(k)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		msgs, err := harness.SandboxMessages(context.Background(), sandboxURL, from, after, 5*time.Second)
		if err != nil {
			return 0, 0, false
		}
		for _, m := range msgs {
			if m.Text() == want {
				return time.Since(start), m.Seq, true
			}
			after = m.Seq
		}
	}
	return 0, 0, false
}

// samplePeakRSS returns the process's peak resident set (VmHWM, KiB) when
// stop closes.
func samplePeakRSS(pid int, stop <-chan struct{}) int64 {
	read := func() int64 {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return 0
		}
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				return n
			}
		}
		return 0
	}
	var peak int64
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return max(peak, read())
		case <-t.C:
			peak = max(peak, read())
		}
	}
}
