package executor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/chatflow-dev/chatflow/internal/sandbox"
	"github.com/chatflow-dev/chatflow/test/procs"
)

const modelKey = "sk-proc-test-5f2a9c0d1e"

// aiFlow classifies the contact's message, answers opening-hours
// questions with a model and hands everything else a fixed text.
const aiFlow = `
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: ai, namespace: test}
spec:
  trigger: {type: WhatsApp}
  logging: {enabled: true%s}
  nodes:
  - {id: start, type: Start, next: route}
  - id: route
    type: AIClassify
    aiClassify:
      model: support-llm
      labels:
      - {name: hours, description: "asks when the shop opens", next: answer}
      default: other
      saveAs: intent
  - id: answer
    type: AIReply
    aiReply: {model: support-llm, systemPrompt: "You answer for Shop. It opens at 9."}
    next: end
    onError: sorry
  - {id: other, type: SendMessage, sendMessage: {text: "A person will answer."}, next: end}
  - {id: sorry, type: SendMessage, sendMessage: {text: "Sorry, try again later."}, next: end}
  - {id: end, type: End}
`

func languageModel(base string, timeout time.Duration) string {
	return fmt.Sprintf(`
apiVersion: chatflow.dev/v1alpha1
kind: LanguageModel
metadata: {name: support-llm, namespace: test}
spec:
  baseURL: %s/v1
  model: gpt-4o-mini
  apiKeyRef: {name: openai, key: apiKey}
  timeout: %s
`, base, timeout)
}

// aiRig is a rig whose sandbox also stands in for the model.
type aiRig struct {
	*rig
	sbx *sandbox.Server
}

func newAIRig(t *testing.T) *aiRig {
	sbx := sandbox.New(sandbox.Options{Tokens: map[string]string{phoneID: credentials["accessToken"]}, ModelAPIKey: modelKey, RetryAfter: time.Second})
	srv := httptest.NewServer(sbx)
	t.Cleanup(srv.Close)
	return &aiRig{rig: &rig{t: t, sandbox: srv.URL, client: &http.Client{Timeout: 10 * time.Second}}, sbx: sbx}
}

func (r *aiRig) start(logging string, timeout time.Duration, args ...string) *procs.Executor {
	return procs.StartExecutor(r.t, procs.ExecutorSpec{
		Flow: fmt.Sprintf(aiFlow, logging), Binding: binding(r.sandbox), Credentials: credentials, Store: "memory",
		Models: languageModel(r.sandbox, timeout), ModelKeys: map[string]map[string]string{"openai": {"apiKey": modelKey}},
		Args: args,
	})
}

func (r *aiRig) script(a sandbox.Answer) {
	r.t.Helper()
	if _, err := r.sbx.AddAnswer(a); err != nil {
		r.t.Fatal(err)
	}
}

// TestAINodesThroughTheExecutor: a real executor process classifies with
// structured output, answers with the model through a rate limit (429,
// retried after Retry-After), marks the message read with the typing
// indicator once for the turn, and counts and logs the calls without the
// contact's text or the key.
func TestAINodesThroughTheExecutor(t *testing.T) {
	r := newAIRig(t)
	e := r.start("", 20*time.Second, "--allow-private-networks", "127.0.0.0/8")
	r.script(sandbox.Answer{JSON: json.RawMessage(`{"label":"hours","confidence":0.97}`)})
	r.script(sandbox.Answer{Content: "We open at 9, Kerry."})
	if _, err := r.sbx.AddFault(sandbox.Fault{Channel: "model", To: "gpt-4o-mini", Code: 429, After: 1}); err != nil {
		t.Fatal(err)
	}
	const contact = "16505551234"
	r.send(e, contact, "wamid.in-1", "When do you open tomorrow?")
	if texts := r.waitTexts(contact, 1, 15*time.Second); len(texts) != 1 || texts[0] != "We open at 9, Kerry." {
		t.Fatalf("replies %q\n%s", texts, e.Log())
	}

	reads := 0
	for _, rec := range r.sbx.Messages(sandbox.Query{Channel: "whatsapp"}) {
		if rec.Kind == sandbox.KindRead {
			reads++
			if rec.MessageID != "wamid.in-1" || !strings.Contains(string(rec.Body), `"typing_indicator":{"type":"text"}`) {
				t.Errorf("mark-as-read: %s", rec.Body)
			}
		}
	}
	if reads != 1 {
		t.Errorf("%d mark-as-read calls for one inbound message and two model calls", reads)
	}

	calls := r.sbx.Messages(sandbox.Query{Channel: sandbox.ModelChannel})
	if len(calls) != 2 {
		t.Fatalf("%d model calls", len(calls))
	}
	var classify, reply struct {
		Messages       []struct{ Role, Content string }
		ResponseFormat *struct {
			JSONSchema struct{ Name string } `json:"json_schema"`
		} `json:"response_format"`
	}
	_ = json.Unmarshal(calls[0].Body, &classify)
	_ = json.Unmarshal(calls[1].Body, &reply)
	if classify.ResponseFormat == nil || classify.ResponseFormat.JSONSchema.Name != "classification" ||
		classify.Messages[len(classify.Messages)-1].Content != "When do you open tomorrow?" {
		t.Errorf("classify request: %s", calls[0].Body)
	}
	if reply.ResponseFormat != nil || reply.Messages[0].Content != "You answer for Shop. It opens at 9." ||
		reply.Messages[len(reply.Messages)-1].Content != "When do you open tomorrow?" {
		t.Errorf("reply request: %s", calls[1].Body)
	}

	for series, want := range map[string]float64{
		`chatflow_model_calls_total{flow="ai",node="route",result="ok"}`:        1,
		`chatflow_model_calls_total{flow="ai",node="answer",result="ok"}`:       1,
		`chatflow_model_retries_total{flow="ai",model="support-llm"}`:           1,
		`chatflow_model_tokens_total{flow="ai",kind="prompt",node="answer"}`:    10,
		`chatflow_model_tokens_total{flow="ai",kind="completion",node="route"}`: 1,
		`chatflow_typing_indicators_total{result="ok"}`:                         1,
	} {
		if !r.metricReaches(e, series, want) {
			t.Errorf("%s did not reach %v", series, want)
		}
	}

	log := e.Log()
	var modelLines int
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `"event":"model_called"`) {
			modelLines++
			if !strings.Contains(line, `"result":"ok"`) || !strings.Contains(line, `"promptTokens"`) {
				t.Errorf("model line: %s", line)
			}
		}
	}
	if modelLines != 2 {
		t.Errorf("%d model_called lines", modelLines)
	}
	for _, secret := range []string{"When do you open", "We open at 9", modelKey} {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds %q:\n%s", secret, log)
		}
	}
	if !strings.Contains(log, `"branch":"hours"`) || !strings.Contains(log, `"branch":"answered"`) {
		t.Errorf("the node outcomes are not logged:\n%s", log)
	}
}

// TestModelTextInTheLog: spec.logging.modelText puts the prompt and the
// answer in the model call's line, still without the key.
func TestModelTextInTheLog(t *testing.T) {
	r := newAIRig(t)
	e := r.start(", modelText: true", 20*time.Second, "--allow-private-networks", "127.0.0.0/8")
	r.script(sandbox.Answer{JSON: json.RawMessage(`{"label":"hours","confidence":null}`)})
	r.script(sandbox.Answer{Content: "Nine o'clock."})
	r.send(e, "16505551234", "wamid.in-2", "opening time?")
	if texts := r.waitTexts("16505551234", 1, 15*time.Second); len(texts) != 1 {
		t.Fatalf("replies %q\n%s", texts, e.Log())
	}
	log := e.Log()
	if !strings.Contains(log, `"prompt":[{"role":"system"`) || !strings.Contains(log, `"answer":"Nine o'clock."`) || !strings.Contains(log, "opening time?") {
		t.Errorf("the model's text is not in the log:\n%s", log)
	}
	if strings.Contains(log, modelKey) {
		t.Error("the key is in the log")
	}
}

// TestModelFailuresTakeOnError: a model URL on a private address without
// the operator's allowlist, a refused key, and a timeout each take the
// AIReply's onError; AIClassify without onError takes default.
func TestModelFailuresTakeOnError(t *testing.T) {
	t.Run("the egress guard", func(t *testing.T) {
		r := newAIRig(t)
		e := r.start("", 5*time.Second) // no --allow-private-networks: the loopback sandbox is refused
		r.send(e, "16505550001", "wamid.g", "When do you open?")
		if texts := r.waitTexts("16505550001", 1, 15*time.Second); len(texts) != 1 || texts[0] != "A person will answer." {
			t.Fatalf("replies %q\n%s", texts, e.Log())
		}
		if calls := r.sbx.Messages(sandbox.Query{Channel: sandbox.ModelChannel}); len(calls) != 0 {
			t.Errorf("the refused model was called %d times", len(calls))
		}
		if log := e.Log(); !strings.Contains(log, "refused address") || !strings.Contains(log, `"result":"network_error"`) {
			t.Errorf("no refused address in the log:\n%s", log)
		}
	})
	t.Run("a refused key", func(t *testing.T) {
		r := newAIRig(t)
		e := r.start("", 5*time.Second, "--allow-private-networks", "127.0.0.0/8")
		r.script(sandbox.Answer{JSON: json.RawMessage(`{"label":"hours","confidence":null}`)})
		if _, err := r.sbx.AddFault(sandbox.Fault{Channel: "model", Code: 401, After: 1}); err != nil {
			t.Fatal(err)
		}
		r.send(e, "16505550002", "wamid.k", "When do you open?")
		if texts := r.waitTexts("16505550002", 1, 15*time.Second); len(texts) != 1 || texts[0] != "Sorry, try again later." {
			t.Fatalf("replies %q\n%s", texts, e.Log())
		}
		if !r.metricReaches(e, `chatflow_model_calls_total{flow="ai",node="answer",result="auth"}`, 1) {
			t.Error("the auth failure is not counted")
		}
	})
	t.Run("a timeout", func(t *testing.T) {
		r := newAIRig(t)
		e := r.start("", time.Second, "--allow-private-networks", "127.0.0.0/8")
		r.script(sandbox.Answer{JSON: json.RawMessage(`{"label":"hours","confidence":null}`)})
		r.script(sandbox.Answer{Content: "too late", Delay: sandbox.Duration{Duration: 5 * time.Second}})
		r.send(e, "16505550003", "wamid.t", "When do you open?")
		if texts := r.waitTexts("16505550003", 1, 15*time.Second); len(texts) != 1 || texts[0] != "Sorry, try again later." {
			t.Fatalf("replies %q\n%s", texts, e.Log())
		}
		if log := e.Log(); !strings.Contains(log, "no answer within 1s") {
			t.Errorf("the timeout is not logged:\n%s", log)
		}
	})
}

// TestExecutorRefusesAFlowWithoutItsModel: an executor whose flow names a
// LanguageModel that --models does not define does not start.
func TestExecutorRefusesAFlowWithoutItsModel(t *testing.T) {
	bin, err := procs.ExecutorBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{"flow.yaml": fmt.Sprintf(aiFlow, ""), "binding.yaml": binding("http://127.0.0.1:9"),
		"credentials/accessToken": "a", "credentials/appSecret": "s", "credentials/verifyToken": "v"}
	for name, content := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--flow", filepath.Join(dir, "flow.yaml"), "--binding", filepath.Join(dir, "binding.yaml"),
		"--credentials", filepath.Join(dir, "credentials"), "--listen", "127.0.0.1:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "LanguageModel support-llm, which --models does not define") {
		t.Errorf("err %v, output:\n%s", err, out)
	}
}

// TestModelCallSpans: with tracing on, each model call is a client span
// ("chat <model>") under its node's span, with the result and the tokens,
// and the model endpoint receives that span's traceparent.
func TestModelCallSpans(t *testing.T) {
	sbx := sandbox.New(sandbox.Options{Tokens: map[string]string{phoneID: credentials["accessToken"]}, ModelAPIKey: modelKey})
	var mu sync.Mutex
	var received []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasSuffix(req.URL.Path, "/chat/completions") {
			mu.Lock()
			received = append(received, req.Header.Get("Traceparent"))
			mu.Unlock()
		}
		sbx.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r := &aiRig{rig: &rig{t: t, sandbox: srv.URL, client: &http.Client{Timeout: 10 * time.Second}}, sbx: sbx}
	otlp := procs.StartOTLPReceiver(t)
	e := procs.StartExecutor(t, procs.ExecutorSpec{
		Flow: fmt.Sprintf(aiFlow, ""), Binding: binding(r.sandbox), Credentials: credentials, Store: "memory",
		Models: languageModel(r.sandbox, 20*time.Second), ModelKeys: map[string]map[string]string{"openai": {"apiKey": modelKey}},
		Args: []string{"--allow-private-networks", "127.0.0.0/8"},
		Env:  []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + otlp.URL, "OTEL_BSP_SCHEDULE_DELAY=50"},
	})
	r.script(sandbox.Answer{JSON: json.RawMessage(`{"label":"hours","confidence":0.97}`)})
	r.script(sandbox.Answer{Content: "We open at 9."})
	r.send(e, "16505551234", "wamid.span-1", "When do you open?")
	if texts := r.waitTexts("16505551234", 1, 15*time.Second); len(texts) != 1 {
		t.Fatalf("replies %q\n%s", texts, e.Log())
	}

	// A node's span ends after its model call's and may reach the
	// receiver in a later batch: wait for both calls and their parents.
	var spans []procs.Span
	byID := map[string]procs.Span{}
	deadline := time.Now().Add(10 * time.Second)
	for {
		spans = otlp.Spans()
		clear(byID)
		for _, s := range spans {
			byID[string(s.SpanId)] = s
		}
		calls, parented := 0, 0
		for _, s := range spans {
			if s.Name == "chat gpt-4o-mini" {
				calls++
				if _, ok := byID[string(s.ParentSpanId)]; ok {
					parented++
				}
			}
		}
		if calls == 2 && parented == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d model call spans (%d with their parent), want 2: %v", calls, parented, spanNames(spans))
		}
		time.Sleep(50 * time.Millisecond)
	}
	var parentsSeen []string
	for _, s := range spans {
		if s.Name != "chat gpt-4o-mini" {
			continue
		}
		a := s.Attrs()
		parent := byID[string(s.ParentSpanId)]
		parentsSeen = append(parentsSeen, parent.Name)
		if s.Kind != tracepb.Span_SPAN_KIND_CLIENT || a["gen_ai.request.model"] != "gpt-4o-mini" ||
			a["chatflow.language_model"] != "support-llm" || a["chatflow.model.result"] != "ok" || a["gen_ai.usage.input_tokens"] == "" {
			t.Errorf("model span %v %v", s.Kind, a)
		}
		if parent.Name != "node "+a["chatflow.node.id"] {
			t.Errorf("model span of node %s has parent %q", a["chatflow.node.id"], parent.Name)
		}
		want := fmt.Sprintf("00-%x-%x-01", s.TraceId, s.SpanId)
		mu.Lock()
		got := slices.Clone(received)
		mu.Unlock()
		if !slices.Contains(got, want) {
			t.Errorf("the model endpoint received traceparents %q, want %q among them", got, want)
		}
	}
	slices.Sort(parentsSeen)
	if !slices.Equal(parentsSeen, []string{"node answer", "node route"}) {
		t.Errorf("model spans under %v, want the nodes answer and route", parentsSeen)
	}
}
