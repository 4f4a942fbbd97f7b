// Package gateway_test drives `chatflow gateway` as a real process in front
// of real executor processes, with the channel sandbox receiving the
// replies: one app's batch for several accounts reaches every account's
// flow behind one URL, and the answer is 200 only when every executor
// accepted its part.
package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/internal/sandbox"
	"github.com/chatflow-dev/chatflow/test/procs"
)

// appSecret is the one Meta app's secret: every Meta binding here belongs
// to the same app, as Meta delivers one app's events to one URL.
const (
	appSecret = "one-app-secret"
	ns        = "shop"
)

// flow is one published flow with its binding, as the rig starts it.
type flow struct {
	name, channel, account string
	// secret holds the binding's credentials (default: the app's).
	secret map[string]string
	// yaml overrides the echo flow.
	yaml string
}

func (f flow) credentials() map[string]string {
	if f.secret != nil {
		return f.secret
	}
	return map[string]string{"accessToken": "token-" + f.name, "appSecret": appSecret, "verifyToken": "verify-" + f.name, "runToken": "run-" + f.name}
}

// echoFlow answers every message with "<name>: you said <text>".
func echoFlow(name, trigger string) string {
	return fmt.Sprintf(`
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: %s, namespace: %s}
spec:
  trigger: {type: %s}
  nodes:
  - {id: start, type: Start, next: reply}
  - {id: reply, type: SendMessage, sendMessage: {text: "%s: you said {{ message.text }}"}, next: wait}
  - {id: wait, type: WaitForReply, waitForReply: {timeout: 1h}, next: loop}
  - {id: loop, type: Jump, jump: {target: reply, maxJumps: 100}, next: end}
  - {id: end, type: End}
`, name, ns, trigger, name)
}

func (f flow) bindingYAML(apiBaseURL string) string {
	return fmt.Sprintf(`apiVersion: chatflow.dev/v1alpha1
kind: ChannelBinding
metadata: {name: %s, namespace: %s}
spec:
  flowRef: {name: %s}
  channel: %s
  account: {name: %s, id: %q}
  credentialsRef: {name: %s}
  apiBaseURL: %s
`, f.name, ns, f.name, f.channel, f.name, f.account, f.name, apiBaseURL)
}

func (f flow) secretYAML() string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: %s}\nstringData:\n", f.name, ns)
	keys := []string{}
	for k := range f.credentials() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %q\n", k, f.credentials()[k])
	}
	return b.String()
}

// rig is a sandbox, the executors of some flows and gateways in front.
type rig struct {
	t         *testing.T
	box       *sandbox.Server
	sandbox   string
	client    *http.Client
	flows     []flow
	executors map[string]*procs.Executor
}

func newRig(t *testing.T, flows ...flow) *rig {
	var instagram []string
	for _, f := range flows {
		if f.channel == "Instagram" {
			instagram = append(instagram, f.account)
		}
	}
	box := sandbox.New(sandbox.Options{Instagram: instagram})
	sb := httptest.NewServer(box)
	t.Cleanup(sb.Close)
	r := &rig{t: t, box: box, sandbox: sb.URL, client: &http.Client{Timeout: 30 * time.Second}, flows: flows,
		executors: map[string]*procs.Executor{}}
	for _, f := range flows {
		y := f.yaml
		if y == "" {
			y = echoFlow(f.name, f.channel)
		}
		r.executors[f.name] = procs.StartExecutor(t, procs.ExecutorSpec{
			Flow: y, Binding: f.bindingYAML(r.apiBase(f)), Credentials: f.credentials(),
		})
	}
	return r
}

// apiBase is where a flow's binding sends: the sandbox (Graph paths carry
// a version for Messenger and Instagram).
func (r *rig) apiBase(f flow) string {
	if f.channel == "Messenger" || f.channel == "Instagram" {
		return r.sandbox + "/v21.0"
	}
	return r.sandbox
}

// manifests are the bindings and Secrets the gateway routes with.
func (r *rig) manifests() string {
	var docs []string
	for _, f := range r.flows {
		docs = append(docs, f.secretYAML(), f.bindingYAML(r.apiBase(f)))
	}
	return strings.Join(docs, "---\n")
}

// gateway starts a gateway in front of every executor.
func (r *rig) gateway() *procs.Gateway {
	execs := map[string]string{}
	for name, e := range r.executors {
		execs[ns+"/"+name+"-executor"] = e.URL
	}
	return procs.StartGateway(r.t, procs.GatewaySpec{Manifests: r.manifests(), Executors: execs})
}

// post posts a signed Meta webhook to a gateway and returns the status.
func (r *rig) post(g *procs.Gateway, path string, body []byte, secret string) int {
	r.t.Helper()
	code, err := procs.PostWebhook(context.Background(), r.client, g.URL, path, body, secret)
	if err != nil {
		r.t.Fatalf("posting to the gateway: %v\n%s", err, g.Log())
	}
	return code
}

// texts waits until the sandbox holds at least n messages to a contact
// and returns their texts, a little later, so that a doubled reply shows.
func (r *rig) texts(to string, n int) []string {
	r.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := procs.SandboxMessages(context.Background(), r.sandbox, to, 0, 0)
		if err != nil {
			r.t.Fatal(err)
		}
		if len(got) >= n || time.Now().After(deadline) {
			if n > 0 {
				time.Sleep(300 * time.Millisecond)
				got, _ = procs.SandboxMessages(context.Background(), r.sandbox, to, 0, 0)
			}
			out := make([]string, len(got))
			for i, m := range got {
				out[i] = m.Text()
				if m.Channel != "whatsapp" {
					out[i] = procs.MetaText(m.Body)
				}
			}
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *rig) expect(to string, want ...string) {
	r.t.Helper()
	if got := r.texts(to, len(want)); strings.Join(got, "|") != strings.Join(want, "|") {
		r.t.Fatalf("%s got %q, want %q", to, got, want)
	}
}

func metric(t *testing.T, url, series string) float64 {
	t.Helper()
	v, err := procs.Metric(url, series)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// twoNumbers starts the flows of two WhatsApp numbers of one app behind a
// gateway and posts one batch with a message for each: Ann's (15550001)
// to orders, Bob's (15550002) to support.
func twoNumbers(t *testing.T) (*rig, *procs.Gateway) {
	r := newRig(t, flow{name: "orders", channel: "WhatsApp", account: "111"}, flow{name: "support", channel: "WhatsApp", account: "222"})
	g := r.gateway()
	// One POST, as Meta batches an app's events: a message for each number.
	body, err := procs.WhatsAppWebhook("111",
		procs.WhatsAppMessage{From: "15550001", Name: "Ann", ID: "wamid.a1", Text: "where is my order"},
		procs.WhatsAppMessage{From: "15550002", Name: "Bob", ID: "wamid.b1", Text: "help", PhoneNumberID: "222"})
	if err != nil {
		t.Fatal(err)
	}
	if code := r.post(g, "/webhooks/whatsapp", body, appSecret); code != http.StatusOK {
		t.Fatalf("the batch: %d\n%s", code, g.Log())
	}
	return r, g
}

func TestTwoWhatsAppNumbersOfOneAppBehindOneURL(t *testing.T) {
	r, g := twoNumbers(t)
	r.expect("15550001", "orders: you said where is my order")
	r.expect("15550002", "support: you said help")
	if v := metric(t, g.URL, `chatflow_gateway_events_total{channel="whatsapp",result="forwarded"}`); v != 2 {
		t.Errorf("forwarded %v events, want 2", v)
	}
	// Meta's handshake, with any of the numbers' verify tokens.
	for token, want := range map[string]int{"verify-orders": 200, "verify-support": 200, "nope": 403} {
		resp, err := r.client.Get(g.URL + "/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=" + token)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (want == 200 && string(data) != "1158201444") {
			t.Errorf("handshake with %q: %d %q, want %d", token, resp.StatusCode, data, want)
		}
	}
}

func TestTwoPagesAndTwoInstagramAccountsOfOneApp(t *testing.T) {
	for _, ch := range []struct {
		channel, path string
		instagram     bool
	}{{"Messenger", "/webhooks/messenger", false}, {"Instagram", "/webhooks/instagram", true}} {
		t.Run(ch.channel, func(t *testing.T) {
			r := newRig(t, flow{name: "sales", channel: ch.channel, account: "acct-1"}, flow{name: "care", channel: ch.channel, account: "acct-2"})
			g := r.gateway()
			one, err := procs.MessengerWebhook(ch.instagram, "acct-1", procs.MetaMessage{From: "psid-1", ID: "mid.1", Text: "price?"})
			if err != nil {
				t.Fatal(err)
			}
			two, err := procs.MessengerWebhook(ch.instagram, "acct-2", procs.MetaMessage{From: "psid-2", ID: "mid.2", Text: "broken"})
			if err != nil {
				t.Fatal(err)
			}
			body, err := procs.MetaBatch(one, two)
			if err != nil {
				t.Fatal(err)
			}
			if code := r.post(g, ch.path, body, appSecret); code != http.StatusOK {
				t.Fatalf("the batch: %d\n%s", code, g.Log())
			}
			r.expect("psid-1", "sales: you said price?")
			r.expect("psid-2", "care: you said broken")
			// A webhook of the other Meta channel's object on this path is
			// acknowledged and counted, not forwarded.
			wa, _ := procs.WhatsAppWebhook("acct-1", procs.WhatsAppMessage{From: "psid-1", Name: "x", ID: "wamid.x", Text: "x"})
			if code := r.post(g, ch.path, wa, appSecret); code != http.StatusOK {
				t.Fatalf("another object: %d", code)
			}
			if v := metric(t, g.URL, `chatflow_gateway_events_total{channel="`+strings.ToLower(ch.channel)+`",result="unrouted"}`); v != 1 {
				t.Errorf("unrouted %v, want 1", v)
			}
			r.expect("psid-1", "sales: you said price?")
		})
	}
}

func TestUnknownAccountsWrongSignaturesAndBadBodies(t *testing.T) {
	r := newRig(t, flow{name: "orders", channel: "WhatsApp", account: "111"})
	g := r.gateway()
	e := r.executors["orders"]
	// An account no binding names: acknowledged, counted, dropped.
	body, _ := procs.WhatsAppWebhook("999", procs.WhatsAppMessage{From: "15550009", Name: "Zed", ID: "wamid.z", Text: "hi"})
	if code := r.post(g, "/webhooks/whatsapp", body, appSecret); code != http.StatusOK {
		t.Fatalf("unknown number: %d", code)
	}
	if v := metric(t, g.URL, `chatflow_gateway_events_total{channel="whatsapp",result="unrouted"}`); v != 1 {
		t.Errorf("unrouted %v, want 1", v)
	}
	if !strings.Contains(g.Log(), `"account":"999"`) {
		t.Errorf("the unrouted account is not logged:\n%s", g.Log())
	}
	// A wrong or missing signature: 401, nothing forwarded.
	mine, _ := procs.WhatsAppWebhook("111", procs.WhatsAppMessage{From: "15550001", Name: "Ann", ID: "wamid.f", Text: "forged"})
	for _, secret := range []string{"another-app", ""} {
		if code := r.post(g, "/webhooks/whatsapp", mine, secret); code != http.StatusUnauthorized {
			t.Errorf("signed with %q: %d, want 401", secret, code)
		}
	}
	// Too large (4 MiB cap, as the executor's) and malformed (signed).
	if code := r.post(g, "/webhooks/whatsapp", append(mine, make([]byte, 4<<20)...), appSecret); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized: %d, want 413", code)
	}
	if code := r.post(g, "/webhooks/whatsapp", []byte(`{"object":"whatsapp_business_account","entry":[`), appSecret); code != http.StatusBadRequest {
		t.Errorf("malformed: %d, want 400", code)
	}
	time.Sleep(300 * time.Millisecond)
	if a, z := r.texts("15550001", 0), r.texts("15550009", 0); len(a)+len(z) != 0 {
		t.Fatalf("something was processed: %q %q", a, z)
	}
	if v := metric(t, e.URL, `chatflow_webhooks_total{channel="whatsapp",flow="orders",namespace="shop",result="accepted"}`); v != 0 {
		t.Fatalf("the executor accepted %v webhooks", v)
	}
	if v := metric(t, g.URL, `chatflow_gateway_requests_total{channel="whatsapp",code="401"}`); v != 2 {
		t.Errorf("401s counted: %v", v)
	}
}

// TestOneExecutorDownThenRedelivery: a batch for two numbers while one
// executor is down gets 5xx, though the other took its part; Meta
// redelivers the same batch once the executor is back, and every message
// is answered exactly once.
func TestOneExecutorDownThenRedelivery(t *testing.T) {
	r := newRig(t, flow{name: "orders", channel: "WhatsApp", account: "111"}, flow{name: "support", channel: "WhatsApp", account: "222"})
	g := r.gateway()
	// A first message, so the gateway keeps a connection to the executor
	// that is about to go: the next forward finds it dead, tries a new
	// one, and fails only because nothing listens.
	warm, _ := procs.WhatsAppWebhook("222", procs.WhatsAppMessage{From: "15550020", Name: "W", ID: "wamid.warm", Text: "warm"})
	if code := r.post(g, "/webhooks/whatsapp", warm, appSecret); code != http.StatusOK {
		t.Fatalf("warm-up: %d", code)
	}
	r.expect("15550020", "support: you said warm")
	down := r.executors["support"]
	down.Kill()
	body, _ := procs.WhatsAppWebhook("111",
		procs.WhatsAppMessage{From: "15550011", Name: "Ann", ID: "wamid.r1", Text: "one"},
		procs.WhatsAppMessage{From: "15550022", Name: "Bob", ID: "wamid.r2", Text: "two", PhoneNumberID: "222"})
	if code := r.post(g, "/webhooks/whatsapp", body, appSecret); code/100 != 5 {
		t.Fatalf("with an executor down: %d, want 5xx", code)
	}
	r.expect("15550011", "orders: you said one")
	if err := down.Start(); err != nil {
		t.Fatal(err)
	}
	if code := r.post(g, "/webhooks/whatsapp", body, appSecret); code != http.StatusOK {
		t.Fatalf("the redelivery: %d\n%s", code, g.Log())
	}
	r.expect("15550011", "orders: you said one")
	r.expect("15550022", "support: you said two")
	if v := metric(t, g.URL, `chatflow_gateway_events_total{channel="whatsapp",result="failed"}`); v != 1 {
		t.Errorf("failed %v, want 1", v)
	}
}

// TestSecretRotation: the app secret changes (Meta's reset, then the
// Secret's update): the new one verifies, the old one is refused, without
// restarting the gateway or the executor.
func TestSecretRotation(t *testing.T) {
	f := flow{name: "orders", channel: "WhatsApp", account: "111"}
	r := newRig(t, f)
	g := r.gateway()
	rotated := flow{name: "orders", channel: "WhatsApp", account: "111", secret: f.credentials()}
	rotated.secret = map[string]string{}
	for k, v := range f.credentials() {
		rotated.secret[k] = v
	}
	rotated.secret["appSecret"] = "rotated-app-secret"
	r.flows = []flow{rotated}
	if err := g.WriteManifests(r.manifests()); err != nil {
		t.Fatal(err)
	}
	// The executor's mounted Secret changes too.
	if err := writeCredential(r.executors["orders"], "appSecret", "rotated-app-secret"); err != nil {
		t.Fatal(err)
	}
	body, _ := procs.WhatsAppWebhook("111", procs.WhatsAppMessage{From: "15550031", Name: "Ann", ID: "wamid.rot", Text: "rotated"})
	deadline := time.Now().Add(15 * time.Second)
	code := 0
	for time.Now().Before(deadline) {
		if code = r.post(g, "/webhooks/whatsapp", body, "rotated-app-secret"); code == http.StatusOK {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code != http.StatusOK {
		t.Fatalf("the new secret: %d\n%s", code, g.Log())
	}
	if code := r.post(g, "/webhooks/whatsapp", body, appSecret); code != http.StatusUnauthorized {
		t.Fatalf("the old secret after rotation: %d, want 401", code)
	}
	r.expect("15550031", "orders: you said rotated")
}

// writeCredential changes one key of an executor's mounted Secret the way
// the kubelet does: a new file swapped in.
func writeCredential(e *procs.Executor, key, value string) error {
	path := filepath.Join(e.Dir, "credentials", key)
	if err := os.WriteFile(path+".new", []byte(value), 0o600); err != nil {
		return err
	}
	return os.Rename(path+".new", path)
}

func TestViberBotsByPath(t *testing.T) {
	viberFlow := `
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: cafe, namespace: shop}
spec:
  trigger: {type: Viber}
  nodes:
  - {id: start, type: Start, next: hello}
  - {id: hello, type: SendMessage, sendMessage: {text: "Hello {{ contact.name }}!"}, next: wait}
  - {id: wait, type: WaitForReply, waitForReply: {timeout: 1h}, next: answer}
  - {id: answer, type: SendMessage, sendMessage: {text: "cafe: you said {{ message.text }}"}, next: end}
  - {id: end, type: End}
`
	r := newRig(t, flow{name: "cafe", channel: "Viber", account: "pa-cafe", secret: map[string]string{"authToken": "cafe-token"}, yaml: viberFlow})
	g := r.gateway()
	post := func(path string, body []byte, token string) (int, []byte) {
		code, resp, err := procs.PostViberWebhook(context.Background(), r.client, g.URL, path, body, token)
		if err != nil {
			t.Fatal(err)
		}
		return code, resp
	}
	// The welcome message of conversation_started comes back through the
	// gateway as the executor wrote it.
	opened, _ := procs.ViberConversationStarted("viber-user", "Ann", 4912661846655238145)
	code, welcome := post("/webhooks/viber/pa-cafe", opened, "cafe-token")
	if text, _ := procs.ViberText(welcome); code != http.StatusOK || text != "Hello Ann!" {
		t.Fatalf("conversation_started: %d %s\n%s", code, welcome, g.Log())
	}
	msg, _ := procs.ViberMessage("viber-user", "Ann", 4912661846655238146, "latte", "")
	if code, _ := post("/webhooks/viber/pa-cafe", msg, "cafe-token"); code != http.StatusOK {
		t.Fatalf("message: %d", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	var got []procs.SandboxMessage
	for time.Now().Before(deadline) && len(got) == 0 {
		got, _ = procs.SandboxMessages(context.Background(), r.sandbox, "viber-user", 0, time.Second)
	}
	if text, _ := procs.ViberText(got[0].Body); len(got) != 1 || text != "cafe: you said latte" {
		t.Fatalf("viber reply: %+v", got)
	}
	if code, _ := post("/webhooks/viber/pa-cafe", msg, "wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", code)
	}
	if code, _ := post("/webhooks/viber/pa-other", msg, "whatever"); code != http.StatusOK {
		t.Errorf("unknown bot: %d, want 200", code)
	}
	if v := metric(t, g.URL, `chatflow_gateway_events_total{channel="viber",result="unrouted"}`); v != 1 {
		t.Errorf("unrouted %v", v)
	}
}

func TestRunAPIThroughTheGateway(t *testing.T) {
	manual := `
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: remind, namespace: shop}
spec:
  trigger: {type: Manual, inputs: [{name: who, required: true}]}
  nodes:
  - {id: start, type: Start, next: hello}
  - {id: hello, type: SendMessage, sendMessage: {text: "reminder for {{ trigger.who }}"}, next: end}
  - {id: end, type: End}
`
	r := newRig(t, flow{name: "remind", channel: "WhatsApp", account: "333", yaml: manual})
	g := r.gateway()
	run := func(flow, token, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1/namespaces/shop/chatflows/"+flow+"/runs", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := r.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	body := `{"contact":{"id":"15550041","name":"Ann"},"variables":{"who":"Ann"},"idempotencyKey":"k1"}`
	if code, out := run("remind", "run-remind", body); code != http.StatusAccepted || !strings.Contains(out, `"runId":"k1"`) {
		t.Fatalf("run: %d %s\n%s", code, out, g.Log())
	}
	r.expect("15550041", "reminder for Ann")
	if code, _ := run("remind", "wrong", body); code != http.StatusUnauthorized {
		t.Errorf("wrong run token: %d, the executor's 401 expected", code)
	}
	if code, _ := run("other", "run-remind", body); code != http.StatusNotFound {
		t.Errorf("a flow that is not published: %d, want 404", code)
	}
}
