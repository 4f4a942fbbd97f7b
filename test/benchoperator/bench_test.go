//go:build benchoperator

// Package benchoperator measures the operator at scale on envtest: the time
// until N Published flows with bindings have their executor objects and an
// up-to-date status, against the time a plain client takes to create the
// same objects directly, in the same run; the manager's peak RSS; and the
// p99 latency of its admission webhooks. Run it with `make bench-operator`.
//
// The manager runs as its own process (the chatflow binary, production
// flags), so its RSS is its own. A small TLS proxy in front of its webhook
// server times every admission request.
package benchoperator

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/internal/cli"
	"github.com/chatflow-dev/chatflow/internal/testenv"
	"github.com/chatflow-dev/chatflow/runtime/flow"
)

var (
	flows       = flag.Int("flows", 300, "published flows (each with a binding and a Secret)")
	workers     = flag.Int("workers", 16, "concurrent creators, the same in both runs")
	qps         = flag.Int("qps", 1000, "client-side rate limit of the bench client and of the manager (--kube-api-qps), the same in both runs")
	binary      = flag.String("chatflow", "", "the chatflow binary (make bench-operator builds it)")
	reconcilers = flag.Int("reconcilers", 0, "--max-concurrent-reconciles of the manager; 0 keeps its default")
	maxRatio    = flag.Float64("max-ratio", 3, "fail when the operator takes more than this many times the direct time")
)

const (
	directNS   = "direct"
	operatorNS = "operator"
)

func TestOperatorBench(t *testing.T) {
	if *binary == "" {
		t.Fatal("-chatflow is required: run `make bench-operator`")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	env, err := testenv.New()
	must(t, err)
	env.WebhookInstallOptions = envtest.WebhookInstallOptions{Paths: []string{filepath.Join(testenv.RepoRoot(), "config", "webhook")}}
	// Room for a ClusterIP per executor Service of both runs.
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.96.0.0/16")
	cfg, err := env.Start()
	must(t, err)
	defer func() { _ = env.Stop() }()
	cfg.QPS, cfg.Burst = float32(*qps), 2**qps
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: cli.Scheme()})
	must(t, err)
	policy, err := testenv.ReadManifests(filepath.Join(testenv.RepoRoot(), "config", "policy", "deny-delete-published.yaml"))
	must(t, err)
	for _, o := range policy {
		must(t, c.Create(ctx, o))
	}

	// The manager, as deployed, with its webhook server behind the timing proxy.
	wo := env.WebhookInstallOptions
	backend, probes, metrics := freePort(t), freePort(t), freePort(t)
	mgr := startManager(t, cfg, wo, backend, probes, metrics)
	proxy := startProxy(t, wo, backend)
	waitReady(t, probes)
	for _, ns := range []string{directNS, operatorNS} {
		must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
	waitForWebhooks(t, ctx, c)
	proxy.take("")

	t.Logf("%d flows, %d workers, client rate limit %d QPS (bench client and manager)", *flows, *workers, *qps)

	// Direct: a plain client creates every object the operator route ends
	// with: Secret, ChatFlow, ChannelBinding, ConfigMap, Deployment, Service.
	start := time.Now()
	parallel(t, *flows, func(i int) error { return createDirect(ctx, c, i) })
	direct := time.Since(start)
	directLat := proxy.take("direct run")

	// Operator: the client creates Secret, ChatFlow and ChannelBinding; the
	// operator makes the rest and reports it in the status.
	requestsBefore, serverBefore := apiRequests(t, metrics), serverRequests(t, cfg)
	done := watchUpToDate(t, ctx, c)
	start = time.Now()
	parallel(t, *flows, func(i int) error { return createForOperator(ctx, c, i) })
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		t.Fatal("not every flow was up to date after 10 minutes")
	}
	viaOperator := time.Since(start)
	operatorLat := proxy.take("operator run")
	rss := peakRSS(t, mgr.Process.Pid)
	requests := apiRequests(t, metrics)
	serverAfter := serverRequests(t, cfg)
	for _, k := range slices.Sorted(maps.Keys(serverAfter)) {
		if d := serverAfter[k] - serverBefore[k]; d >= float64(*flows)/10 {
			fmt.Printf("api server requests per flow, operator run, %s: %.2f\n", k, d/float64(*flows))
		}
	}
	for method, n := range requests {
		requests[method] = n - requestsBefore[method]
	}
	verifyObjects(t, ctx, c)

	ratio := viaOperator.Seconds() / direct.Seconds()
	t.Logf("direct:        %v for %d objects", direct.Round(time.Millisecond), 6**flows)
	t.Logf("via operator:  %v until every flow had its executor objects and an up-to-date status", viaOperator.Round(time.Millisecond))
	t.Logf("ratio:         %.2fx (floor %.1fx)", ratio, *maxRatio)
	t.Logf("manager peak RSS: %.1f MiB", float64(rss)/(1<<20))
	t.Logf("manager API requests per flow, operator run (reconciles and webhooks): %s", perFlow(requests))
	t.Logf("webhook admission latency, direct run:   %s", describe(directLat))
	t.Logf("webhook admission latency, operator run: %s", describe(operatorLat))
	fmt.Printf("BENCH flows=%d direct=%.2fs operator=%.2fs ratio=%.2f rss_mib=%.1f webhook_p99_ms=%.2f\n",
		*flows, direct.Seconds(), viaOperator.Seconds(), ratio, float64(rss)/(1<<20),
		percentile(append(directLat, operatorLat...), 0.99).Seconds()*1000)
	if ratio > *maxRatio {
		t.Errorf("the operator took %.2fx the direct time, more than %.1fx", ratio, *maxRatio)
	}
}

func published(ns string, i int) (*v1alpha1.ChatFlow, *v1alpha1.ChannelBinding, *corev1.Secret) {
	name := fmt.Sprintf("flow-%03d", i)
	f := &v1alpha1.ChatFlow{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.ChatFlowSpec{
			State:   v1alpha1.StatePublished,
			Trigger: v1alpha1.Trigger{Type: v1alpha1.TriggerWhatsApp},
			Nodes: []v1alpha1.Node{
				{ID: "start", Type: v1alpha1.NodeStart, Next: "ask"},
				{ID: "ask", Type: v1alpha1.NodeSendMessage, SendMessage: &v1alpha1.SendMessageNode{Text: "Hi {{ contact.name }}! Your order number?"}, Next: "wait"},
				{ID: "wait", Type: v1alpha1.NodeWaitForReply, WaitForReply: &v1alpha1.WaitForReplyNode{SaveAs: "orderNumber"}, Next: "route"},
				{ID: "route", Type: v1alpha1.NodeCondition, Condition: &v1alpha1.ConditionNode{
					Branches: []v1alpha1.Branch{{When: `vars.orderNumber.startsWith("A")`, Next: "known"}}, Default: "unknown"}},
				{ID: "known", Type: v1alpha1.NodeSendMessage, SendMessage: &v1alpha1.SendMessageNode{Text: "Order {{ vars.orderNumber }} is on its way"}, Next: "end"},
				{ID: "unknown", Type: v1alpha1.NodeSendMessage, SendMessage: &v1alpha1.SendMessageNode{Text: "Sorry, unknown order"}, Next: "end"},
				{ID: "end", Type: v1alpha1.NodeEnd},
			},
		},
	}
	b := &v1alpha1.ChannelBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-whatsapp", Namespace: ns},
		Spec: v1alpha1.ChannelBindingSpec{
			FlowRef: v1alpha1.FlowReference{Name: name}, Channel: v1alpha1.ChannelWhatsApp,
			Account:        v1alpha1.Account{Name: "Shop", ID: fmt.Sprintf("1065%06d", i)},
			CredentialsRef: v1alpha1.SecretReference{Name: name + "-credentials"},
		},
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-credentials", Namespace: ns},
		StringData: map[string]string{"accessToken": "EAAG", "appSecret": "s3cret", "verifyToken": "verify"},
	}
	return f, b, s
}

func createDirect(ctx context.Context, c client.Client, i int) error {
	f, b, s := published(directNS, i)
	for _, o := range []client.Object{s, f, b} {
		if err := c.Create(ctx, o); err != nil {
			return err
		}
	}
	rev, err := flow.Revision(&f.Spec)
	if err != nil {
		return err
	}
	cm, err := builders.ConfigMap(f, b, rev, "", nil)
	if err != nil {
		return err
	}
	d := builders.Deployment(builders.ExecutorInput{Flow: f, Binding: b, Revision: rev, ConfigMap: cm.Name,
		SecretsVersion: s.ResourceVersion, Config: builders.DefaultConfig()})
	for _, o := range []client.Object{cm, d, builders.Service(f)} {
		if err := c.Create(ctx, o); err != nil {
			return err
		}
	}
	return nil
}

func createForOperator(ctx context.Context, c client.Client, i int) error {
	f, b, s := published(operatorNS, i)
	for _, o := range []client.Object{s, f, b} {
		if err := c.Create(ctx, o); err != nil {
			return err
		}
	}
	return nil
}

// watchUpToDate closes the returned channel once every flow of the
// operator namespace has its executor and an up-to-date status, and every
// binding an up-to-date status.
func watchUpToDate(t *testing.T, ctx context.Context, c client.WithWatch) <-chan struct{} {
	done := make(chan struct{})
	fw, err := c.Watch(ctx, &v1alpha1.ChatFlowList{}, client.InNamespace(operatorNS))
	must(t, err)
	bw, err := c.Watch(ctx, &v1alpha1.ChannelBindingList{}, client.InNamespace(operatorNS))
	must(t, err)
	go func() {
		defer fw.Stop()
		defer bw.Stop()
		flowsOK, bindingsOK := map[string]bool{}, map[string]bool{}
		for {
			var ev watch.Event
			select {
			case ev = <-fw.ResultChan():
			case ev = <-bw.ResultChan():
			case <-ctx.Done():
				return
			}
			switch o := ev.Object.(type) {
			case *v1alpha1.ChatFlow:
				flowsOK[o.Name] = o.Status.ObservedGeneration == o.Generation && o.Status.Executor != nil &&
					o.Status.Executor.Service != "" && o.Status.State == v1alpha1.StatePublished &&
					meta.IsStatusConditionTrue(o.Status.Conditions, v1alpha1.ConditionValid) &&
					meta.IsStatusConditionTrue(o.Status.Conditions, v1alpha1.ConditionBound)
			case *v1alpha1.ChannelBinding:
				bindingsOK[o.Name] = o.Status.ObservedGeneration == o.Generation &&
					meta.IsStatusConditionTrue(o.Status.Conditions, v1alpha1.ConditionReady)
			}
			if count(flowsOK) == *flows && count(bindingsOK) == *flows {
				close(done)
				return
			}
		}
	}()
	return done
}

func count(m map[string]bool) int {
	n := 0
	for _, ok := range m {
		if ok {
			n++
		}
	}
	return n
}

// verifyObjects checks that the operator made as many objects as the
// direct run.
func verifyObjects(t *testing.T, ctx context.Context, c client.Client) {
	for _, list := range []client.ObjectList{&corev1.ConfigMapList{}, &corev1.ServiceList{}} {
		must(t, c.List(ctx, list, client.InNamespace(operatorNS), client.MatchingLabels{builders.LabelManagedBy: builders.ManagedBy}))
		if n := meta.LenList(list); n != *flows {
			t.Errorf("%T: %d objects, want %d", list, n, *flows)
		}
	}
}

func parallel(t *testing.T, n int, fn func(i int) error) {
	var wg sync.WaitGroup
	next := make(chan int)
	errs := make(chan error, n)
	for range *workers {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// startManager runs `chatflow manager` against envtest: webhooks on, certs
// from envtest (no rotation), controllers watching the operator namespace
// only (the direct run's flows are not its to reconcile).
func startManager(t *testing.T, cfg *rest.Config, wo envtest.WebhookInstallOptions, webhookPort, probePort, metricsPort int) *exec.Cmd {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	must(t, clientcmd.WriteToFile(clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"envtest": {Server: cfg.Host, CertificateAuthorityData: cfg.CAData}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"admin": {ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}},
		Contexts:       map[string]*clientcmdapi.Context{"envtest": {Cluster: "envtest", AuthInfo: "admin"}},
		CurrentContext: "envtest",
	}, kubeconfig))
	cmd := exec.Command(*binary, "manager",
		"--webhook-cert-rotation=false",
		"--webhook-port="+strconv.Itoa(webhookPort),
		"--webhook-cert-dir="+wo.LocalServingCertDir,
		"--metrics-bind-address=127.0.0.1:"+strconv.Itoa(metricsPort),
		"--metrics-secure=false",
		"--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(probePort),
		"--watch-namespaces="+operatorNS,
		"--kube-api-qps="+strconv.Itoa(*qps),
		"--kube-api-burst="+strconv.Itoa(2**qps),
		"--zap-log-level=error",
	)
	if *reconcilers > 0 {
		cmd.Args = append(cmd.Args, "--max-concurrent-reconciles="+strconv.Itoa(*reconcilers))
	}
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	logs, err := os.Create(filepath.Join(os.TempDir(), "chatflow-bench-manager.log"))
	must(t, err)
	cmd.Stdout, cmd.Stderr = logs, logs
	must(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		_ = logs.Close()
	})
	return cmd
}

func waitReady(t *testing.T, port int) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the manager did not become ready (see $TMPDIR/chatflow-bench-manager.log)")
}

func waitForWebhooks(t *testing.T, ctx context.Context, c client.Client) {
	f, _, _ := published(directNS, 999)
	f.Spec.Nodes[1].Next = "nowhere"
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		err := c.Create(ctx, f.DeepCopy(), client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "denied the request") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the webhooks are not called")
}

// timingProxy serves where envtest's webhook configuration points and
// forwards to the manager's webhook server, timing each request.
type timingProxy struct {
	mu        sync.Mutex
	latencies []time.Duration
	byPath    map[string][]time.Duration
}

func startProxy(t *testing.T, wo envtest.WebhookInstallOptions, backend int) *timingProxy {
	target, _ := url.Parse(fmt.Sprintf("https://127.0.0.1:%d", backend))
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback to the manager's envtest certificate
		MaxIdleConnsPerHost: 64,
	}
	p := &timingProxy{}
	cert, err := tls.LoadX509KeyPair(filepath.Join(wo.LocalServingCertDir, "tls.crt"), filepath.Join(wo.LocalServingCertDir, "tls.key"))
	must(t, err)
	ln, err := tls.Listen("tcp", net.JoinHostPort(wo.LocalServingHost, strconv.Itoa(wo.LocalServingPort)),
		&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	must(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rp.ServeHTTP(w, r)
		d := time.Since(start)
		p.mu.Lock()
		p.latencies = append(p.latencies, d)
		if p.byPath == nil {
			p.byPath = map[string][]time.Duration{}
		}
		p.byPath[r.URL.Path] = append(p.byPath[r.URL.Path], d)
		p.mu.Unlock()
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

// take returns the latencies recorded since the last call and, given a
// label, prints them by webhook.
func (p *timingProxy) take(label string) []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.latencies
	if label != "" {
		for _, path := range slices.Sorted(maps.Keys(p.byPath)) {
			fmt.Printf("webhook latency, %s, %s: %s\n", label, path, describe(p.byPath[path]))
		}
	}
	p.latencies, p.byPath = nil, nil
	return l
}

func percentile(l []time.Duration, q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*q))]
}

func describe(l []time.Duration) string {
	return fmt.Sprintf("%d requests, p50 %v, p99 %v, max %v", len(l),
		percentile(l, 0.5).Round(10*time.Microsecond), percentile(l, 0.99).Round(10*time.Microsecond),
		percentile(l, 1).Round(10*time.Microsecond))
}

// peakRSS is the high-water mark of a process's resident set (VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(t, err)
	for _, line := range bytes.Split(data, []byte("\n")) {
		if f := strings.Fields(string(line)); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			must(t, err)
			return kb * 1024
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// apiRequests scrapes the manager's client-go request counter by method.
func apiRequests(t *testing.T, port int) map[string]float64 {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	must(t, err)
	defer resp.Body.Close()
	var body bytes.Buffer
	_, err = body.ReadFrom(resp.Body)
	must(t, err)
	counts := map[string]float64{}
	for _, line := range strings.Split(body.String(), "\n") {
		if !strings.HasPrefix(line, "rest_client_requests_total{") {
			continue
		}
		_, rest, _ := strings.Cut(line, `method="`)
		method, _, _ := strings.Cut(rest, `"`)
		fields := strings.Fields(line)
		n, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		must(t, err)
		counts[method] += n
	}
	return counts
}

// serverRequests scrapes the API server's request counter by resource and
// verb (all clients: the bench's and the manager's).
func serverRequests(t *testing.T, cfg *rest.Config) map[string]float64 {
	cs, err := kubernetes.NewForConfig(cfg)
	must(t, err)
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	must(t, err)
	body := bytes.NewBuffer(raw)
	label := func(line, name string) string {
		_, rest, _ := strings.Cut(line, name+`="`)
		v, _, _ := strings.Cut(rest, `"`)
		return v
	}
	counts := map[string]float64{}
	for _, line := range strings.Split(body.String(), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		fields := strings.Fields(line)
		n, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		must(t, err)
		counts[label(line, "resource")+"/"+label(line, "subresource")+" "+label(line, "verb")] += n
	}
	return counts
}

func perFlow(requests map[string]float64) string {
	var parts []string
	total := 0.0
	for _, m := range slices.Sorted(maps.Keys(requests)) {
		if requests[m] > 0 {
			parts = append(parts, fmt.Sprintf("%s %.1f", m, requests[m]/float64(*flows)))
			total += requests[m]
		}
	}
	return fmt.Sprintf("%.1f (%s)", total/float64(*flows), strings.Join(parts, ", "))
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
