package studio

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/dev"
	"github.com/chatflow-dev/chatflow/test/procs"
)

const echoFlow = `apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata:
  name: echo
  namespace: default
spec:
  state: Unpublished
  trigger:
    type: WhatsApp
  nodes:
  - id: start
    type: Start
    next: greet
  - id: greet
    type: SendMessage
    sendMessage:
      text: "Hello {{ contact.name }}!"
    next: wait
  - id: wait
    type: WaitForReply
    waitForReply:
      timeout: 10m
    next: echo
  - id: echo
    type: SendMessage
    sendMessage:
      text: "You said: {{ message.text }}"
    next: end
  - id: end
    type: End
`

// TestBrowserLiveFlow runs chatflow dev (a real kube-apiserver and etcd,
// the manager with its webhooks and admission policy, executors as local
// processes, the channel sandbox) and drives a live flow from the canvas:
// an edit applied with server-side apply (a conflict with the field's
// owner, then taken over), Publish, a change that admission denies shown
// with its message, Delete disabled with the reason, and a chat with the
// published flow through the sandbox.
func TestBrowserLiveFlow(t *testing.T) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test`, or export KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh)")
	}
	bin, err := procs.Binary()
	if err != nil {
		t.Fatal(err)
	}
	port, err := procs.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	devDir := t.TempDir()
	config, _ := filepath.Abs("../../config")
	logf, err := os.Create(filepath.Join(devDir, "dev.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	ctrllog.SetLogger(zap.New(zap.WriteTo(logf)))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- dev.Run(ctx, dev.Options{Dir: devDir, ConfigDir: config, Assets: assets, Binary: bin,
			SandboxAddress: fmt.Sprintf("127.0.0.1:%d", port), Out: logf, Ready: ready})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("chatflow dev did not stop")
		}
	})
	select {
	case <-ready:
	case err := <-done:
		out, _ := os.ReadFile(logf.Name())
		t.Fatalf("chatflow dev stopped: %v\n%s", err, out)
	case <-time.After(4 * time.Minute):
		t.Fatal("chatflow dev did not come up")
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(devDir, "kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	// The flow, created by another field manager (as kubectl would), its
	// binding to the sandbox, and its credentials.
	objs, err := manifestObjects(echoFlow)
	if err != nil {
		t.Fatal(err)
	}
	sandboxURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "echo-whatsapp", Namespace: "default"},
		StringData: map[string]string{"accessToken": "t", "appSecret": "echo-app-secret", "verifyToken": "v"}}
	binding := &v1alpha1.ChannelBinding{ObjectMeta: metav1.ObjectMeta{Name: "echo-whatsapp", Namespace: "default"},
		Spec: v1alpha1.ChannelBindingSpec{FlowRef: v1alpha1.FlowReference{Name: "echo"}, Channel: v1alpha1.ChannelWhatsApp,
			Account:        v1alpha1.Account{Name: "Echo", PhoneNumber: "+15550001111", ID: "106540352242922"},
			CredentialsRef: v1alpha1.SecretReference{Name: "echo-whatsapp"}, APIBaseURL: sandboxURL}}
	for _, o := range []client.Object{secret, objs[0], binding} {
		if err := k8s.Create(context.Background(), o, client.FieldOwner("kubectl")); err != nil {
			t.Fatal(err)
		}
	}

	st := startStudio(t, Options{Cluster: &Cluster{Config: cfg, Namespace: "default", Context: "dev"}, DevDir: devDir, Paths: []string{t.TempDir()}})
	b := newBrowser(t)
	b.run("opening the live flow", chromedp.Navigate(st.s.URL()+"&live=default/echo"))
	b.run("its status", chromedp.WaitVisible(`[data-testid=live-panel]`, chromedp.ByQuery))
	b.waitJS("5 nodes", `document.querySelectorAll('.react-flow__node').length === 5`)
	if got := b.text(`[data-testid=live-state]`); got != "Unpublished" {
		t.Errorf("state: %q", got)
	}
	if got := b.text(`[data-testid=bindings]`); !strings.Contains(got, "echo-whatsapp") {
		t.Errorf("bindings: %q", got)
	}
	var deleteDisabled bool
	b.eval(`document.querySelector('[data-testid=delete-flow]').disabled`, &deleteDisabled)
	if deleteDisabled {
		t.Error("Delete is disabled on an Unpublished flow")
	}

	// An edit, applied: the text field is the creator's, so server-side
	// apply reports a conflict, which the user takes over.
	b.run("selecting greet", chromedp.Click(`[data-testid="node-greet"] .fnode-head`, chromedp.ByQuery), chromedp.WaitVisible(`[data-testid="field-sendMessage.text"]`, chromedp.ByQuery))
	b.set(`[data-testid="field-sendMessage.text"]`, "Hi {{ contact.name }}, say something!")
	b.waitJS("Apply enabled", `!document.querySelector('[data-testid=apply]').disabled`)
	b.run("apply", chromedp.Click(`[data-testid=apply]`, chromedp.ByQuery))
	b.waitJS("the conflict", `(document.querySelector('[data-testid=banner]')||{innerText:''}).innerText.includes('conflict')`)
	b.run("force apply", chromedp.Click(`[data-testid=banner-action]`, chromedp.ByQuery))
	b.waitJS("applied", `(document.querySelector('[data-testid=banner]')||{innerText:''}).innerText.includes('Applied')`)
	f := &v1alpha1.ChatFlow{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "echo"}, f); err != nil {
		t.Fatal(err)
	}
	if got := f.Spec.Nodes[1].SendMessage.Text; got != "Hi {{ contact.name }}, say something!" {
		t.Errorf("the applied text: %q", got)
	}
	managers := map[string]bool{}
	for _, m := range f.ManagedFields {
		managers[m.Manager+"/"+string(m.Operation)] = true
	}
	if !managers[FieldManager+"/Apply"] {
		t.Errorf("the studio's apply is not a server-side apply of its own: %v", managers)
	}

	// Publish from the canvas.
	b.run("publish", chromedp.Click(`[data-testid=publish]`, chromedp.ByQuery))
	b.waitJS("Published", `(document.querySelector('[data-testid=live-state]')||{}).innerText === 'Published'`)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "echo"}, f); err != nil {
			t.Fatal(err)
		}
		if meta.IsStatusConditionTrue(f.Status.Conditions, v1alpha1.ConditionReady) && f.Status.State == v1alpha1.StatePublished {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the published flow is not Ready: %+v", f.Status.Conditions)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var reason string
	b.eval(`document.querySelector('[data-testid=delete-flow]').disabled ? document.querySelector('[data-testid=delete-flow]').title : ''`, &reason)
	if !strings.Contains(reason, "unpublish it first") {
		t.Errorf("Delete of a Published flow: disabled with %q", reason)
	}
	b.screenshot("studio-live.png")

	// A change admission denies: the trigger type of a Published flow.
	b.run("the flow's properties", chromedp.Click(`[data-testid=tab-flow]`, chromedp.ByQuery), chromedp.WaitVisible(`[data-testid="field-spec.trigger.type"]`, chromedp.ByQuery))
	b.setSelect("field-spec.trigger.type", "Viber")
	b.waitJS("Apply enabled", `!document.querySelector('[data-testid=apply]').disabled`)
	b.run("apply", chromedp.Click(`[data-testid=apply]`, chromedp.ByQuery))
	b.waitJS("the conflict", `(document.querySelector('[data-testid=banner]')||{innerText:''}).innerText.includes('conflict')`)
	b.run("force apply", chromedp.Click(`[data-testid=banner-action]`, chromedp.ByQuery))
	b.waitJS("the denial", `(document.querySelector('[data-testid=banner]')||{innerText:''}).innerText.includes('cannot change while the flow is Published')`)
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "echo"}, f); err != nil || f.Spec.Trigger.Type != v1alpha1.TriggerWhatsApp {
		t.Errorf("the denied change reached the cluster: %v %v", err, f.Spec.Trigger.Type)
	}
	b.screenshot("studio-denied.png")

	// Chat with the published flow through the sandbox.
	b.run("reopening", chromedp.Navigate(st.s.URL()+"&live=default/echo"), chromedp.WaitVisible(`[data-testid=tab-chat]`, chromedp.ByQuery))
	b.run("chat", chromedp.Click(`[data-testid=tab-chat]`, chromedp.ByQuery), chromedp.Click(`[data-testid=chat-start]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=chat-input]`, chromedp.ByQuery))
	b.set(`[data-testid=chat-input]`, "hi")
	b.run("send", chromedp.Click(`[data-testid=chat-send]`, chromedp.ByQuery))
	b.waitJS("the greeting", `document.querySelector('[data-testid=chat-messages]').innerText.includes('Hi Alex, say something!')`)
	b.set(`[data-testid=chat-input]`, "the weather is fine")
	b.run("send", chromedp.Click(`[data-testid=chat-send]`, chromedp.ByQuery))
	b.waitJS("the echo", `document.querySelector('[data-testid=chat-messages]').innerText.includes('You said: the weather is fine')`)
	b.screenshot("studio-chat.png")

	// The canvas's counters move with the run, read from the executor's
	// metrics: it entered every node once, waited at wait and went on.
	counter := func(node string) string {
		return `(document.querySelector('[data-testid=counters-` + node + `]')||{innerText:''}).innerText`
	}
	b.waitJS("the counters of the run", counter("greet")+`.includes('▶ 1') && `+counter("echo")+`.includes('▶ 1') && `+
		counter("end")+`.includes('▶ 1') && `+counter("wait")+`.includes('⏸ 0')`)
	if got := b.text(`[data-testid=counters-echo]`); !strings.Contains(got, "⚠ 0") {
		t.Errorf("echo's counters %q: an error was counted", got)
	}
}

func manifestObjects(y string) ([]client.Object, error) {
	f := &v1alpha1.ChatFlow{}
	if err := yaml.UnmarshalStrict([]byte(y), f); err != nil {
		return nil, err
	}
	return []client.Object{f}, nil
}
