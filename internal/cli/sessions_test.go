package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/sandbox"
	"github.com/chatflow-dev/chatflow/internal/testenv"
	"github.com/chatflow-dev/chatflow/test/procs"
)

const inspectFlow = `apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: greeter, namespace: shop}
spec:
  trigger: {type: WhatsApp}
  variables: [{name: secret, value: "s3cr3t", sensitive: true}]
  nodes:
  - {id: start, type: Start, next: ask}
  - {id: ask, type: SendMessage, sendMessage: {text: "Your name?"}, next: wait}
  - {id: wait, type: WaitForReply, waitForReply: {timeout: 2h, saveAs: name}, next: thanks}
  - {id: thanks, type: SendMessage, sendMessage: {text: "Thanks {{ vars.name }}"}, next: pause}
  - {id: pause, type: Delay, delay: {duration: 1h}, next: end}
  - {id: end, type: End}
`

const inspectBinding = `apiVersion: chatflow.dev/v1alpha1
kind: ChannelBinding
metadata: {name: greeter, namespace: shop}
spec:
  flowRef: {name: greeter}
  channel: WhatsApp
  account: {name: Shop, id: "106540352242922"}
  credentialsRef: {name: greeter-whatsapp}
  apiBaseURL: %s
`

// chatflow sessions and chatflow trace, as a user whose RBAC allows them,
// against a real API server (the flow, its binding and its Secret) and a
// real executor process: the table of who waits where and the timeline
// of a contact, a sensitive value redacted. Without the right to read the
// Secret, or to proxy to the Service, they say so.
func TestSessionsAndTrace(t *testing.T) {
	env, err := testenv.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	admin, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	box := httptest.NewServer(sandbox.New(sandbox.Options{Tokens: map[string]string{"106540352242922": "token"}}))
	defer box.Close()
	creds := map[string]string{"accessToken": "token", "appSecret": "app-secret", "verifyToken": "v", "runToken": "run-token"}
	bindingYAML := strings.Replace(inspectBinding, "%s", box.URL, 1)
	exe := procs.StartExecutor(t, procs.ExecutorSpec{Flow: inspectFlow, Binding: bindingYAML, Credentials: creds, Store: "memory"})

	var flow v1alpha1.ChatFlow
	var binding v1alpha1.ChannelBinding
	if err := yaml.UnmarshalStrict([]byte(inspectFlow), &flow); err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict([]byte(bindingYAML), &binding); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "greeter-whatsapp", Namespace: "shop"}, StringData: creds}
	for _, o := range []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, &flow, &binding, secret} {
		if err := admin.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	// Alice may read flows, bindings and their Secrets in shop, and proxy
	// to its Services; Bob may not proxy; Carol may not read Secrets.
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{"chatflow.dev"}, Resources: []string{"chatflows", "channelbindings"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"services/proxy"}, Verbs: []string{"get"}},
	}
	kubeconfigOf := func(name string, rules []rbacv1.PolicyRule) string {
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}, Rules: rules}
		rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
			Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: name}}}
		for _, o := range []client.Object{role, rb} {
			if err := admin.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		first := rules[0]
		if err := testenv.AwaitAccess(ctx, admin, name, []string{"system:authenticated"}, authorizationv1.ResourceAttributes{
			Namespace: "shop", Verb: first.Verbs[0], Group: first.APIGroups[0], Resource: first.Resources[0]}); err != nil {
			t.Fatal(err)
		}
		u, err := env.ControlPlane.AddUser(envtest.User{Name: name}, nil)
		if err != nil {
			t.Fatal(err)
		}
		kc, err := u.KubeConfig()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "kubeconfig")
		if err := os.WriteFile(p, kc, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	alice := kubeconfigOf("alice", rules)
	bob := kubeconfigOf("bob", rules[:2])     // no services/proxy
	carol := kubeconfigOf("carol", rules[:1]) // no Secrets either
	nodev := t.TempDir()                      // no chatflow dev runs there

	run := func(kubeconfig string, args ...string) (string, error) {
		t.Helper()
		cmd := NewRoot()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append(args, "-n", "shop", "--kubeconfig", kubeconfig, "--dir", nodev))
		err := cmd.ExecuteContext(ctx)
		return out.String(), err
	}

	// Two contacts: one waits for a reply, one in the delay.
	say := func(from, id, text string) {
		body, err := procs.WhatsAppWebhook("106540352242922", procs.WhatsAppMessage{From: from, Name: "Kim", ID: id, Text: text})
		if err != nil {
			t.Fatal(err)
		}
		if code, err := procs.PostWebhook(ctx, http.DefaultClient, exe.URL, "/webhooks/whatsapp", body, "app-secret"); err != nil || code != http.StatusOK {
			t.Fatalf("webhook: %d %v", code, err)
		}
	}
	say("15550300001", "wamid.1", "hi")
	say("15550300002", "wamid.2", "hi")
	waitFor := func(what string, ok func(string) bool, args ...string) string {
		t.Helper()
		var out string
		for deadline := time.Now().Add(15 * time.Second); ; {
			var err error
			out, err = run(alice, args...)
			if err == nil && ok(out) {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v\n%s\n%s", what, err, out, exe.Log())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("both contacts at wait", func(s string) bool { return strings.Count(s, "\nwait ") == 2 },
		"sessions", "greeter", "--executor", exe.URL)
	say("15550300002", "wamid.3", "Kim")
	out := waitFor("one contact at wait, one at pause", func(s string) bool {
		return strings.Contains(s, "wait   15550300001  WaitingReply") && strings.Contains(s, "pause  15550300002  Delayed")
	}, "sessions", "greeter", "--executor", exe.URL)
	for _, want := range []string{"NODE   CONTACT      STATUS        WAITING  DEADLINE", "in 1h59m", "in 59m"} {
		if !strings.Contains(out, want) {
			t.Errorf("sessions lacks %q:\n%s", want, out)
		}
	}
	out, err = run(alice, "sessions", "greeter", "--executor", exe.URL, "--node", "pause")
	if err != nil || strings.Contains(out, "15550300001") || !strings.Contains(out, "15550300002") {
		t.Errorf("sessions --node pause: %v\n%s", err, out)
	}
	if _, err := run(alice, "sessions", "greeter", "--executor", exe.URL, "--node", "nope"); err == nil || !strings.Contains(err.Error(), `no node "nope"`) {
		t.Errorf("--node nope: %v", err)
	}

	out, err = run(alice, "trace", "greeter", "15550300002", "--executor", exe.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Contact 15550300002 of flow shop/greeter\n",
		"Status: Delayed at pause (Delay)\n",
		"Waiting for the end of the delay\n",
		"then next\n",
		"  name    \"Kim\"\n",
		"  secret  [redacted]\n",
		"Timeline:\n",
		"run started: inbound",
		"-> ask (SendMessage)",
		"   wait left by replied",
		"-> pause (Delay)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("trace lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cr3t") {
		t.Errorf("trace shows a sensitive value:\n%s", out)
	}
	out, err = run(alice, "trace", "greeter", "15550300002", "--executor", exe.URL, "-o", "json")
	if err != nil || !strings.Contains(out, `"status":"Delayed"`) {
		t.Errorf("trace -o json: %v\n%s", err, out)
	}
	if _, err := run(alice, "trace", "greeter", "15550309999", "--executor", exe.URL); err == nil || !strings.Contains(err.Error(), "404 Not Found: no session") {
		t.Errorf("trace of an unknown contact: %v", err)
	}

	// Carol cannot read the Secret with the runToken.
	if _, err := run(carol, "sessions", "greeter", "--executor", exe.URL); err == nil || !strings.Contains(err.Error(), "reading the runToken from Secret greeter-whatsapp") {
		t.Errorf("carol: %v", err)
	}
	// Without --executor nor chatflow dev, the way is the Service, through
	// the API server's proxy: alice's request is authorized and reaches
	// the Service, which has no endpoints here (no kubelet); bob may not
	// proxy.
	if _, err := run(alice, "sessions", "greeter"); err == nil || !strings.Contains(err.Error(), `503 Service Unavailable: {"kind":"Status"`) ||
		!strings.Contains(err.Error(), `no endpoints available for service \"greeter-executor\"`) {
		t.Errorf("alice through the service proxy: %v", err)
	}
	if _, err := run(bob, "trace", "greeter", "15550300002"); err == nil || !strings.Contains(err.Error(), "403 Forbidden") {
		t.Errorf("bob through the service proxy: %v", err)
	}
}
