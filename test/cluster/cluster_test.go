//go:build cluster

package cluster

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/test/procs"
)

const (
	release = "chatflow"
	system  = "chatflow-system" // the release's namespace
	// The flows' namespace: config/dev-samples puts its objects in default.
	shop      = "default"
	appSecret = "sandbox-app-secret"
	// The WhatsApp number the order-status sample is bound to.
	orderPhoneID = "106540352242922"
	greeting     = "Hi %s! What is your order number?"
	// config/dev-samples points the bindings at the sandbox chatflow dev
	// runs; here the sandbox is a pod behind a Service.
	devSandbox = "http://127.0.0.1:9090"
	// A binding's apiBaseURL must be https beyond localhost (the executor
	// sends the account's token there): the sandbox pod also serves HTTPS,
	// with a certificate of a CA the suite makes, which the executors trust
	// through SSL_CERT_FILE (testdata/values.yaml) pointing at the key
	// sandboxCAKey the suite adds to the bindings' credentials Secrets.
	clusterSandbox = "https://sandbox." + shop + ".svc:9443"
	sandboxCAKey   = "sandbox-ca.crt"
)

// suite is the state the steps of TestCluster share.
type suite struct {
	k8s       client.Client
	sandbox   string // base URL of the sandbox Service's HTTP port (its ClusterIP), where the suite reads
	sandboxCA []byte // PEM of the CA of the sandbox's HTTPS certificate
	// contacts numbers the contacts of every step, so none shares a
	// conversation with another.
	contacts atomic.Int64
}

// TestCluster installs Chatflow with Helm on the real node and uses it as
// users do. Each step needs the ones before it: the first that fails ends
// the test.
func TestCluster(t *testing.T) {
	s := &suite{k8s: newClient(t)}
	s.contacts.Store(15550200000)
	for _, step := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"nothing leaves the machine: unmatched cluster addresses fail here", s.noEscape},
		{"namespaces enforce the restricted Pod Security Standard", s.namespaces},
		{"the channel sandbox runs from the Chatflow image", s.startSandbox},
		{"helm install with Redis and the gateway", s.install},
		{"the manager elects a leader and serves its webhooks through their Service", s.manager},
		{"the dev samples applied with kubectl run as Ready executor pods", s.samples},
		{"signed webhooks through the gateway, replies at the sandbox pod", s.webhooks},
		{"a graph edit rolls out a new revision without a failed webhook", s.graphEdit},
		{"two executor replicas, one killed under load: nothing lost", s.killUnderLoad},
		{"every pod passes the restricted Pod Security Standard", s.podSecurity},
		{"helm upgrade with changed values leaves no orphans", s.upgrade},
		{"delete while Published is denied; unpublish, then delete", s.lifecycle},
		{"helm uninstall leaves no orphans", s.uninstall},
	} {
		if !t.Run(step.name, step.run) {
			s.diagnose(t)
			t.FailNow()
		}
	}
}

// diagnose prints what a failed step leaves to read: the flows' and
// bindings' status, the objects of the flows' namespace, recent events
// and the end of the manager's log.
func (s *suite) diagnose(t *testing.T) {
	for _, args := range [][]string{
		{"get", "chatflows,channelbindings", "-A", "-o", "yaml"},
		{"get", "deployments,replicasets,pods,services", "-A", "-o", "wide"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
		{"-n", system, "logs", "deploy/" + release + "-controller-manager", "--tail=200"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := runCombined(ctx, "kubectl", args...)
		cancel()
		t.Logf("kubectl %s (%v):\n%s", strings.Join(args, " "), err, out)
	}
}

// noEscape: the suite and the cluster run in a network namespace with no
// route out of the machine. A ClusterIP without endpoints, an address of
// the service range no Service has, and a pod address no pod has all fail
// at once, here.
func (s *suite) noEscape(t *testing.T) {
	routes, err := os.ReadFile("/proc/net/route")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(routes), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 7 && f[1] == "00000000" && f[7] == "00000000" {
			t.Fatalf("the cluster's network has a default route, so packets could leave the machine:\n%s", routes)
		}
	}
	ctx := context.Background()
	svc := &corev1.Service{}
	svc.Name, svc.Namespace = "no-endpoints", "default"
	svc.Spec.Selector = map[string]string{"app": "nothing-has-this-label"}
	svc.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80}}
	if err := s.k8s.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.k8s.Delete(ctx, svc) })
	for _, c := range []struct{ what, addr string }{
		{"a ClusterIP without endpoints", net.JoinHostPort(svc.Spec.ClusterIP, "80")},
		{"a service address no Service has", "10.96.255.254:80"},
		{"a pod address no pod has", "10.244.200.1:8080"},
	} {
		start := time.Now()
		conn, err := net.DialTimeout("tcp", c.addr, 10*time.Second)
		if err == nil {
			conn.Close()
			t.Errorf("%s (%s) accepted a connection", c.what, c.addr)
			continue
		}
		if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ENETUNREACH) && !errors.Is(err, syscall.EHOSTUNREACH) {
			t.Errorf("%s (%s): %v after %s; want it refused or unreachable on this machine", c.what, c.addr, err, time.Since(start).Round(time.Millisecond))
		}
	}
}

// namespaces makes the release's and the flows' namespaces, both enforcing
// the restricted Pod Security Standard: a pod that breaks it is never
// created, so every later step also checks it.
func (s *suite) namespaces(t *testing.T) {
	kubectl(t, nil, "create", "namespace", system)
	for _, ns := range []string{system, shop} {
		kubectl(t, nil, "label", "namespace", ns, "--overwrite",
			"pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/enforce-version=latest",
			"pod-security.kubernetes.io/warn=restricted", "pod-security.kubernetes.io/audit=restricted")
	}
}

// startSandbox runs `chatflow sandbox`, the channels' send APIs stand-in,
// as a pod of the Chatflow image, behind a Service the bindings point at.
func (s *suite) startSandbox(t *testing.T) {
	manifest := fmt.Sprintf(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: sandbox, namespace: %[1]s, labels: {app: sandbox}}
spec:
  replicas: 1
  selector: {matchLabels: {app: sandbox}}
  template:
    metadata: {labels: {app: sandbox}}
    spec:
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: sandbox
        image: %[2]s
        imagePullPolicy: Never
        args: [sandbox, --listen, ":9090", --tls-listen, ":9443", --tls-cert, /tls/tls.crt, --tls-key, /tls/tls.key]
        ports: [{name: http, containerPort: 9090}, {name: https, containerPort: 9443}]
        readinessProbe: {tcpSocket: {port: https}, periodSeconds: 2}
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
        volumeMounts: [{name: tmp, mountPath: /tmp}, {name: tls, mountPath: /tls, readOnly: true}]
      volumes: [{name: tmp, emptyDir: {}}, {name: tls, secret: {secretName: sandbox-tls}}]
---
apiVersion: v1
kind: Service
metadata: {name: sandbox, namespace: %[1]s}
spec:
  selector: {app: sandbox}
  ports: [{name: http, port: 9090, targetPort: http}, {name: https, port: 9443, targetPort: https}]
`, shop, chatflowImage())
	ca, cert, key, err := sandboxCertificate("sandbox." + shop + ".svc")
	if err != nil {
		t.Fatal(err)
	}
	s.sandboxCA = ca
	secret := &corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": cert, "tls.key": key}}
	secret.Name, secret.Namespace = "sandbox-tls", shop
	if err := s.k8s.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	kubectl(t, []byte(manifest), "apply", "-f", "-")
	kubectl(t, nil, "-n", shop, "rollout", "status", "deploy/sandbox", "--timeout=3m")
	s.sandbox = "http://" + s.clusterIP(t, shop, "sandbox") + ":9090"
	eventually(t, "the sandbox answers through its Service", time.Minute, func() error {
		_, err := procs.SandboxMessages(context.Background(), s.sandbox, "nobody", 0, 0)
		return err
	})
}

func (s *suite) install(t *testing.T) {
	args := []string{"install", release, filepath.Join(repoRoot(), "charts", "chatflow"),
		"--namespace", system, "--values", filepath.Join("testdata", "values.yaml"), "--wait", "--timeout", "5m"}
	helm(t, args...)
}

func (s *suite) manager(t *testing.T) {
	ctx := context.Background()
	d := &appsv1.Deployment{}
	if err := s.k8s.Get(ctx, client.ObjectKey{Namespace: system, Name: release + "-controller-manager"}, d); err != nil {
		t.Fatal(err)
	}
	if d.Status.ReadyReplicas != 2 {
		t.Errorf("%d manager replicas Ready, want 2", d.Status.ReadyReplicas)
	}
	pods := s.pods(t, system, map[string]string{"app.kubernetes.io/component": "manager"})
	eventually(t, "one manager holds the leader election Lease", time.Minute, func() error {
		lease := &coordinationv1.Lease{}
		if err := s.k8s.Get(ctx, client.ObjectKey{Namespace: system, Name: "chatflow-manager.chatflow.dev"}, lease); err != nil {
			return err
		}
		holder := ""
		if lease.Spec.HolderIdentity != nil {
			holder = *lease.Spec.HolderIdentity
		}
		for _, p := range pods {
			if strings.HasPrefix(holder, p.Name+"_") {
				return nil
			}
		}
		return fmt.Errorf("the Lease is held by %q, not by a manager pod", holder)
	})

	// The rotator made the serving certificate for the Service's name and
	// injected its CA into every webhook: the chart ships neither.
	secret := &corev1.Secret{}
	if err := s.k8s.Get(ctx, client.ObjectKey{Namespace: system, Name: release + "-webhook-server-cert"}, secret); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(secret.Data["tls.crt"])
	if block == nil {
		t.Fatalf("the webhook Secret holds no certificate (keys %v)", slices.Sorted(mapKeys(secret.Data)))
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	svcName := fmt.Sprintf("%s-webhook-service.%s.svc", release, system)
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := s.k8s.Get(ctx, client.ObjectKey{Name: release + "-validating-webhook-configuration"}, vwc); err != nil {
		t.Fatal(err)
	}
	for _, w := range vwc.Webhooks {
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(w.ClientConfig.CABundle) {
			t.Errorf("webhook %s has no CA bundle", w.Name)
			continue
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: svcName}); err != nil {
			t.Errorf("webhook %s: the serving certificate does not verify for %s with the injected CA: %v", w.Name, svcName, err)
		}
	}
	// The API server reaches the webhooks through their Service: a graph
	// error only the webhook finds is denied, with its field path.
	bad := &v1alpha1.ChatFlow{}
	bad.Name, bad.Namespace = "dangling", shop
	bad.Spec.Trigger.Type = v1alpha1.TriggerManual
	bad.Spec.Nodes = []v1alpha1.Node{
		{ID: "start", Type: v1alpha1.NodeStart, Next: "nowhere"},
		{ID: "end", Type: v1alpha1.NodeEnd},
	}
	// kube-proxy programs the Service's new endpoints a moment after the
	// pods turn Ready: until then the call fails (failurePolicy: Fail).
	eventually(t, "the webhook's denial of a flow whose Start points nowhere", time.Minute, func() error {
		err := s.k8s.Create(ctx, bad.DeepCopy())
		if err != nil && strings.Contains(err.Error(), "failed calling webhook") {
			return err
		}
		if err == nil || !strings.Contains(err.Error(), `admission webhook "vchatflow-v1alpha1.chatflow.dev" denied the request`) ||
			!strings.Contains(err.Error(), "spec.nodes[0].next") {
			t.Fatalf("a flow whose Start points nowhere: %v; want the webhook's denial naming spec.nodes[0].next", err)
		}
		return nil
	})
}

// samples applies config/dev-samples with kubectl, pointed at the sandbox
// Service, and waits for each published flow's executor pods to be Running
// and Ready through their probes.
func (s *suite) samples(t *testing.T) {
	out := kubectl(t, nil, "kustomize", filepath.Join(repoRoot(), "config", "dev-samples"))
	if !strings.Contains(out, devSandbox) {
		t.Fatalf("config/dev-samples does not point at %s", devSandbox)
	}
	objs, err := withSandboxCA(strings.ReplaceAll(out, devSandbox, clusterSandbox), s.sandboxCA)
	if err != nil {
		t.Fatal(err)
	}
	kubectl(t, objs, "apply", "-f", "-")
	kubectl(t, nil, "-n", shop, "wait", "chatflow", "--all", "--for=condition=Ready", "--timeout=3m")
	flows := &v1alpha1.ChatFlowList{}
	if err := s.k8s.List(context.Background(), flows, client.InNamespace(shop)); err != nil {
		t.Fatal(err)
	}
	published := 0
	for _, f := range flows.Items {
		if f.Spec.State != v1alpha1.StatePublished {
			continue
		}
		published++
		s.executorPodsReady(t, f.Name, 1)
		s.serviceAnswers(t, fmt.Sprintf("http://%s:%d", s.clusterIP(t, shop, builders.ExecutorName(f.Name)), builders.ServicePort))
	}
	if published < 3 {
		t.Errorf("%d published flows, want the 3 samples", published)
	}
}

// executorPodsReady waits until the flow's executor has n pods, all
// Running and Ready, each with the probes that gate it.
func (s *suite) executorPodsReady(t *testing.T, flow string, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	eventually(t, flow+"'s executor pods Ready", waitTimeout, func() error {
		pods = s.pods(t, shop, map[string]string{builders.LabelFlow: flow})
		var live []corev1.Pod
		for _, p := range pods {
			if p.DeletionTimestamp == nil {
				live = append(live, p)
			}
		}
		if len(live) != len(pods) || len(live) != n {
			return fmt.Errorf("%d pods (%d terminating), want %d", len(pods), len(pods)-len(live), n)
		}
		for _, p := range live {
			if p.Status.Phase != corev1.PodRunning || !podReady(p) {
				return fmt.Errorf("pod %s is %s, Ready %v", p.Name, p.Status.Phase, podReady(p))
			}
			for _, c := range p.Spec.Containers {
				if c.ReadinessProbe == nil || c.LivenessProbe == nil {
					return fmt.Errorf("pod %s container %s lacks a readiness or liveness probe", p.Name, c.Name)
				}
			}
		}
		return nil
	})
	return pods
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (s *suite) pods(t *testing.T, ns string, labels map[string]string) []corev1.Pod {
	t.Helper()
	list := &corev1.PodList{}
	if err := s.k8s.List(context.Background(), list, client.InNamespace(ns), client.MatchingLabels(labels)); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func (s *suite) clusterIP(t *testing.T, ns, name string) string {
	t.Helper()
	svc := &corev1.Service{}
	if err := s.k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, svc); err != nil {
		t.Fatal(err)
	}
	return svc.Spec.ClusterIP
}

// serviceAnswers waits until GET /readyz through a Service's ClusterIP
// answers 200: kube-proxy programs a Service's endpoints a moment after
// its pods turn Ready, and until then a connection is refused here.
func (s *suite) serviceAnswers(t *testing.T, base string) {
	t.Helper()
	eventually(t, base+" answers through its Service", time.Minute, func() error {
		resp, err := webhookClient.Get(base + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %d", resp.StatusCode)
		}
		return nil
	})
}

// webhookURL is where the channels' webhooks are sent: the gateway's
// Service, which routes each to the flow bound to its account.
func (s *suite) webhookURL(t *testing.T) string {
	return "http://" + s.clusterIP(t, system, release+"-gateway") + ":80"
}

// contact is a fresh WhatsApp contact.
func (s *suite) contact() string { return fmt.Sprint(s.contacts.Add(1)) }

var webhookClient = &http.Client{Timeout: 10 * time.Second}

// sendWhatsApp posts one signed WhatsApp message to url and returns the
// status code.
func sendWhatsApp(url, contact, text string) (int, error) {
	body, err := procs.WhatsAppWebhook(orderPhoneID, procs.WhatsAppMessage{
		From: contact, Name: "Kerry", ID: fmt.Sprintf("wamid.%s.%d", contact, time.Now().UnixNano()), Text: text,
	})
	if err != nil {
		return 0, err
	}
	return procs.PostWebhook(context.Background(), webhookClient, url, "/webhooks/whatsapp", body, appSecret)
}

// replies waits until the sandbox received at least n messages for the
// contact and returns their texts.
func (s *suite) replies(t *testing.T, contact string, n int) []string {
	t.Helper()
	var texts []string
	eventually(t, fmt.Sprintf("%d replies to %s", n, contact), 2*time.Minute, func() error {
		ms, err := procs.SandboxMessages(context.Background(), s.sandbox, contact, 0, 0)
		if err != nil {
			return err
		}
		texts = procs.Texts(ms)
		if len(texts) < n {
			return fmt.Errorf("%d so far: %q", len(texts), texts)
		}
		return nil
	})
	return texts
}

func (s *suite) webhooks(t *testing.T) {
	url := s.webhookURL(t)
	s.serviceAnswers(t, url)
	c := s.contact()
	if code, err := sendWhatsApp(url, c, "Where is my order?"); err != nil || code != http.StatusOK {
		t.Fatalf("a signed webhook: %d, %v; want 200", code, err)
	}
	if got := s.replies(t, c, 1); got[0] != fmt.Sprintf(greeting, "Kerry") {
		t.Errorf("the reply is %q, want %q", got[0], fmt.Sprintf(greeting, "Kerry"))
	}
	body, err := procs.WhatsAppWebhook(orderPhoneID, procs.WhatsAppMessage{From: c, Name: "K", ID: "wamid.forged", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := procs.PostWebhook(context.Background(), webhookClient, url, "/webhooks/whatsapp", body, "not-the-app-secret"); err != nil || code != http.StatusUnauthorized {
		t.Errorf("a webhook signed with the wrong secret: %d, %v; want 401", code, err)
	}
}

// load sends a message from a new contact every interval until stop is
// closed, as a channel would (one POST each), and records the contacts and
// the POSTs that failed.
type load struct {
	mu       sync.Mutex
	contacts []string
	failed   []string
	done     chan struct{}
}

func (s *suite) startLoad(url string, interval time.Duration, stop <-chan struct{}) *load {
	l := &load{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			c := s.contact()
			code, err := sendWhatsApp(url, c, "hi")
			l.mu.Lock()
			l.contacts = append(l.contacts, c)
			if err != nil || code != http.StatusOK {
				l.failed = append(l.failed, fmt.Sprintf("%s: %d %v", c, code, err))
			}
			l.mu.Unlock()
		}
	}()
	return l
}

func (s *suite) graphEdit(t *testing.T) {
	ctx := context.Background()
	f := s.flow(t, "order-status")
	oldRevision := f.Status.Revision
	oldPods := s.pods(t, shop, map[string]string{builders.LabelFlow: "order-status"})

	stop := make(chan struct{})
	l := s.startLoad(s.webhookURL(t), 100*time.Millisecond, stop)
	time.Sleep(time.Second)
	const newText = "Hello {{ contact.name }}, which order is it?"
	for i := range f.Spec.Nodes {
		if f.Spec.Nodes[i].ID == "ask" {
			f.Spec.Nodes[i].SendMessage.Text = newText
		}
	}
	if err := s.k8s.Update(ctx, f); err != nil {
		close(stop)
		t.Fatal(err)
	}
	eventually(t, "a new revision live, the old pods gone", waitTimeout, func() error {
		f := s.flow(t, "order-status")
		if f.Status.Revision == oldRevision || f.Status.ObservedGeneration != f.Generation || !ready(f) {
			return fmt.Errorf("revision %s, status %+v", f.Status.Revision, f.Status.Conditions)
		}
		for _, p := range s.pods(t, shop, map[string]string{builders.LabelFlow: "order-status"}) {
			if slices.ContainsFunc(oldPods, func(o corev1.Pod) bool { return o.UID == p.UID }) {
				return fmt.Errorf("old pod %s is still there", p.Name)
			}
		}
		return nil
	})
	time.Sleep(2 * time.Second) // a little traffic on the new revision alone
	close(stop)
	<-l.done
	if len(l.failed) > 0 {
		t.Errorf("%d of %d webhooks failed during the rollout:\n%s", len(l.failed), len(l.contacts), strings.Join(l.failed, "\n"))
	}
	oldGreeting, newGreeting := fmt.Sprintf(greeting, "Kerry"), "Hello Kerry, which order is it?"
	sawNew := false
	for _, c := range l.contacts {
		got := s.replies(t, c, 1)
		switch got[0] {
		case newGreeting:
			sawNew = true
		case oldGreeting:
		default:
			t.Errorf("contact %s got %q, want the old or the new greeting", c, got[0])
		}
	}
	if !sawNew {
		t.Error("no contact got the new revision's greeting")
	}
}

func ready(f *v1alpha1.ChatFlow) bool {
	return meta.IsStatusConditionTrue(f.Status.Conditions, v1alpha1.ConditionReady)
}

func (s *suite) flow(t *testing.T, name string) *v1alpha1.ChatFlow {
	t.Helper()
	f := &v1alpha1.ChatFlow{}
	if err := s.k8s.Get(context.Background(), client.ObjectKey{Namespace: shop, Name: name}, f); err != nil {
		t.Fatal(err)
	}
	return f
}

// killUnderLoad runs the order-status executor with two replicas on the
// chart's Redis, force-deletes one pod while contacts write, and checks
// that every contact is answered: what an executor acknowledged is in
// Redis, and the other replica finishes it. A POST that fails (the killed
// pod's connection) is delivered again, as the channels do.
func (s *suite) killUnderLoad(t *testing.T) {
	ctx := context.Background()
	f := s.flow(t, "order-status")
	if f.Spec.Executor == nil {
		f.Spec.Executor = &v1alpha1.ExecutorSpec{}
	}
	f.Spec.Executor.Replicas = ptr.To[int32](2)
	if err := s.k8s.Update(ctx, f); err != nil {
		t.Fatal(err)
	}
	pods := s.executorPodsReady(t, "order-status", 2)
	url := s.webhookURL(t)

	const contacts = 60
	var (
		wg            sync.WaitGroup
		mu            sync.Mutex
		acknowledged  []string
		neverAcked    []string
		halfwayPassed = make(chan struct{})
	)
	for i := range contacts {
		c := s.contact()
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 50 * time.Millisecond)
			if i == contacts/3 {
				close(halfwayPassed)
			}
			body, err := procs.WhatsAppWebhook(orderPhoneID, procs.WhatsAppMessage{From: c, Name: "Kerry", ID: "wamid.kill." + c, Text: "hi"})
			if err != nil {
				t.Error(err)
				return
			}
			// Delivered again until acknowledged, as a channel does.
			for attempt := 0; ; attempt++ {
				code, err := procs.PostWebhook(ctx, webhookClient, url, "/webhooks/whatsapp", body, appSecret)
				if err == nil && code == http.StatusOK {
					break
				}
				if attempt == 30 {
					mu.Lock()
					neverAcked = append(neverAcked, fmt.Sprintf("%s: %d %v", c, code, err))
					mu.Unlock()
					return
				}
				time.Sleep(time.Second)
			}
			mu.Lock()
			acknowledged = append(acknowledged, c)
			mu.Unlock()
		}()
	}
	<-halfwayPassed
	kubectl(t, nil, "-n", shop, "delete", "pod", pods[0].Name, "--force", "--grace-period=0")
	wg.Wait()
	if len(neverAcked) > 0 {
		t.Errorf("%d webhooks were never acknowledged:\n%s", len(neverAcked), strings.Join(neverAcked, "\n"))
	}
	var unanswered []string
	for _, c := range acknowledged {
		got, err := waitReplies(s.sandbox, c)
		if err != nil {
			unanswered = append(unanswered, fmt.Sprintf("%s: %v", c, err))
		} else if got[0] != "Hello Kerry, which order is it?" {
			unanswered = append(unanswered, fmt.Sprintf("%s: %q", c, got[0]))
		}
	}
	if len(unanswered) > 0 {
		t.Errorf("%d of %d acknowledged messages were not answered after a replica was killed:\n%s",
			len(unanswered), len(acknowledged), strings.Join(unanswered, "\n"))
	}
	s.executorPodsReady(t, "order-status", 2)
}

// waitReplies waits up to two minutes for a reply to contact.
func waitReplies(sandbox, contact string) ([]string, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ms, err := procs.SandboxMessages(context.Background(), sandbox, contact, 0, 0)
		if err == nil && len(ms) > 0 {
			return procs.Texts(ms), nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no reply within 2m (%v)", err)
		}
		time.Sleep(time.Second)
	}
}

// podSecurity asks the API server to evaluate every pod of both namespaces
// against the restricted level again (a server-side dry run of the label
// warns about every pod that breaks it) and checks the enforcing labels.
func (s *suite) podSecurity(t *testing.T) {
	for _, ns := range []string{system, shop} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := runCombined(ctx, "kubectl", "label", "namespace", ns, "--dry-run=server", "--overwrite",
			"pod-security.kubernetes.io/enforce=restricted")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "Warning") || strings.Contains(out, "violate") {
			t.Errorf("pods of %s break the restricted level:\n%s", ns, out)
		}
		nsObj := &corev1.Namespace{}
		if err := s.k8s.Get(context.Background(), client.ObjectKey{Name: ns}, nsObj); err != nil {
			t.Fatal(err)
		}
		if nsObj.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
			t.Errorf("namespace %s does not enforce restricted: %v", ns, nsObj.Labels)
		}
		if n := len(s.pods(t, ns, nil)); n == 0 {
			t.Errorf("namespace %s has no pods to check", ns)
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// upgrade runs `helm upgrade` of the same chart with changed values
// (testdata/values-upgrade.yaml): the manager rolls to one replica with
// the new flags, what the new values drop is gone (the PDB, the metrics
// Service), and the executors roll to the new defaults.
func (s *suite) upgrade(t *testing.T) {
	ctx := context.Background()
	helm(t, "upgrade", release, filepath.Join(repoRoot(), "charts", "chatflow"), "--namespace", system,
		"--values", filepath.Join("testdata", "values.yaml"), "--values", filepath.Join("testdata", "values-upgrade.yaml"),
		"--wait", "--timeout", "5m")
	kubectl(t, nil, "-n", system, "rollout", "status", "deploy/"+release+"-controller-manager", "--timeout=3m")
	d := &appsv1.Deployment{}
	if err := s.k8s.Get(ctx, client.ObjectKey{Namespace: system, Name: release + "-controller-manager"}, d); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--zap-log-level=debug") {
		t.Errorf("the manager's args after the upgrade: %v", d.Spec.Template.Spec.Containers[0].Args)
	}
	eventually(t, "one manager pod, of the new template", waitTimeout, func() error {
		pods := s.pods(t, system, map[string]string{"app.kubernetes.io/component": "manager"})
		if len(pods) != 1 || !podReady(pods[0]) || pods[0].DeletionTimestamp != nil {
			return fmt.Errorf("%d manager pods", len(pods))
		}
		return nil
	})
	for _, gone := range []struct {
		obj  client.Object
		name string
	}{
		{&policyv1.PodDisruptionBudget{}, release + "-controller-manager"},
		{&corev1.Service{}, release + "-metrics-service"},
	} {
		err := s.k8s.Get(ctx, client.ObjectKey{Namespace: system, Name: gone.name}, gone.obj)
		if !apierrors.IsNotFound(err) {
			t.Errorf("%T %s after the upgrade that drops it: %v", gone.obj, gone.name, err)
		}
	}
	eventually(t, "the executors run the new defaults", waitTimeout, func() error {
		for _, flow := range []string{"order-status", "faq-menu"} {
			d := &appsv1.Deployment{}
			if err := s.k8s.Get(ctx, client.ObjectKey{Namespace: shop, Name: builders.ExecutorName(flow)}, d); err != nil {
				return err
			}
			if got := d.Spec.Template.Spec.Containers[0].Resources.Requests.Cpu().String(); got != "20m" {
				return fmt.Errorf("%s requests cpu %s", flow, got)
			}
		}
		return nil
	})
	s.executorPodsReady(t, "faq-menu", 1)
	s.executorPodsReady(t, "order-status", 2)
	c := s.contact()
	if code, err := sendWhatsApp(s.webhookURL(t), c, "hi"); err != nil || code != http.StatusOK {
		t.Fatalf("a webhook after the upgrade: %d, %v", code, err)
	}
	s.replies(t, c, 1)
}

// lifecycle: the API server (admission policy) and the webhook deny
// deleting a Published flow and rebinding its account; unpublished, the
// executor goes and the flow can be deleted.
func (s *suite) lifecycle(t *testing.T) {
	ctx := context.Background()
	err := s.k8s.Delete(ctx, s.flow(t, "order-status"))
	if err == nil || !strings.Contains(err.Error(), "Unpublished first") {
		t.Errorf("deleting a Published flow: %v; want a denial that says to unpublish first", err)
	}
	b := &v1alpha1.ChannelBinding{}
	if err := s.k8s.Get(ctx, client.ObjectKey{Namespace: shop, Name: "shop-whatsapp"}, b); err != nil {
		t.Fatal(err)
	}
	b.Spec.Account.ID = "999999999999999"
	if err := s.k8s.Update(ctx, b); err == nil || !strings.Contains(err.Error(), "denied the request") {
		t.Errorf("rebinding the account of a Published flow: %v; want the webhook's denial", err)
	}
	// Every sample flow, whichever the samples are.
	flows := &v1alpha1.ChatFlowList{}
	if err := s.k8s.List(ctx, flows, client.InNamespace(shop)); err != nil {
		t.Fatal(err)
	}
	for _, f := range flows.Items {
		if f.Spec.State != v1alpha1.StatePublished {
			continue
		}
		f.Spec.State = v1alpha1.StateUnpublished
		if err := s.k8s.Update(ctx, &f); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the executors are gone", waitTimeout, func() error {
		list := &appsv1.DeploymentList{}
		if err := s.k8s.List(ctx, list, client.InNamespace(shop), client.HasLabels{builders.LabelFlow}); err != nil {
			return err
		}
		if len(list.Items) > 0 {
			return fmt.Errorf("%d executor Deployments left", len(list.Items))
		}
		if pods := s.pods(t, shop, nil); len(pods) != 1 { // the sandbox
			return fmt.Errorf("%d pods in %s, want only the sandbox's", len(pods), shop)
		}
		return nil
	})
	kubectl(t, nil, "-n", shop, "delete", "chatflow,channelbinding", "--all", "--wait", "--timeout=2m")
}

// uninstall: `helm uninstall` removes everything of the release; what is
// left in the cluster is the CRDs (kept on purpose: crd.keep), the contact
// hash key (kept on purpose: a reinstall must hash contacts to the same
// pseudonyms as the logs already shipped) and what Kubernetes makes in
// every namespace.
func (s *suite) uninstall(t *testing.T) {
	const keptContactHashKey = "secret/" + release + "-contact-hash-key"
	helm(t, "uninstall", release, "--namespace", system, "--wait", "--timeout", "3m")
	selector := "app.kubernetes.io/instance=" + release
	kinds := "all,configmaps,secrets,serviceaccounts,roles,rolebindings,leases,poddisruptionbudgets,networkpolicies,persistentvolumeclaims"
	eventually(t, "nothing of the release left in its namespace", 2*time.Minute, func() error {
		out, err := runCombined(context.Background(), "kubectl", "-n", system, "get", kinds, "-o", "name")
		if err != nil {
			return err
		}
		var left []string
		for _, name := range strings.Fields(out) {
			switch name {
			case "configmap/kube-root-ca.crt", "serviceaccount/default", keptContactHashKey:
			default:
				left = append(left, name)
			}
		}
		if len(left) > 0 {
			return fmt.Errorf("left in %s: %v", system, left)
		}
		return nil
	})
	if out := kubectl(t, nil, "-n", system, "get", "secrets", "-o", "name"); !strings.Contains(out, keptContactHashKey) {
		t.Errorf("%s went with the release; the chart keeps it (helm.sh/resource-policy: keep) so contacts keep their pseudonyms across a reinstall", keptContactHashKey)
	}
	kubectl(t, nil, "-n", system, "delete", keptContactHashKey)
	out := kubectl(t, nil, "get", "clusterroles,clusterrolebindings,validatingwebhookconfigurations,validatingadmissionpolicies,validatingadmissionpolicybindings",
		"-l", selector, "-o", "name")
	if strings.TrimSpace(out) != "" {
		t.Errorf("cluster-scoped objects of the release left:\n%s", out)
	}
	// What the operator made for the flows (executors, their revisions'
	// ConfigMaps, store Secrets) went with them.
	out = kubectl(t, nil, "-n", shop, "get", "all,configmaps,secrets", "-o", "name")
	for _, name := range strings.Fields(out) {
		if strings.Contains(name, "executor") {
			t.Errorf("an executor object outlived its flow: %s", name)
		}
	}
	out = kubectl(t, nil, "get", "all,configmaps,secrets", "--all-namespaces", "-l", builders.LabelManagedBy+"="+builders.ManagedBy, "-o", "name")
	if strings.TrimSpace(out) != "" {
		t.Errorf("objects the operator made outlived their flows and the release:\n%s", out)
	}
	out = kubectl(t, nil, "get", "crds", "-o", "name")
	for _, crd := range []string{"chatflows.chatflow.dev", "channelbindings.chatflow.dev"} {
		if !strings.Contains(out, crd) {
			t.Errorf("CRD %s was removed; the chart keeps CRDs (crd.keep) so uninstalling never deletes flows", crd)
		}
	}
}

// runCombined runs a command and returns its standard output and error
// together (kubectl prints warnings on standard error).
func runCombined(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}
