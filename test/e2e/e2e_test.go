// Package e2e runs Chatflow end to end the way a user does: `chatflow dev`
// (built exactly as the Dockerfile builds the image) with its real
// kube-apiserver, etcd, manager, webhooks, admission policy, gateway,
// executor processes and channel sandbox; the dev samples applied; signed
// channel webhooks in through the gateway and replies out at the sandbox; `chatflow chat` with a
// scripted stdin; the lifecycle rules enforced; and nothing left running
// after Ctrl-C.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/cli"
	"github.com/chatflow-dev/chatflow/internal/dev/statefile"
	"github.com/chatflow-dev/chatflow/internal/testenv"
	"github.com/chatflow-dev/chatflow/test/procs"
)

// Generous bounds for things that take seconds: a deadline that passes is
// a failure of the behaviour, never a timing measurement.
const (
	startTimeout = 3 * time.Minute
	waitTimeout  = 90 * time.Second
)

// devEnv is a running `chatflow dev`.
type devEnv struct {
	t       *testing.T
	bin     string
	dir     string
	cmd     *exec.Cmd
	exited  chan struct{}
	output  string // path of its output
	sandbox string
	gateway string
	k8s     client.Client
}

func TestDevEndToEnd(t *testing.T) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test`, or export KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh)")
	}
	e := startDev(t, imageBinary(t, "/chatflow"), assets)
	ctx := context.Background()
	applyDevSamples(t, e)
	for _, name := range []string{"order-status", "faq-menu", "appointment-reminder", "ai-support"} {
		e.waitReady(name)
	}

	const contact = "15550109999" // a fresh contact for each part of the test
	t.Run("signed webhooks in through the gateway, replies at the sandbox", func(t *testing.T) {
		e.executorURL("order-status", "") // ready
		after := e.lastSeq(contact)
		e.postWhatsApp(e.gateway, "sandbox-app-secret", contact, "Kerry", "Where is my order?")
		after = e.expectReply(contact, after, "Hi Kerry! What is your order number?")
		// One app's batch: this number's message and one for a number no
		// flow binds, in one POST; 200, the bound one answered.
		body, err := procs.WhatsAppWebhook("106540352242922",
			procs.WhatsAppMessage{From: contact, Name: "Kerry", ID: fmt.Sprintf("wamid.e2e-batch-%d", time.Now().UnixNano()), Text: "10452"},
			procs.WhatsAppMessage{From: "15550108888", Name: "Nobody", ID: "wamid.e2e-unbound", Text: "hi", PhoneNumberID: "106540352240000"})
		if err != nil {
			t.Fatal(err)
		}
		if code, err := procs.PostWebhook(ctx, http.DefaultClient, e.gateway, "/webhooks/whatsapp", body, "sandbox-app-secret"); err != nil || code != http.StatusOK {
			t.Fatalf("a batch for two numbers: %d, %v", code, err)
		}
		e.expectReply(contact, after, "Good news: order 10452 has shipped and should arrive by Friday.")
		if v, err := procs.Metric(e.gateway, `chatflow_gateway_events_total{channel="whatsapp",result="unrouted"}`); err != nil || v != 1 {
			t.Errorf("unrouted events: %v, %v; want 1", v, err)
		}

		if code, err := procs.PostWebhook(ctx, http.DefaultClient, e.gateway, "/webhooks/whatsapp", body, "not-the-app-secret"); err != nil || code != http.StatusUnauthorized {
			t.Errorf("a webhook signed with the wrong secret: %d, %v; want 401", code, err)
		}
		// Meta's handshake on the one URL, with the binding's verify token.
		resp, err := http.Get(e.gateway + "/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=sandbox-verify-token")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("the verify handshake: %v, %v", resp, err)
		} else {
			resp.Body.Close()
		}
	})

	t.Run("bindings show the gateway URL; a number's override is registered through it", func(t *testing.T) {
		b := &v1alpha1.ChannelBinding{}
		if err := e.k8s.Get(ctx, client.ObjectKey{Namespace: "default", Name: "shop-whatsapp"}, b); err != nil {
			t.Fatal(err)
		}
		if want := e.gateway + "/webhooks/whatsapp"; b.Status.WebhookURL != want {
			t.Errorf("status.webhookURL %q, want %q", b.Status.WebhookURL, want)
		}
		b.Spec.WebhookOverride = true
		if err := e.k8s.Update(ctx, b); err != nil {
			t.Fatal(err)
		}
		// The sandbox, like Meta, checks the URL with the GET handshake
		// before taking it: the gateway answers with the binding's token.
		e.eventually("the override registered", func() error {
			if err := e.k8s.Get(ctx, client.ObjectKeyFromObject(b), b); err != nil {
				return err
			}
			if c := meta.FindStatusCondition(b.Status.Conditions, v1alpha1.ConditionWebhookOverride); c == nil || c.Reason != v1alpha1.ReasonRegistered {
				return fmt.Errorf("condition %+v", c)
			}
			return nil
		})
		resp, err := http.Get(e.sandbox + "/sandbox/webhooks")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(data), `"channel":"whatsapp","account":"106540352242922","url":"`+e.gateway+`/webhooks/whatsapp","checked":true`) {
			t.Errorf("the sandbox's registrations: %s", data)
		}
	})

	t.Run("chatflow chat holds a conversation", func(t *testing.T) {
		out := e.chat("hello\n12\n10458\n", "order-status", "--contact", "15550100200", "--name", "Sam")
		for _, want := range []string{
			"you> hello\nbot> Hi Sam! What is your order number?\n",
			"you> 12\nbot> Order numbers are 4 to 10 digits, like 10452. Please try again.\n",
			"you> 10458\nbot> Order 10458 is packing.\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the chat lacks %q:\n%s", want, out)
			}
		}
		out = e.chat("hi\n2\n", "faq-menu", "--contact", "17841400000000123", "--name", "Sam")
		for _, want := range []string{
			"bot> Hi! What would you like to know?\n     1) Opening hours\n     2) Prices\n",
			"you> 2\nbot> A drop-in class is 15 EUR; a 10-class pass is 120 EUR.\nbot> Anything else?\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the Instagram chat lacks %q:\n%s", want, out)
			}
		}
		out = e.chat("1\n", "appointment-reminder", "--contact", "15550100300", "--input", "patientName=Ana", "--input", "appointmentTime=Tue 10:30")
		for _, want := range []string{"[template appointment_reminder (en_US)] Ana | Tue 10:30\n     1) confirm\n", "you> 1\nbot> Thank you, Ana. See you on Tue 10:30!\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("the Manual run's chat lacks %q:\n%s", want, out)
			}
		}
		// The AI sample asks the sandbox's stand-in model through the
		// executor's egress (loopback is allowed in chatflow dev).
		out = e.chat("When are your classes?\nmy order 10452 is late\nI want to talk to a person\n", "ai-support", "--contact", "15550100400", "--name", "Ana")
		for _, want := range []string{
			"you> When are your classes?\nbot> You wrote: \"When are your classes?\". (The sandbox stands in for gpt-4o-mini",
			"you> my order 10452 is late\nbot> Order 10452: we are checking it and will write to you here today.\n",
			"you> I want to talk to a person\nbot> OK! A person from Harbour Yoga will answer here soon.\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the AI sample's chat lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("chatflow trace and sessions read a live flow through chatflow dev", func(t *testing.T) {
		out := e.run("trace", "appointment-reminder", "15550100300")
		for _, want := range []string{"Contact 15550100300 of flow default/appointment-reminder\n", "Timeline:\n", "run started: manual", "   wait-answer left by replied"} {
			if !strings.Contains(out, want) {
				t.Errorf("chatflow trace lacks %q:\n%s", want, out)
			}
		}
		if out := e.run("sessions", "appointment-reminder"); !strings.HasPrefix(out, "NODE ") {
			t.Errorf("chatflow sessions:\n%s", out)
		}
	})

	t.Run("a campaign starts a Manual flow for its contacts through the local executor", func(t *testing.T) {
		// The manager of chatflow dev reaches the executor processes
		// through the dev state file (--dev-state), as it reaches
		// executor Services in a cluster.
		contacts := []string{"15550107001", "15550107002"}
		var after []int64
		for _, c := range contacts {
			after = append(after, e.lastSeq(c))
		}
		camp := &v1alpha1.Campaign{
			ObjectMeta: metav1.ObjectMeta{Name: "reminders", Namespace: "default"},
			Spec: v1alpha1.CampaignSpec{
				FlowRef: v1alpha1.FlowReference{Name: "appointment-reminder"},
				Audience: v1alpha1.Audience{Contacts: []v1alpha1.CampaignContact{
					{ID: "+1 555 010 7001", Inputs: map[string]string{"patientName": "Ana"}},
					{ID: contacts[1], Inputs: map[string]string{"patientName": "Bo"}},
				}},
				Inputs: []v1alpha1.CampaignInput{{Name: "appointmentTime", Value: "Fri 9:00"}},
			},
		}
		if err := e.k8s.Create(ctx, camp); err != nil {
			t.Fatal(err)
		}
		for i, c := range contacts {
			ms, err := procs.SandboxMessages(ctx, e.sandbox, c, after[i], 60*time.Second)
			if err != nil || len(ms) != 1 || !strings.Contains(string(ms[0].Body), `"type":"template"`) {
				t.Fatalf("%s got %d messages (%v), want the reminder template\n%s", c, len(ms), err, e.tail())
			}
		}
		// The reminders wait for the patients' answers: every contact is
		// started, and the campaign finishes when they reply.
		e.eventually("both contacts are started", func() error {
			if err := e.k8s.Get(ctx, client.ObjectKeyFromObject(camp), camp); err != nil {
				return err
			}
			ready := meta.FindStatusCondition(camp.Status.Conditions, v1alpha1.ConditionReady)
			if camp.Status.Started != 2 || camp.Status.Pending != 0 || ready == nil || ready.Reason != v1alpha1.ReasonFinishing {
				return fmt.Errorf("status %+v", camp.Status)
			}
			return nil
		})
	})

	t.Run("a graph edit while published rolls out a new revision", func(t *testing.T) {
		f := e.flow("order-status")
		oldRevision, oldPIDs := f.Status.Revision, e.executorPIDs("order-status")
		for i := range f.Spec.Nodes {
			if f.Spec.Nodes[i].ID == "ask" {
				f.Spec.Nodes[i].SendMessage.Text = "Hello {{ contact.name }}, which order is it?"
			}
		}
		if err := e.k8s.Update(ctx, f); err != nil {
			t.Fatal(err)
		}
		f = e.waitFor("order-status", "a new live revision", func(f *v1alpha1.ChatFlow) bool {
			return f.Status.Revision != "" && f.Status.Revision != oldRevision && isReady(f, v1alpha1.ReasonSucceeded)
		})
		e.executorURL("order-status", f.Status.Revision) // the new revision is ready
		const c2 = "15550109998"
		after := e.lastSeq(c2)
		e.postWhatsApp(e.gateway, "sandbox-app-secret", c2, "Kerry", "hi")
		e.expectReply(c2, after, "Hello Kerry, which order is it?")
		e.eventually("the old revision's processes are gone", func() error { return allGone(oldPIDs) })
	})

	t.Run("a published flow cannot be deleted or rebound", func(t *testing.T) {
		err := e.k8s.Delete(ctx, e.flow("order-status"))
		if err == nil || !strings.Contains(err.Error(), "Unpublished") {
			t.Errorf("deleting a Published flow: %v; want a denial that says to unpublish first", err)
		}
		b := &v1alpha1.ChannelBinding{}
		if err := e.k8s.Get(ctx, client.ObjectKey{Namespace: "default", Name: "shop-whatsapp"}, b); err != nil {
			t.Fatal(err)
		}
		b.Spec.Account.ID = "999999999999999"
		if err := e.k8s.Update(ctx, b); err == nil || !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
			t.Errorf("rebinding the account of a Published flow: %v; want a denial", err)
		}
	})

	t.Run("unpublish stops the executor, then delete succeeds", func(t *testing.T) {
		pids := e.executorPIDs("order-status")
		f := e.flow("order-status")
		f.Spec.State = v1alpha1.StateUnpublished
		if err := e.k8s.Update(ctx, f); err != nil {
			t.Fatal(err)
		}
		e.waitFor("order-status", "Ready as Unpublished", func(f *v1alpha1.ChatFlow) bool {
			return isReady(f, v1alpha1.ReasonUnpublished) && f.Status.State == v1alpha1.StateUnpublished
		})
		e.eventually("the executor Deployment is gone", func() error {
			err := e.k8s.Get(ctx, client.ObjectKey{Namespace: "default", Name: "order-status-executor"}, &appsv1.Deployment{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("still there (%v)", err)
		})
		e.eventually("the executor processes are gone", func() error {
			if err := allGone(pids); err != nil {
				return err
			}
			st, err := statefile.LoadState(e.dir)
			if err != nil {
				return err
			}
			if _, ok := st.ExecutorOf("default", "order-status"); ok {
				return errors.New("chatflow dev still lists the executor")
			}
			return nil
		})
		if err := e.k8s.Delete(ctx, e.flow("order-status")); err != nil {
			t.Fatalf("deleting the Unpublished flow: %v", err)
		}
	})

	t.Run("Ctrl-C stops everything", func(t *testing.T) {
		children := childrenOf(e.cmd.Process.Pid)
		if len(children) < 5 { // etcd, kube-apiserver, manager, gateway, two executors
			t.Errorf("chatflow dev runs %d child processes, want at least 5", len(children))
		}
		if err := e.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		select {
		case <-e.exited:
		case <-time.After(2 * time.Minute):
			t.Fatalf("chatflow dev did not exit within 2 minutes of Ctrl-C:\n%s", e.tail())
		}
		if st := e.cmd.ProcessState; !st.Success() {
			t.Errorf("chatflow dev exited with %v:\n%s", st, e.tail())
		}
		if err := allGone(children); err != nil {
			t.Errorf("after Ctrl-C: %v", err)
		}
		if _, err := os.Stat(filepath.Join(e.dir, statefile.StateFile)); !os.IsNotExist(err) {
			t.Errorf("the state file outlived chatflow dev: %v", err)
		}
		for what, url := range map[string]string{"sandbox": e.sandbox, "gateway": e.gateway} {
			ln, err := net.Listen("tcp", strings.TrimPrefix(url, "http://"))
			if err != nil {
				t.Errorf("the %s port is still taken: %v", what, err)
			} else {
				ln.Close()
			}
		}
	})
}

// startDev starts `chatflow dev` and waits until it is up.
func startDev(t *testing.T, bin, assets string) *devEnv {
	port, err := procs.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	gatewayPort, err := procs.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := &devEnv{t: t, bin: bin, dir: dir, exited: make(chan struct{}), output: filepath.Join(dir, "dev.out")}
	out, err := os.Create(e.output)
	if err != nil {
		t.Fatal(err)
	}
	root := testenv.RepoRoot()
	e.cmd = exec.Command(bin, "dev", "--dir", filepath.Join(dir, "env"), "--sandbox-listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--gateway-listen", fmt.Sprintf("127.0.0.1:%d", gatewayPort),
		"--config", filepath.Join(root, "config"), "--assets", assets)
	e.dir = filepath.Join(dir, "env")
	e.cmd.Dir = root
	e.cmd.Stdout, e.cmd.Stderr = out, out
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.cmd.Wait(); out.Close(); close(e.exited) }()
	t.Cleanup(e.kill)

	deadline := time.After(startTimeout)
	for {
		st, err := statefile.LoadState(e.dir)
		if err == nil && st.PID == e.cmd.Process.Pid {
			e.sandbox, e.gateway = st.Sandbox, st.Gateway
			cfg, err := clientcmd.BuildConfigFromFlags("", st.Kubeconfig)
			if err != nil {
				t.Fatal(err)
			}
			if e.k8s, err = client.New(cfg, client.Options{Scheme: cli.Scheme()}); err != nil {
				t.Fatal(err)
			}
			return e
		}
		select {
		case <-e.exited:
			t.Fatalf("chatflow dev exited at start (%v):\n%s", e.cmd.ProcessState, e.tail())
		case <-deadline:
			t.Fatalf("chatflow dev was not up within %s:\n%s", startTimeout, e.tail())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// kill makes sure nothing of a failed test keeps running.
func (e *devEnv) kill() {
	select {
	case <-e.exited:
		return
	default:
	}
	_ = e.cmd.Process.Signal(os.Interrupt)
	select {
	case <-e.exited:
		return
	case <-time.After(time.Minute):
	}
	for _, pid := range childrenOf(e.cmd.Process.Pid) {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
	<-e.exited
}

// tail is the end of chatflow dev's output, for failure messages.
func (e *devEnv) tail() string {
	data, _ := os.ReadFile(e.output)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return procs.Indent(string(data))
}

// devSandbox is where config/dev-samples points the bindings.
const devSandbox = "http://127.0.0.1:9090"

// applyDevSamples creates the objects of config/dev-samples (rendered by
// kubectl kustomize, as `kubectl apply -k` does), pointed at this
// environment's sandbox.
func applyDevSamples(t *testing.T, e *devEnv) {
	out, err := exec.Command("kubectl", "kustomize", filepath.Join(testenv.RepoRoot(), "config", "dev-samples")).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("kubectl kustomize config/dev-samples: %v\n%s", err, stderr)
	}
	if !bytes.Contains(out, []byte(devSandbox)) {
		t.Fatalf("config/dev-samples does not point at %s", devSandbox)
	}
	out = bytes.ReplaceAll(out, []byte(devSandbox), []byte(e.sandbox))
	objs := decode(t, out)
	if len(objs) < 9 {
		t.Fatalf("config/dev-samples has %d objects, want the 4 flows, 4 bindings, the LanguageModel and their Secrets", len(objs))
	}
	for _, u := range objs {
		if err := e.k8s.Create(context.Background(), u); err != nil {
			t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
}

func decode(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatal(err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

func (e *devEnv) flow(name string) *v1alpha1.ChatFlow {
	e.t.Helper()
	f := &v1alpha1.ChatFlow{}
	if err := e.k8s.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: name}, f); err != nil {
		e.t.Fatal(err)
	}
	return f
}

// waitFor waits until a flow satisfies ok and returns it.
func (e *devEnv) waitFor(name, what string, ok func(*v1alpha1.ChatFlow) bool) *v1alpha1.ChatFlow {
	e.t.Helper()
	var f *v1alpha1.ChatFlow
	e.eventually(fmt.Sprintf("flow %s: %s", name, what), func() error {
		f = &v1alpha1.ChatFlow{}
		if err := e.k8s.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: name}, f); err != nil {
			return err
		}
		if f.Status.ObservedGeneration == f.Generation && ok(f) {
			return nil
		}
		return fmt.Errorf("status %+v", f.Status)
	})
	return f
}

func (e *devEnv) waitReady(name string) {
	e.t.Helper()
	e.waitFor(name, "Ready", func(f *v1alpha1.ChatFlow) bool {
		return isReady(f, v1alpha1.ReasonSucceeded) && f.Status.Revision != ""
	})
}

func isReady(f *v1alpha1.ChatFlow, reason string) bool {
	c := meta.FindStatusCondition(f.Status.Conditions, v1alpha1.ConditionReady)
	return c != nil && c.Status == "True" && c.Reason == reason
}

// executorURL is the URL of a ready executor process of the flow (of the
// given revision when not empty), from chatflow dev's state.
func (e *devEnv) executorURL(flow, revision string) string {
	e.t.Helper()
	var url string
	e.eventually("a ready executor of "+flow, func() error {
		st, err := statefile.LoadState(e.dir)
		if err != nil {
			return err
		}
		ex, ok := st.ExecutorOf("default", flow)
		if !ok {
			return errors.New("no executor in the state")
		}
		if revision != "" && ex.Revision != revision {
			return fmt.Errorf("revision %s, want %s", ex.Revision, revision)
		}
		if url, ok = ex.URL(); !ok {
			return errors.New("no ready replica")
		}
		return nil
	})
	return url
}

func (e *devEnv) executorPIDs(flow string) []int {
	e.t.Helper()
	st, err := statefile.LoadState(e.dir)
	if err != nil {
		e.t.Fatal(err)
	}
	ex, _ := st.ExecutorOf("default", flow)
	var pids []int
	for _, r := range ex.Replicas {
		if r.PID > 0 {
			pids = append(pids, r.PID)
		}
	}
	if len(pids) == 0 {
		e.t.Fatalf("flow %s has no executor process", flow)
	}
	return pids
}

var msgID int

// postWhatsApp posts a signed WhatsApp webhook built from the real fixture
// to url (the gateway).
func (e *devEnv) postWhatsApp(url, appSecret, from, name, text string) {
	e.t.Helper()
	msgID++
	body, err := procs.WhatsAppWebhook("106540352242922", procs.WhatsAppMessage{
		From: from, Name: name, ID: fmt.Sprintf("wamid.e2e-%d-%d", time.Now().UnixNano(), msgID), Text: text})
	if err != nil {
		e.t.Fatal(err)
	}
	code, err := procs.PostWebhook(context.Background(), http.DefaultClient, url, "/webhooks/whatsapp", body, appSecret)
	if err != nil || code != http.StatusOK {
		e.t.Fatalf("posting a signed webhook: %d, %v", code, err)
	}
}

// lastSeq is the sandbox's last message for a contact.
func (e *devEnv) lastSeq(to string) int64 {
	e.t.Helper()
	ms, err := procs.SandboxMessages(context.Background(), e.sandbox, to, 0, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Seq
}

// expectReply waits for the next message to a contact after seq and
// checks its text; it returns its seq.
func (e *devEnv) expectReply(to string, after int64, want string) int64 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for {
		ms, err := procs.SandboxMessages(ctx, e.sandbox, to, after, 20*time.Second)
		if err != nil {
			e.t.Fatalf("waiting for %q at the sandbox: %v\n%s", want, err, e.tail())
		}
		if len(ms) > 0 {
			if got := ms[0].Text(); got != want {
				e.t.Fatalf("the flow replied %q, want %q", got, want)
			}
			return ms[0].Seq
		}
	}
}

// chat runs `chatflow chat` with a scripted stdin and returns its output.
// chat reads the next line once the flow has been quiet for --quiet after
// its first reply; 2s keeps a multi-message turn together on a loaded
// machine (it shapes the transcript, it is not a measurement).
func (e *devEnv) chat(stdin string, args ...string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, append([]string{"chat", "--dir", e.dir, "--quiet", "2s"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("chatflow chat %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// run runs a chatflow command against the dev environment and returns its
// output.
func (e *devEnv) run(args ...string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, append(args, "--dir", e.dir)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("chatflow %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (e *devEnv) eventually(what string, check func() error) {
	e.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: %v\n%s", what, err, e.tail())
		}
		select {
		case <-e.exited:
			e.t.Fatalf("chatflow dev exited while waiting for %s:\n%s", what, e.tail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// allGone reports the processes of pids that still run.
func allGone(pids []int) error {
	var alive []int
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
			if !isZombie(pid) {
				alive = append(alive, pid)
			}
		}
	}
	if len(alive) > 0 {
		return fmt.Errorf("processes %v still run", alive)
	}
	return nil
}

func isZombie(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] == 'Z'
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, en := range entries {
		p, err := strconv.Atoi(en.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", en.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) > 1 {
			if ppid, _ := strconv.Atoi(fields[1]); ppid == pid {
				out = append(out, p)
			}
		}
	}
	return out
}
