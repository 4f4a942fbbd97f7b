//go:build bench

// Package bench is `make bench`: a load test of a real executor process
// through its HTTP port. A Go load generator plays N contacts × K turns of
// signed WhatsApp text webhooks, each contact waiting for its reply before
// its next turn, against the executor with the memory store and then the
// Redis store, with the channel sandbox receiving the replies. After a
// warm-up turn of as many other contacts, it plays five rounds (fresh
// contacts each) and prints each round's throughput, end-to-end latency,
// reply accounting and CPU per turn, then the median and the executor's
// peak RSS: on a shared machine a single round says little. Rounds of
// 50 × 20 turns (a fifth of a second) swung the gateway's measured cost
// between −4 % and −37 % from one run to the next; rounds of 50 × 100
// narrow that, though runs still differ by several percent. Each round is played twice, alternately:
// straight to the executor, then through a `chatflow gateway` process in
// front of the same executor, the way channels reach it in a cluster; the
// last line compares the medians (the cost of the hop). Figures are
// printed, never asserted: timings do not belong in pass/fail tests.
// Reply accounting is asserted (nothing missing, nothing doubled).
package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/internal/sandbox"
	"github.com/chatflow-dev/chatflow/runtime/store/redistest"
	"github.com/chatflow-dev/chatflow/test/procs"
)

var (
	contacts = flag.Int("contacts", 50, "contacts talking at once")
	turns    = flag.Int("turns", 100, "turns per contact (at most 100: the flow's maxJumps)")
	rounds   = flag.Int("rounds", 5, "rounds of contacts × turns, each with fresh contacts; the median is reported")
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
			var srv *redistest.Server
			if store == "redis" {
				url, srv = redistest.Start(t)
			}
			run(t, store, url, srv)
			if srv != nil && os.Getenv("BENCH_REDIS_STATS") != "" {
				out, _ := srv.Do("INFO", "commandstats")
				fmt.Println(out)
			}
		})
	}
}

func run(t *testing.T, name, storeURL string, redis *redistest.Server) {
	box := sandbox.New(sandbox.Options{})
	sb := httptest.NewServer(box)
	defer sb.Close()
	binding := fmt.Sprintf(`
apiVersion: chatflow.dev/v1alpha1
kind: ChannelBinding
metadata: {name: bench, namespace: bench}
spec:
  flowRef: {name: echo}
  channel: WhatsApp
  account: {id: %q}
  credentialsRef: {name: bench}
  apiBaseURL: %s
`, phoneID, sb.URL)
	creds := map[string]string{"accessToken": "t", "appSecret": appSecret, "verifyToken": "v"}
	e := procs.StartExecutor(t, procs.ExecutorSpec{
		Flow: echoFlow, Binding: binding, Credentials: creds, Store: storeURL,
		// The sandbox has no throughput limit; WhatsApp's default of 80
		// messages/s would otherwise be all this measures.
		Args: append([]string{"--workers", "32", "--send-rate", "1000000"}, profileArgs()...),
	})
	// The gateway routes the binding's number to this executor, as it
	// would the flow's Service in a cluster.
	g := procs.StartGateway(t, procs.GatewaySpec{
		Args:      profileArgs(),
		Manifests: "apiVersion: v1\nkind: Secret\nmetadata: {name: bench, namespace: bench}\nstringData: {appSecret: " + appSecret + ", verifyToken: v}\n---" + binding,
		Executors: map[string]string{"bench/echo-executor": e.URL},
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 30 * time.Second}

	stopRSS := make(chan struct{})
	peak := make(chan int64, 1)
	go func() { peak <- samplePeakRSS(e.Pid(), stopRSS) }()

	// Warm up as a long-running executor is: one turn of as many other
	// contacts at once, straight and through the gateway, so connection
	// pools, goroutines and the heap have grown to the load before the
	// clock starts, and the figures do not depend on how a fraction of a
	// second of start-up falls.
	var warmup sync.WaitGroup
	for c := range *contacts {
		for _, p := range []struct{ prefix, url string }{{"4488", e.URL}, {"4466", g.URL}} {
			from := fmt.Sprintf("%s%05d", p.prefix, c)
			warm, err := webhook(from, 0)
			if err != nil {
				t.Fatal(err)
			}
			warmup.Go(func() { oneTurn(client, p.url, box, from, 0, 0, warm) })
		}
	}
	warmup.Wait()

	redisPid := 0
	if redis != nil {
		redisPid = redis.Pid()
	}
	stopProfile := startProfile(t, map[string]string{"executor": e.URL, "gateway": g.URL}, name)
	direct := target{name: "direct", url: e.URL, prefix: "447", pids: []int{e.Pid()}}
	viaGateway := target{name: "gateway", url: g.URL, prefix: "449", pids: []int{e.Pid(), g.Pid()}}
	var results [2][]roundResult
	for r := range *rounds {
		for i, tg := range []target{direct, viaGateway} {
			results[i] = append(results[i], round(t, name, r, client, tg, box, sb.URL, redisPid))
		}
	}
	stopProfile()
	// Below saturation: the same contacts' turns paced to a quarter of the
	// direct median rate, so latency is the hop's and not the queue's; at
	// saturation the p50 mostly says how fairly the queue serves contacts.
	// (Half the rate is not far enough below: a turn costs more CPU when
	// fewer arrive together, and through the gateway that took the two
	// cores to 85 %.)
	lowLoad := median(results[0], func(r roundResult) float64 { return r.rate }) / 4
	pace := time.Duration(float64(*contacts) / lowLoad * float64(time.Second))
	var paced [2][]roundResult
	for r := range pacedRounds {
		for i, tg := range []target{
			{name: "direct", url: e.URL, prefix: "445", pids: direct.pids, pace: pace},
			{name: "gateway", url: g.URL, prefix: "446", pids: viaGateway.pids, pace: pace},
		} {
			paced[i] = append(paced[i], round(t, name, r, client, tg, box, sb.URL, redisPid))
		}
	}
	close(stopRSS)
	rss := <-peak
	medians := [2]roundResult{}
	for i, tg := range []target{direct, viaGateway} {
		rates := make([]float64, len(results[i]))
		p50s := make([]time.Duration, len(results[i]))
		for j, res := range results[i] {
			rates[j], p50s[j] = res.rate, res.p50
		}
		slices.Sort(rates)
		slices.Sort(p50s)
		medians[i] = roundResult{rate: rates[len(rates)/2], p50: p50s[len(p50s)/2]}
		each := make([]string, len(rates))
		for j, rate := range rates {
			each[j] = fmt.Sprintf("%.0f", rate)
		}
		fmt.Printf("store=%-6s via=%-7s median turns/s=%.0f (rounds, sorted: %s)  median latency p50=%v\n",
			name, tg.name, medians[i].rate, strings.Join(each, " "), medians[i].p50.Round(10*time.Microsecond))
	}
	p50 := func(r roundResult) float64 { return float64(r.p50) / float64(time.Millisecond) }
	fmt.Printf("store=%-6s at a quarter of the direct rate (%.0f turns/s): p50 %.2f ms through the gateway vs %.2f ms direct (%+.2f ms)\n",
		name, lowLoad, median(paced[1], p50), median(paced[0], p50), median(paced[1], p50)-median(paced[0], p50))
	fmt.Printf("store=%-6s the gateway's hop: turns/s %.0f vs %.0f direct (%+.1f%%), p50 %v vs %v direct (%+.2f ms)  executor peak RSS=%.1f MiB  mean store latency: %s\n",
		name, medians[1].rate, medians[0].rate, 100*(medians[1].rate-medians[0].rate)/medians[0].rate,
		medians[1].p50.Round(10*time.Microsecond), medians[0].p50.Round(10*time.Microsecond),
		float64(medians[1].p50-medians[0].p50)/float64(time.Millisecond),
		float64(rss)/1024, storeLatencies(e.URL))
}

// pacedRounds is how many rounds are played below saturation.
const pacedRounds = 3

// median of f over rs.
func median(rs []roundResult, f func(roundResult) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// target is where a round's webhooks go: the executor, or the gateway in
// front of it.
type target struct {
	name, url, prefix string
	// pids are the processes whose CPU a turn costs.
	pids []int
	// pace, when set, is how often each contact starts a turn (its next
	// one waits for its reply too): the round's offered rate is contacts
	// per pace, below what the server can take.
	pace time.Duration
}

// roundResult is a round's throughput and median end-to-end latency.
type roundResult struct {
	rate float64
	p50  time.Duration
}

// round plays contacts × turns with fresh contacts, prints its figures and
// returns its throughput (turns/s) and median latency. Every reply must
// arrive exactly once.
func round(t *testing.T, name string, r int, client *http.Client, tg target, box *sandbox.Server, sandboxURL string, redisPid int) roundResult {
	from := func(c int) string { return fmt.Sprintf("%s%d%05d", tg.prefix, r%10, c) }
	// Build every webhook before the clock starts, so the figures measure
	// the executor rather than the load generator's JSON encoding.
	bodies := make([][][]byte, *contacts)
	for c := range bodies {
		bodies[c] = make([][]byte, *turns)
		for k := range bodies[c] {
			var err error
			if bodies[c][k], err = webhook(from(c), k); err != nil {
				t.Fatal(err)
			}
		}
	}

	var (
		mu        sync.Mutex
		latencies []time.Duration
		missing   int
		dup       int
	)
	serverCPU := func() (d time.Duration) {
		for _, pid := range tg.pids {
			d += cpuTime(pid)
		}
		return d
	}
	gatewayPid := 0
	if len(tg.pids) > 1 {
		gatewayPid = tg.pids[1]
	}
	cpuBefore, selfBefore, redisBefore, gatewayBefore := serverCPU(), cpuTime(os.Getpid()), cpuTime(redisPid), cpuTime(gatewayPid)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range *contacts {
		wg.Go(func() {
			var after int64
			for k := range *turns {
				if tg.pace > 0 {
					// Contacts start spread over one pace, then keep to it.
					time.Sleep(time.Until(start.Add(tg.pace*time.Duration(k) + tg.pace*time.Duration(c)/time.Duration(*contacts))))
				}
				lat, seq, ok := oneTurn(client, tg.url, box, from(c), k, after, bodies[c][k])
				mu.Lock()
				if ok {
					latencies = append(latencies, lat)
					after = seq
				} else {
					missing++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	execCPU, selfCPU, redisCPU := serverCPU()-cpuBefore, cpuTime(os.Getpid())-selfBefore, cpuTime(redisPid)-redisBefore
	gatewayCPU := cpuTime(gatewayPid) - gatewayBefore
	// Let late duplicates show up, then account for every reply.
	time.Sleep(200 * time.Millisecond)
	for c := range *contacts {
		msgs, err := procs.SandboxMessages(context.Background(), sandboxURL, from(c), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		dup += len(msgs) - *turns
	}

	total := *contacts * *turns
	rate := float64(total) / elapsed.Seconds()
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(float64(len(latencies))*p))]
	}
	perTurn := func(d time.Duration) time.Duration { return (d / time.Duration(total)).Round(time.Microsecond) }
	redisShare := ""
	if redisPid != 0 {
		redisShare = fmt.Sprintf(", redis-server %v", perTurn(redisCPU))
	}
	server := "executor"
	if len(tg.pids) > 1 {
		server = "executor + gateway"
	}
	gatewayShare := ""
	if len(tg.pids) > 1 {
		gatewayShare = fmt.Sprintf(" (gateway %v)", perTurn(gatewayCPU))
	}
	mode := "round"
	if tg.pace > 0 {
		mode = "paced"
	}
	fmt.Printf("store=%-6s via=%-7s %s=%d contacts=%d turns=%d  turns/s=%.0f  latency p50=%v p99=%v  replies ok=%d missing=%d duplicated=%d  CPU per turn: %s %v%s, load generator + sandbox %v%s\n",
		name, tg.name, mode, r+1, *contacts, *turns, rate, pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond),
		len(latencies), missing, max(dup, 0), server, perTurn(execCPU), gatewayShare, perTurn(selfCPU), redisShare)
	if missing > 0 || dup > 0 {
		t.Errorf("replies missing: %d, duplicated: %d", missing, dup)
	}
	return roundResult{rate: rate, p50: pct(0.50)}
}

// oneTurn sends turn k of a contact to url (the executor or the gateway)
// and waits for its reply (a sandbox record newer than after). It returns
// the latency from sending the webhook to receiving the reply, and the
// reply's sequence number. The sandbox runs in this process, so the wait
// is a call rather than an HTTP long poll: the two cores are left to the
// executor, the gateway and Redis.
func oneTurn(c *http.Client, execURL string, box *sandbox.Server, from string, k int, after int64, body []byte) (time.Duration, int64, bool) {
	start := time.Now()
	code, err := procs.PostWebhook(context.Background(), c, execURL, "/webhooks/whatsapp", body, appSecret)
	if err != nil || code != http.StatusOK {
		return 0, 0, false
	}
	want := "you said m" + strconv.Itoa(k)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range box.Wait(context.Background(), sandbox.Query{To: from, After: after}, 5*time.Second) {
			if (procs.SandboxMessage{Body: r.Body}).Text() == want {
				return time.Since(start), r.Seq, true
			}
			after = r.Seq
		}
	}
	return 0, 0, false
}

var cpuProfile = flag.String("cpuprofile", "", "write the executor's and the gateway's CPU profiles of each run to this prefix")

func profileArgs() []string {
	if *cpuProfile == "" {
		return nil
	}
	return []string{"--pprof"}
}

// startProfile records the CPU profiles of the executor and the gateway
// while the load runs.
func startProfile(t *testing.T, urls map[string]string, name string) func() {
	if *cpuProfile == "" {
		return func() {}
	}
	var wg sync.WaitGroup
	for proc, url := range urls {
		wg.Go(func() {
			resp, err := http.Get(url + "/debug/pprof/profile?seconds=5")
			if err != nil {
				t.Log(err)
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(*cpuProfile + "." + name + "." + proc + ".pprof")
			if err != nil {
				t.Log(err)
				return
			}
			defer f.Close()
			_, _ = io.Copy(f, resp.Body)
		})
	}
	return wg.Wait
}

// storeLatencies summarises the executor's store latency histogram: the
// mean of each operation, from its _sum and _count.
func storeLatencies(url string) string {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	sums, counts := map[string]float64{}, map[string]float64{}
	for _, line := range strings.Split(string(data), "\n") {
		for _, kind := range []string{"_sum", "_count"} {
			// chatflow_store_latency_seconds_sum{flow="echo",namespace="bench",op="commit"} 0.12
			if labels, ok := strings.CutPrefix(line, "chatflow_store_latency_seconds"+kind+"{"); ok {
				_, rest, _ := strings.Cut(labels, `op="`)
				op, val, _ := strings.Cut(rest, `"} `)
				v, _ := strconv.ParseFloat(val, 64)
				if kind == "_sum" {
					sums[op] = v
				} else {
					counts[op] = v
				}
			}
		}
	}
	var out []string
	for _, op := range []string{"enqueue", "acquire", "commit"} {
		if counts[op] > 0 {
			out = append(out, fmt.Sprintf("%s %.2fms", op, 1000*sums[op]/counts[op]))
		}
	}
	return strings.Join(out, ", ")
}

// webhook is turn k of a contact: a signed-later WhatsApp text webhook.
func webhook(from string, k int) ([]byte, error) {
	return procs.WhatsAppWebhook(phoneID, procs.WhatsAppMessage{
		From: from, Name: "Bench", ID: fmt.Sprintf("wamid.%s.%d", from, k), Text: "m" + strconv.Itoa(k)})
}

// cpuTime is the user + system CPU a process used so far.
func cpuTime(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields after its ")" are fixed.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
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
