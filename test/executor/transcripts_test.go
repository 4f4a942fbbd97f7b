package executor_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/chat"
	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/internal/sandbox"
	"github.com/chatflow-dev/chatflow/internal/templates"
	"github.com/chatflow-dev/chatflow/internal/transcript"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
	"github.com/chatflow-dev/chatflow/test/procs"
)

// TestTranscriptsThroughTheExecutor replays every transcript test of the
// repository (config/samples/*.test.yaml, every template for every trigger
// it offers, internal/transcript's testdata; the docs have no transcript
// tests) against a real executor process and requires the transcript that
// `chatflow test` sees: the same sends in the same order (as the channel's
// send requests, byte for byte as JSON), the same HTTP calls, the same
// hand-offs and forwarded messages, and the same execution events (event,
// node, type, branch: every branch taken, every wait and every end), input
// by input. Variables are observable only through what those carry.
//
// Each test gets a fresh executor (memory store, --debug-clock set to the
// transcript's clock before each input). Inputs become what the channel or
// the caller would send: signed webhooks built and parsed by the channel
// packages (a tap picks the choice the executor actually rendered), run
// API calls, resume calls, and a clock moved to a timer's deadline. HTTP
// stubs are served by a loopback server the flow's URLs are pointed at;
// sendErrors become sandbox faults on those sends; the answers AI nodes got
// from the ai: stubs are scripted into the sandbox's model, which the
// executor calls (the same requests, compared). Expectations (bot:,
// vars:, ...) are not checked here: `chatflow test` does that; a test is
// replayed up to the first input `chatflow test` cannot play.
func TestTranscriptsThroughTheExecutor(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an executor process per transcript test")
	}
	cases := transcriptCases(t)
	if len(cases) < 25 {
		t.Fatalf("found only %d transcript files", len(cases))
	}
	played := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tf, prog, ch, err := transcript.Load(c.flow, c.tests)
			if err != nil {
				t.Fatal(err)
			}
			_, lf, lr, err := transcript.LoadLinted(c.flow, c.tests)
			if err != nil {
				t.Fatal(err)
			}
			// The flows it forwards to run in its executor (--subflows).
			var subflows []*v1alpha1.ChatFlow
			for _, o := range lr.Flows {
				if slices.Contains(prog.Linked(), o.Object.Name) {
					subflows = append(subflows, o.Admitted)
				}
			}
			for i := range tf.Tests {
				test := &tf.Tests[i]
				t.Run(test.Name, func(t *testing.T) {
					xs, _ := transcript.Play(tf, prog, ch, test)
					if len(xs) == 0 {
						return // nothing to replay: the first input is refused
					}
					played++
					replay(t, lf.Admitted, prog.Models(), subflows, ch, tf, test, xs)
				})
			}
		})
	}
	t.Logf("replayed %d transcript tests of %d files", played, len(cases))
}

type transcriptCase struct {
	name        string
	flow, tests manifest.Source
}

func transcriptCases(t *testing.T) []transcriptCase {
	root := procs.RepoRoot()
	read := func(path string) manifest.Source {
		src, err := manifest.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	var out []transcriptCase
	samples, _ := filepath.Glob(filepath.Join(root, "config", "samples", "*.test.yaml"))
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.test.yaml"))
	for _, f := range append(samples, docs...) {
		out = append(out, transcriptCase{name: filepath.Base(f), flow: read(transcript.FlowFileFor(f)), tests: read(f)})
	}
	out = append(out, transcriptCase{name: "failing.test.yaml",
		flow:  read(filepath.Join(root, "config", "samples", "order-status.yaml")),
		tests: read(filepath.Join(root, "internal", "transcript", "testdata", "failing.test.yaml"))})
	for _, tmpl := range templates.All {
		for _, trigger := range tmpl.Triggers {
			flow, tests, err := tmpl.Render("my-"+tmpl.Name, trigger)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, transcriptCase{name: tmpl.Name + "/" + trigger,
				flow: manifest.Source{Name: "my-" + tmpl.Name + ".yaml", Data: flow}, tests: manifest.Source{Name: "my-" + tmpl.Name + ".test.yaml", Data: tests}})
		}
	}
	return out
}

// accounts are the bound accounts of the replays, per channel.
var accounts = map[message.Channel]chat.Account{
	message.WhatsApp:  {Channel: message.WhatsApp, ID: phoneID, Phone: "+15550001111"},
	message.Messenger: {Channel: message.Messenger, ID: pageID},
	message.Instagram: {Channel: message.Instagram, ID: igID},
	message.Viber:     {Channel: message.Viber, ID: botID, SenderName: "Chatflow Cafe"},
}

var replayCredentials = map[string]string{
	"accessToken": credentials["accessToken"], "appSecret": appSecret, "verifyToken": "v",
	"authToken": authToken, "runToken": "replay-run-token",
}

// replayModelKey is the API key of the replays' models.
const replayModelKey = "sk-replay-model-key"

// replayer replays one transcript test against one executor.
type replayer struct {
	t       *testing.T
	acct    chat.Account
	tf      *transcript.File
	test    *transcript.Test
	exec    *procs.Executor
	sbx     *sandbox.Server
	stubs   *stubServer
	client  *http.Client
	contact message.Contact
	cursor  int64 // last sandbox record compared
	// modelCursor is the last model request compared.
	modelCursor int64
	logs        int // execution events compared
	turns       int
	offered     []message.Outbound // what the flow sent so far (Viber taps match titles)
}

func replay(t *testing.T, flowObj *v1alpha1.ChatFlow, models []string, subflows []*v1alpha1.ChatFlow, ch message.Channel, tf *transcript.File, test *transcript.Test, xs []transcript.Exchange) {
	acct := accounts[ch]
	acct.Manual = flowObj.Spec.Trigger.Type == v1alpha1.TriggerManual
	sbx := sandbox.New(sandbox.Options{Tokens: map[string]string{acct.ID: replayCredentials["accessToken"]}, Instagram: []string{igID}, ModelAPIKey: replayModelKey})
	if ch == message.Viber {
		sbx = sandbox.New(sandbox.Options{Tokens: map[string]string{acct.ID: authToken}, ModelAPIKey: replayModelKey})
	}
	sb := httptest.NewServer(sbx)
	t.Cleanup(sb.Close)
	stubs := &stubServer{stubs: tf.TestStubs(test)}
	stub := httptest.NewServer(stubs)
	t.Cleanup(stub.Close)
	stubs.base = stub.URL

	manifestYAML, secrets := executorFlow(t, flowObj, stub.URL)
	args := []string{"--debug-clock", "--allow-private-networks", "127.0.0.0/8", "--secrets", secrets, "--workers", "2"}
	if len(subflows) > 0 {
		var docs []string
		for _, sf := range subflows {
			doc, sfSecrets := executorFlow(t, sf, stub.URL)
			copyDir(t, sfSecrets, secrets)
			docs = append(docs, doc)
		}
		path := filepath.Join(t.TempDir(), "subflows.yaml")
		if err := os.WriteFile(path, []byte(strings.Join(docs, "---\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--subflows", path)
	}
	base := sb.URL
	if ch == message.Messenger || ch == message.Instagram {
		base += "/v21.0"
	}
	bindingYAML := fmt.Sprintf(`
apiVersion: chatflow.dev/v1alpha1
kind: ChannelBinding
metadata: {name: replay, namespace: %s}
spec:
  flowRef: {name: %s}
  channel: %s
  account: {name: %q, id: %q, phoneNumber: %q}
  credentialsRef: {name: replay}
  apiBaseURL: %s
`, flowObj.Namespace, flowObj.Name, ch, acct.SenderName, acct.ID, acct.Phone, base)
	var modelsYAML strings.Builder
	for _, m := range models {
		fmt.Fprintf(&modelsYAML, `---
apiVersion: chatflow.dev/v1alpha1
kind: LanguageModel
metadata: {name: %s, namespace: %s}
spec: {baseURL: %q, model: %s, apiKeyRef: {name: replay-model, key: apiKey}, timeout: 10s}
`, m, flowObj.Namespace, sb.URL+"/v1", m)
	}
	e := procs.StartExecutor(t, procs.ExecutorSpec{Flow: manifestYAML, Binding: bindingYAML, Credentials: replayCredentials,
		Models: modelsYAML.String(), ModelKeys: map[string]map[string]string{"replay-model": {"apiKey": replayModelKey}},
		Store: "memory", Args: args})
	r := &replayer{t: t, acct: acct, tf: tf, test: test, exec: e, sbx: sbx, stubs: stubs,
		client: &http.Client{Timeout: 10 * time.Second}, contact: xs[0].Contact}
	for i := range xs {
		x := &xs[i]
		r.input(x)
		if !r.compare(x) {
			return
		}
	}
}

// executorFlow is the flow as the replay's executor runs it: its HTTP and
// notification URLs pointed at the stub server (the node and the original
// URL in the path), logging on; and a directory of the Secrets its headers
// read, each value "secret:<name>/<key>" as `chatflow test` shows it.
func executorFlow(t *testing.T, f *v1alpha1.ChatFlow, stubURL string) (string, string) {
	f = f.DeepCopy()
	if f.Namespace == "" {
		f.Namespace = "replay"
	}
	f.Spec.Logging.Enabled = true
	secrets := t.TempDir()
	for i := range f.Spec.Nodes {
		n := &f.Spec.Nodes[i]
		if h := n.HTTPRequest; h != nil {
			h.URL = stubURL + "/n/" + n.ID + "/" + strings.Replace(h.URL, "://", "/", 1)
			for _, hd := range h.Headers {
				if hd.ValueFrom == nil {
					continue
				}
				ref := hd.ValueFrom.SecretKeyRef
				dir := filepath.Join(secrets, ref.Name)
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, ref.Key), []byte("secret:"+ref.Name+"/"+ref.Key), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		if h := n.Handoff; h != nil && h.NotifyURL != "" {
			h.NotifyURL = stubURL + "/h/" + n.ID + "/" + strings.Replace(h.NotifyURL, "://", "/", 1)
		}
	}
	f.Status = v1alpha1.ChatFlowStatus{}
	f.APIVersion, f.Kind = v1alpha1.GroupVersion.String(), "ChatFlow"
	out, err := yaml.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(out), secrets
}

// copyDir copies the Secret directories of a called flow next to the
// caller's: one executor mounts them all.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(to, rel)), 0o700); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// input makes the executor see what the transcript's input is.
func (r *replayer) input(x *transcript.Exchange) {
	t := r.t
	r.post("/debug/clock", "", 0, map[string]any{"now": x.Now})
	r.arm(x)
	r.armModel(x)
	s := x.Input
	r.turns++
	switch s.Kind {
	case transcript.StepUser:
		r.webhook(chat.Input{Text: s.Text}, x.Now)
	case transcript.StepTap:
		r.webhook(r.tap(s), x.Now)
	case transcript.StepRun:
		want := 0
		if rejectedRun(x) {
			// The run API refuses what the flow would reject, before
			// anything is queued: 400, and no turn.
			want, r.turns = http.StatusBadRequest, r.turns-1
		}
		r.post("/v1/runs", replayCredentials["runToken"], want, map[string]any{
			"contact":        map[string]string{"id": r.contact.ID, "name": r.contact.Name},
			"variables":      s.Inputs,
			"idempotencyKey": fmt.Sprintf("run-%d", r.turns),
		})
	case transcript.StepResume:
		r.post("/v1/contacts/"+r.contact.ID+"/resume", replayCredentials["runToken"], 0, nil)
	case transcript.StepTimer:
		// The clock is at the timer's deadline: the store fires it.
	default:
		t.Fatalf("line %d: the replay cannot send a %s step through a channel yet", s.Line, s.Kind)
	}
	if !r.waitTurns() {
		t.Fatalf("line %d (%s): the executor did not finish the turn (%d turns expected)\n%s", s.Line, s.Kind, r.turns, r.exec.Log())
	}
}

// arm makes the sandbox refuse the sends the test's sendErrors refuse:
// faults in the order of this input's send requests.
func (r *replayer) arm(x *transcript.Exchange) {
	errs := r.sendErrors()
	request, last := 0, -1
	for _, s := range x.Sends {
		bodies, err := r.acct.Render(s.Message)
		if err != nil {
			continue // refused before any request, as the executor's sender does
		}
		if e, ok := errs[s.NodeID]; ok {
			if _, err := r.sbx.AddFault(sandbox.Fault{Channel: strings.ToLower(string(r.acct.Channel)), To: r.contact.ID,
				Code: e.Code, After: request - last - 1}); err != nil {
				r.t.Fatal(err)
			}
			last = request
			request++ // the first request fails; the others are not made
			continue
		}
		request += len(bodies)
	}
}

// armModel scripts the sandbox's model with the answers the input's model
// calls got from the test's ai: stubs, in order: an answer or a refusal
// as such, an error as a 400 fault on that request (not retried).
func (r *replayer) armModel(x *transcript.Exchange) {
	last := -1
	for i, m := range x.Models {
		var err error
		switch res := m.Result; {
		case res.Err != "":
			_, err = r.sbx.AddFault(sandbox.Fault{Channel: sandbox.ModelChannel, Code: http.StatusBadRequest, After: i - last - 1})
			last = i
		case res.Refusal != "":
			_, err = r.sbx.AddAnswer(sandbox.Answer{Refusal: res.Refusal})
		default:
			_, err = r.sbx.AddAnswer(sandbox.Answer{Content: res.Content})
		}
		if err != nil {
			r.t.Fatal(err)
		}
	}
}

// sendErrors are the sends the test's channel refuses, by node.
func (r *replayer) sendErrors() map[string]transcript.SendError {
	errs := map[string]transcript.SendError{}
	for k, v := range r.tf.SendErrors {
		errs[k] = v
	}
	for k, v := range r.test.SendErrors {
		errs[k] = v
	}
	return errs
}

// tap is the pick of a choice the executor sent: the newest message of
// the contact whose choices hold the tapped id (Viber: its title).
func (r *replayer) tap(s *transcript.Step) chat.Input {
	id := s.Tap.ID
	if s.Tap.Payload != "" {
		id = s.Tap.Payload
	}
	recs := r.sbx.Messages(sandbox.Query{To: r.contact.ID})
	for i := len(recs) - 1; i >= 0; i-- {
		reply := chat.ParseReply(r.acct.Channel, recs[i].MessageID, recs[i].Body)
		for _, c := range reply.Choices {
			if c.ID == id || (r.acct.Channel == message.Viber && r.titleOf(id) == c.Title) {
				return chat.Input{Choice: &c, ReplyTo: reply.MessageID, Tracking: reply.Tracking}
			}
		}
	}
	r.t.Fatalf("line %d: the executor sent no message offering %q to tap", s.Line, id)
	return chat.Input{}
}

// titleOf is the title of the button the flow offered with id.
func (r *replayer) titleOf(id string) string {
	var title string
	for _, o := range r.offered {
		for _, b := range append(slices.Clone(o.Buttons), o.QuickReplies...) {
			if b.ID == id {
				title = b.Title
			}
		}
	}
	return title
}

func (r *replayer) webhook(in chat.Input, now time.Time) {
	path, body, err := r.acct.Webhook(r.contact.ID, r.contact.Name, in, int64(r.turns), now)
	if err != nil {
		r.t.Fatal(err)
	}
	header, sig := r.acct.Sign(body, appSecret)
	if r.acct.Channel == message.Viber {
		header, sig = r.acct.Sign(body, authToken)
	}
	req, _ := http.NewRequest(http.MethodPost, r.exec.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(header, sig)
	r.do(req, http.StatusOK)
}

// rejectedRun reports whether the flow rejected a run of the input: the
// only thing it did was to say so.
func rejectedRun(x *transcript.Exchange) bool {
	return x.Input.Kind == transcript.StepRun && x.Session == nil && len(x.Logs) == 1 &&
		x.Logs[0].Event == flow.LogError && strings.HasPrefix(x.Logs[0].Message, "run rejected")
}

func (r *replayer) post(path, token string, want int, body any) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			r.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(http.MethodPost, r.exec.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	r.do(req, want)
}

func (r *replayer) do(req *http.Request, want int) {
	r.t.Helper()
	resp, err := r.client.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if (want == 0 && resp.StatusCode/100 != 2) || (want != 0 && resp.StatusCode != want) {
		r.t.Fatalf("%s %s: %s %s\n%s", req.Method, req.URL.Path, resp.Status, msg, r.exec.Log())
	}
}

// waitTurns waits until the executor committed as many turns as inputs
// were given: by then every effect of those turns was performed.
func (r *replayer) waitTurns() bool {
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		resp, err := r.client.Get(r.exec.URL + "/metrics")
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		n := -1.0
		for sc.Scan() {
			// chatflow_turns_total{flow="...",namespace="..."} N
			if series, rest, ok := strings.Cut(sc.Text(), " "); ok && strings.HasPrefix(series, "chatflow_turns_total{") {
				fmt.Sscan(rest, &n)
			}
		}
		resp.Body.Close()
		if int(n) >= r.turns {
			return int(n) == r.turns
		}
	}
	return false
}

// compare checks what the executor did for the input against what the
// transcript's driver did; false stops the replay.
func (r *replayer) compare(x *transcript.Exchange) bool {
	t := r.t
	where := fmt.Sprintf("line %d (%s)", x.Input.Line, x.Input.Kind)
	ok := true
	// Sends: the channel's requests.
	var want []string
	for _, s := range x.Sends {
		r.offered = append(r.offered, s.Message)
		bodies, err := r.acct.Render(s.Message)
		if _, refused := r.sendErrors()[s.NodeID]; err != nil || refused {
			continue // the channel took none of it
		}
		for _, b := range bodies {
			want = append(want, canonicalJSON(t, b))
		}
	}
	recs := r.sbx.Messages(sandbox.Query{To: r.contact.ID, After: r.cursor})
	var got []string
	for _, rec := range recs {
		got = append(got, canonicalJSON(t, rec.Body))
		r.cursor = rec.Seq
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: the executor sent\n  %s\nchatflow test sent\n  %s", where, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		ok = false
	}
	// Model calls: the executor's requests carry the messages and the
	// schema the transcript's driver built.
	var wantModels, gotModels []string
	for _, m := range x.Models {
		if m.Result.Err != "" {
			continue // answered by a fault: the sandbox records only what it answered
		}
		wantModels = append(wantModels, modelLine(t, m.Call.Model, m.Call.Messages, m.Call.Schema))
	}
	for _, rec := range r.sbx.Messages(sandbox.Query{Channel: sandbox.ModelChannel, After: r.modelCursor}) {
		var req struct {
			Model          string
			Messages       []flow.ModelMessage
			ResponseFormat *struct {
				JSONSchema *flow.OutputSchema `json:"json_schema"`
			} `json:"response_format"`
		}
		if err := json.Unmarshal(rec.Body, &req); err != nil {
			t.Fatal(err)
		}
		var schema *flow.OutputSchema
		if req.ResponseFormat != nil {
			schema = req.ResponseFormat.JSONSchema
		}
		gotModels = append(gotModels, modelLine(t, req.Model, req.Messages, schema))
		r.modelCursor = rec.Seq
	}
	if !slices.Equal(gotModels, wantModels) {
		t.Errorf("%s: the executor asked the model\n  %s\nchatflow test asked\n  %s", where, strings.Join(gotModels, "\n  "), strings.Join(wantModels, "\n  "))
		ok = false
	}
	// HTTP calls, hand-offs and forwarded messages.
	calls, notes := r.stubs.take()
	var wantCalls []string
	for _, c := range x.Calls {
		hs := map[string]string{}
		for _, h := range c.Headers {
			if h.SecretRef.Name != "" {
				hs[h.Name] = "secret:" + h.SecretRef.Name + "/" + h.SecretRef.Key
			} else {
				hs[h.Name] = h.Value
			}
		}
		wantCalls = append(wantCalls, callLine(c.NodeID, c.Method, c.URL, hs, c.Body))
	}
	var gotCalls []string
	for i, c := range calls {
		var names []string
		if i < len(x.Calls) {
			for _, h := range x.Calls[i].Headers {
				names = append(names, h.Name)
			}
		}
		hs := map[string]string{}
		for _, n := range names {
			hs[n] = c.header.Get(n)
		}
		gotCalls = append(gotCalls, callLine(c.node, c.method, c.url, hs, c.body))
	}
	if !slices.Equal(gotCalls, wantCalls) {
		t.Errorf("%s: the executor called\n  %s\nchatflow test called\n  %s", where, strings.Join(gotCalls, "\n  "), strings.Join(wantCalls, "\n  "))
		ok = false
	}
	var wantNotes []string
	for _, h := range x.Handoffs {
		if h.URL != "" {
			wantNotes = append(wantNotes, fmt.Sprintf("handoff @%s queue=%q url=%s lines=%d", h.NodeID, h.Queue, h.URL, len(h.Transcript)))
		}
	}
	for _, h := range x.Forwards {
		if h.URL != "" {
			wantNotes = append(wantNotes, fmt.Sprintf("message @%s queue=%q url=%s text=%q", h.NodeID, h.Queue, h.URL, h.Message.Text))
		}
	}
	if !slices.Equal(notes, wantNotes) {
		t.Errorf("%s: the executor notified\n  %s\nchatflow test notified\n  %s", where, strings.Join(notes, "\n  "), strings.Join(wantNotes, "\n  "))
		ok = false
	}
	// Execution events.
	var wantLogs []string
	if rejectedRun(x) {
		x.Logs = nil // the run API said it (400)
	}
	for _, l := range x.Logs {
		wantLogs = append(wantLogs, logLine(string(l.Event), l.NodeID, string(l.NodeType), l.Branch))
	}
	gotLogs := r.events()
	if !slices.Equal(gotLogs, wantLogs) {
		t.Errorf("%s: the executor's events\n  %s\nchatflow test's events\n  %s", where, strings.Join(gotLogs, "\n  "), strings.Join(wantLogs, "\n  "))
		ok = false
	}
	if !ok {
		t.Logf("executor log:\n%s", r.exec.Log())
	}
	return ok
}

func modelLine(t *testing.T, model string, msgs []flow.ModelMessage, schema *flow.OutputSchema) string {
	m, _ := json.Marshal(msgs)
	s := "none"
	if schema != nil {
		s = schema.Name + " " + canonicalJSON(t, schema.Schema)
	}
	return fmt.Sprintf("%s %s schema=%s", model, m, s)
}

func callLine(node, method, url string, headers map[string]string, body string) string {
	h, _ := json.Marshal(headers)
	return fmt.Sprintf("@%s %s %s headers=%s body=%q", node, method, url, h, body)
}

func logLine(event, node, typ, branch string) string {
	return strings.TrimSpace(fmt.Sprintf("%s @%s:%s %s", event, node, typ, branch))
}

// events are the executor's execution events since the last call.
func (r *replayer) events() []string {
	var out []string
	n := 0
	for _, line := range strings.Split(r.exec.Log(), "\n") {
		var ev struct {
			Event, NodeID, NodeType, Branch, Revision string
		}
		if json.Unmarshal([]byte(line), &ev) != nil || ev.Event == "" || ev.Revision == "" || ev.Event == "model_called" {
			continue // model_called is the performer's line, compared above as the model's requests
		}
		n++
		if n > r.logs {
			out = append(out, logLine(ev.Event, ev.NodeID, ev.NodeType, ev.Branch))
		}
	}
	r.logs = n
	return out
}

func canonicalJSON(t *testing.T, b []byte) string {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// stubServer answers the flow's HTTP calls from the test's stubs and takes
// its hand-off notifications, recording both. Paths carry the node and the
// URL the flow named: /n/<node>/<scheme>/<host>/... for calls,
// /h/<node>/... for notifications.
type stubServer struct {
	base  string
	mu    sync.Mutex
	stubs *transcript.Stubs
	calls []stubCall
	notes []string
}

type stubCall struct {
	node, method, url, body string
	header                  http.Header
}

func (s *stubServer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	kind, rest, _ := strings.Cut(strings.TrimPrefix(req.URL.RequestURI(), "/"), "/")
	node, orig, _ := strings.Cut(rest, "/")
	scheme, hostPath, _ := strings.Cut(orig, "/")
	url := scheme + "://" + hostPath
	s.mu.Lock()
	defer s.mu.Unlock()
	switch kind {
	case "h":
		var n struct {
			Event, Node, Queue string
			Transcript         []flow.Line
			Message            *struct{ Text string }
		}
		_ = json.Unmarshal(body, &n)
		if n.Event == "message" && n.Message != nil {
			s.notes = append(s.notes, fmt.Sprintf("message @%s queue=%q url=%s text=%q", n.Node, n.Queue, url, n.Message.Text))
		} else {
			s.notes = append(s.notes, fmt.Sprintf("handoff @%s queue=%q url=%s lines=%d", n.Node, n.Queue, url, len(n.Transcript)))
		}
		w.WriteHeader(http.StatusNoContent)
	case "n":
		s.calls = append(s.calls, stubCall{node: node, method: req.Method, url: url, body: string(body), header: req.Header.Clone()})
		res, err := s.stubs.Respond(flow.HTTPCall{NodeID: node, Method: req.Method, URL: url})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if res.Err != "" {
			// No response at all, as a timeout or a refused connection.
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
		}
		for k, v := range res.Headers {
			w.Header().Set(k, v)
		}
		if res.ContentType != "" {
			w.Header().Set("Content-Type", res.ContentType)
		}
		w.WriteHeader(res.Status)
		_, _ = w.Write(res.Body)
	default:
		http.NotFound(w, req)
	}
}

func (s *stubServer) take() ([]stubCall, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, n := s.calls, s.notes
	s.calls, s.notes = nil, nil
	return c, n
}
