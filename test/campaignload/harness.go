// Package campaignload runs a large Campaign the way a cluster does, with
// every part a real process: the kube-apiserver and etcd of envtest, the
// manager (the chatflow binary, as its pod runs it), the flow's executor
// (chatflow-executor on Redis), and the channel sandbox. The manager
// reaches the executor through a `chatflow dev` state file (its
// --dev-state resolver), as it does in chatflow dev. TestCampaignLoad
// proves the behaviour at 10,000 contacts through suspend, a manager
// restart and an executor kill; `make bench-campaign` measures the speed
// and the manager's memory at 100,000.
//
// It is test support: nothing outside test/ imports it.
package campaignload

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/internal/cli"
	"github.com/chatflow-dev/chatflow/internal/dev/statefile"
	"github.com/chatflow-dev/chatflow/internal/sandbox"
	"github.com/chatflow-dev/chatflow/internal/testenv"
	"github.com/chatflow-dev/chatflow/runtime/runapi"
	"github.com/chatflow-dev/chatflow/runtime/store/redistest"
	"github.com/chatflow-dev/chatflow/test/procs"
)

const (
	ns       = "load"
	account  = "106540352242922"
	runToken = "load-run-token"
)

var secretKeys = map[string]string{"accessToken": "EAAG", "appSecret": "s3cret", "verifyToken": "verify", "runToken": runToken}

// Rig is a running installation: API server, manager, executor, sandbox.
type Rig struct {
	T        testing.TB
	Ctx      context.Context
	K8s      client.Client
	Sandbox  *sandbox.Server
	Executor *procs.Executor
	Manager  *exec.Cmd

	env        *envtest.Environment
	kubeconfig string
	stateDir   string
	probePort  int
	logs       *os.File
	Flow       *v1alpha1.ChatFlow
}

// Options shape a rig.
type Options struct {
	// SendRate of the account (the binding's spec.sendRate).
	SendRate int32
	// Workers of the executor.
	Workers int
}

// Start brings a rig up with the promo flow Published and live.
func Start(t testing.TB, o Options) *Rig {
	t.Helper()
	r := &Rig{T: t, Ctx: context.Background()}
	env, err := testenv.New()
	must(t, err)
	cfg, err := env.Start()
	must(t, err)
	r.env = env
	t.Cleanup(func() { _ = env.Stop() })
	r.K8s, err = client.New(cfg, client.Options{Scheme: cli.Scheme()})
	must(t, err)
	r.kubeconfig = KubeconfigFile(t, cfg)
	r.stateDir = t.TempDir()

	r.Sandbox = sandbox.New(sandbox.Options{MaxRecords: 400000, Tokens: map[string]string{account: secretKeys["accessToken"]}})
	sand := httptest.NewServer(r.Sandbox)
	t.Cleanup(sand.Close)
	redisURL, _ := redistest.Start(t)

	must(t, r.K8s.Create(r.Ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	f := promo()
	b := &v1alpha1.ChannelBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "promo-whatsapp", Namespace: ns},
		Spec: v1alpha1.ChannelBindingSpec{
			FlowRef: v1alpha1.FlowReference{Name: "promo"}, Channel: v1alpha1.ChannelWhatsApp,
			Account: v1alpha1.Account{Name: "Shop", ID: account}, CredentialsRef: v1alpha1.SecretReference{Name: "promo-credentials"},
			APIBaseURL: sand.URL, SendRate: o.SendRate,
		},
	}
	for _, obj := range []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "promo-credentials", Namespace: ns}, StringData: secretKeys}, f, b,
	} {
		must(t, r.K8s.Create(r.Ctx, obj))
	}
	r.Flow = f

	fy, err := builders.FlowManifest(f)
	must(t, err)
	by, err := builders.BindingManifest(b, "")
	must(t, err)
	workers := o.Workers
	if workers == 0 {
		workers = 16
	}
	r.Executor = procs.StartExecutor(t, procs.ExecutorSpec{Flow: string(fy), Binding: string(by), Credentials: secretKeys,
		Store: redisURL, Args: []string{"--workers", strconv.Itoa(workers)}})
	r.writeState()
	r.StartManager()
	r.reportLive()
	return r
}

// promo is a Manual flow sending a WhatsApp template: what a campaign runs.
func promo() *v1alpha1.ChatFlow {
	return &v1alpha1.ChatFlow{
		ObjectMeta: metav1.ObjectMeta{Name: "promo", Namespace: ns},
		Spec: v1alpha1.ChatFlowSpec{
			State:   v1alpha1.StatePublished,
			Trigger: v1alpha1.Trigger{Type: v1alpha1.TriggerManual, Inputs: []v1alpha1.TriggerInput{{Name: "firstName", Required: true}}},
			Nodes: []v1alpha1.Node{
				{ID: "start", Type: v1alpha1.NodeStart, Next: "offer"},
				{ID: "offer", Type: v1alpha1.NodeSendMessage, Next: "end", SendMessage: &v1alpha1.SendMessageNode{Template: &v1alpha1.WhatsAppTemplate{
					Name: "spring_offer", Language: "en_US", Components: []v1alpha1.TemplateComponent{{Type: "body",
						Parameters: []v1alpha1.TemplateParameter{{Type: "text", Text: "{{ trigger.firstName }}"}}}},
				}}},
				{ID: "end", Type: v1alpha1.NodeEnd},
			},
		},
	}
}

// writeState lists the executor process in a chatflow dev state file.
func (r *Rig) writeState() {
	name := builders.ExecutorName("promo")
	must(r.T, statefile.WriteState(r.stateDir, &statefile.State{PID: os.Getpid(), Executors: map[string]statefile.Executor{
		ns + "/" + name: {Namespace: ns, Deployment: name, Flow: "promo", Revision: "r",
			Replicas: []statefile.Replica{{Name: name + "-0", URL: r.Executor.URL, Revision: "r", Ready: true}}},
	}}))
}

// StartManager starts the manager process (again).
func (r *Rig) StartManager() {
	t := r.T
	bin, err := procs.Binary()
	must(t, err)
	port, err := procs.FreePort()
	must(t, err)
	r.probePort = port
	logs, err := os.OpenFile(filepath.Join(r.stateDir, "manager.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	must(t, err)
	r.logs = logs
	cmd := exec.Command(bin, "manager", "--leader-elect=false", "--enable-webhooks=false",
		"--metrics-bind-address=0", "--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(port),
		"--dev-state="+r.stateDir, "--zap-log-level=info")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+r.kubeconfig)
	cmd.Stdout, cmd.Stderr = logs, logs
	must(t, cmd.Start())
	r.Manager = cmd
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port)); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the manager did not become ready:\n%s", r.ManagerLog())
}

// KillManager kills the manager (SIGKILL: no chance to write anything).
func (r *Rig) KillManager() {
	_ = r.Manager.Process.Kill()
	_ = r.Manager.Wait()
	_ = r.logs.Close()
}

// ManagerLog is what the manager printed.
func (r *Rig) ManagerLog() string {
	b, _ := os.ReadFile(filepath.Join(r.stateDir, "manager.log"))
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// reportLive reports the executor Deployment available, as the Deployment
// controller would: the flow is then live.
func (r *Rig) reportLive() {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: builders.ExecutorName("promo"), Namespace: ns}}
	r.Eventually(time.Minute, "the executor Deployment", func() string {
		if err := r.K8s.Get(r.Ctx, client.ObjectKeyFromObject(d), d); err != nil {
			return err.Error()
		}
		return ""
	})
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
	must(r.T, r.K8s.Status().Update(r.Ctx, d))
}

// Audience is a CSV of n contacts (15560000000 and up); gzipped into
// binaryData when large, as the docs advise beyond a ConfigMap's 1 MiB.
func (r *Rig) Audience(name string, n int) {
	var b bytes.Buffer
	b.WriteString("contact,name,firstName\n")
	for i := range n {
		fmt.Fprintf(&b, "+1556%07d,Person %d,P%d\n", i, i, i)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if b.Len() < 900<<10 {
		cm.Data = map[string]string{"contacts.csv": b.String()}
	} else {
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		_, _ = w.Write(b.Bytes())
		must(r.T, w.Close())
		cm.BinaryData = map[string][]byte{"contacts.csv": z.Bytes()}
	}
	must(r.T, r.K8s.Create(r.Ctx, cm))
}

// Contact is the id of audience contact i.
func Contact(i int) string { return fmt.Sprintf("1556%07d", i) }

// Campaign creates a campaign over an audience ConfigMap.
func (r *Rig) Campaign(name, audience string, rate int32) *v1alpha1.Campaign {
	c := &v1alpha1.Campaign{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: v1alpha1.CampaignSpec{
		FlowRef: v1alpha1.FlowReference{Name: "promo"}, Rate: rate,
		Audience: v1alpha1.Audience{Sources: []v1alpha1.AudienceSource{{ConfigMapKeyRef: &v1alpha1.ConfigMapKeySelector{Name: audience, Key: "contacts.csv"}}}},
	}}
	must(r.T, r.K8s.Create(r.Ctx, c))
	return c
}

// Get reads a campaign.
func (r *Rig) Get(c *v1alpha1.Campaign) *v1alpha1.Campaign {
	must(r.T, r.K8s.Get(r.Ctx, client.ObjectKeyFromObject(c), c))
	return c
}

// Update mutates a campaign, retrying on conflicts.
func (r *Rig) Update(c *v1alpha1.Campaign, mutate func(*v1alpha1.Campaign)) {
	for range 10 {
		r.Get(c)
		mutate(c)
		if err := r.K8s.Update(r.Ctx, c); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.T.Fatalf("could not update campaign %s", c.Name)
}

// Complete reports whether the campaign's Complete condition is True.
func Complete(c *v1alpha1.Campaign) bool {
	return meta.IsStatusConditionTrue(c.Status.Conditions, v1alpha1.ConditionComplete)
}

// Counts reads the executor's counts of a campaign.
func (r *Rig) Counts(c *v1alpha1.Campaign) (runapi.Counts, error) {
	client := &runapi.Client{BaseURL: r.Executor.URL, Token: runToken}
	return client.Counts(r.Ctx, string(r.Get(c).UID))
}

// Eventually polls cond until it returns "", or fails after within.
func (r *Rig) Eventually(within time.Duration, what string, cond func() string) {
	r.T.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		if last = cond(); last == "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.T.Fatalf("%s: %s\nmanager log:\n%s", what, last, r.ManagerLog())
}

// Sent returns what the sandbox accepted, in order.
func (r *Rig) Sent() []sandbox.Record {
	var out []sandbox.Record
	var after int64
	for {
		page := r.Sandbox.Messages(sandbox.Query{After: after, Limit: 1000})
		if len(page) == 0 {
			return out
		}
		for i := range page {
			page[i].Body = nil // not needed, and 100,000 of them add up
		}
		out = append(out, page...)
		after = page[len(page)-1].Seq
	}
}

// PeakRSS is the peak resident memory of a process, from /proc.
func PeakRSS(pid int) (int64, error) { return procStatus(pid, "VmHWM:") }

// RSS is the resident memory of a process now.
func RSS(pid int) (int64, error) { return procStatus(pid, "VmRSS:") }

func procStatus(pid int, key string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == key {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", key, pid)
}

// KubeconfigFile writes a kubeconfig for cfg, for processes and commands
// that read one (the manager, `chatflow campaign status`).
func KubeconfigFile(t testing.TB, cfg *rest.Config) string {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	must(t, clientcmd.WriteToFile(clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"envtest": {Server: cfg.Host, CertificateAuthorityData: cfg.CAData}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"admin": {ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}},
		Contexts:       map[string]*clientcmdapi.Context{"envtest": {Cluster: "envtest", AuthInfo: "admin"}},
		CurrentContext: "envtest",
	}, path))
	return path
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
