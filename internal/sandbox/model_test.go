package sandbox_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/internal/sandbox"
)

const modelKey = "sk-sandbox-test-key-1234"

func chat(t *testing.T, url string, body string, header map[string]string) reply {
	t.Helper()
	if header == nil {
		header = map[string]string{"Authorization": "Bearer " + modelKey}
	}
	return do(t, "POST", url+"/v1/chat/completions", []byte(body), header)
}

func openAIErr(r reply) (typ, code, param, msg string) {
	e, _ := r.body["error"].(map[string]any)
	typ, _ = e["type"].(string)
	code, _ = e["code"].(string)
	param, _ = e["param"].(string)
	msg, _ = e["message"].(string)
	return
}

func message0(t *testing.T, r reply) (content any, refusal any, finish string) {
	t.Helper()
	choices, _ := r.body["choices"].([]any)
	if len(choices) != 1 {
		t.Fatalf("choices: %s", r.raw)
	}
	c := choices[0].(map[string]any)
	m := c["message"].(map[string]any)
	if m["role"] != "assistant" {
		t.Errorf("role = %v", m["role"])
	}
	finish, _ = c["finish_reason"].(string)
	return m["content"], m["refusal"], finish
}

func TestModelAuth(t *testing.T) {
	_, srv := start(t, sandbox.Options{ModelAPIKey: modelKey})
	const body = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	r := chat(t, srv.URL, body, map[string]string{})
	if typ, _, _, msg := openAIErr(r); r.status != 401 || typ != "invalid_request_error" || !strings.Contains(msg, "didn't provide an API key") {
		t.Errorf("no key: %d %s", r.status, r.raw)
	}
	r = chat(t, srv.URL, body, map[string]string{"Authorization": "Bearer sk-wrong-key-000000"})
	if _, code, _, msg := openAIErr(r); r.status != 401 || code != "invalid_api_key" || strings.Contains(msg, "wrong-key") || !strings.Contains(msg, "0000") {
		t.Errorf("wrong key (masked, as OpenAI does): %d %s", r.status, r.raw)
	}
	if r = chat(t, srv.URL, body, nil); r.status != 200 {
		t.Errorf("right key: %d %s", r.status, r.raw)
	}
}

func TestModelCompletionShape(t *testing.T) {
	sb, srv := start(t, sandbox.Options{})
	r := chat(t, srv.URL, `{"model":"gpt-4o-mini","max_tokens":100,"temperature":0.2,"messages":[
		{"role":"system","content":"You are helpful."},{"role":"user","content":"Do you open on Sunday?"}]}`, nil)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if id, _ := r.body["id"].(string); !strings.HasPrefix(id, "chatcmpl-") || r.body["object"] != "chat.completion" || r.body["model"] != "gpt-4o-mini" {
		t.Errorf("envelope: %s", r.raw)
	}
	content, refusal, finish := message0(t, r)
	if s, _ := content.(string); !strings.Contains(s, "Do you open on Sunday?") || refusal != nil || finish != "stop" {
		t.Errorf("the stand-in's text answer: %v %v %s", content, refusal, finish)
	}
	u := r.body["usage"].(map[string]any)
	if u["prompt_tokens"].(float64) <= 0 || u["completion_tokens"].(float64) <= 0 ||
		u["total_tokens"].(float64) != u["prompt_tokens"].(float64)+u["completion_tokens"].(float64) {
		t.Errorf("usage: %v", u)
	}
	recs := sb.Messages(sandbox.Query{Channel: sandbox.ModelChannel})
	if len(recs) != 1 || recs[0].Account != "gpt-4o-mini" || recs[0].MessageID != r.body["id"] || !strings.Contains(string(recs[0].Body), "You are helpful.") {
		t.Errorf("record: %+v", recs)
	}
}

func TestModelRequestValidation(t *testing.T) {
	_, srv := start(t, sandbox.Options{})
	cases := []struct{ body, param, msg string }{
		{`{"messages":[{"role":"user","content":"hi"}]}`, "model", "you must provide a model parameter"},
		{`{"model":"m","messages":[]}`, "messages", "too short"},
		{`{"model":"m","messages":[{"role":"robot","content":"hi"}]}`, "messages.[0].role", "Invalid value: 'robot'"},
		{`{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"hi"}]}`, "max_tokens", "below minimum"},
		{`{"model":"m","temperature":3,"messages":[{"role":"user","content":"hi"}]}`, "temperature", "maximum of 2"},
		{`{"model":"m","response_format":{"type":"xml"},"messages":[{"role":"user","content":"hi"}]}`, "response_format.type", "Supported values"},
		{`{"model":"m","response_format":{"type":"json_schema","json_schema":{"name":"a b","schema":{}}},"messages":[{"role":"user","content":"hi"}]}`,
			"response_format.json_schema.name", "does not match pattern"},
		{`{"model":"m","response_format":{"type":"json_schema","json_schema":{"name":"x","strict":true,"schema":{"type":"object","properties":{"a":{"type":"string"}},"required":[],"additionalProperties":false}}},"messages":[{"role":"user","content":"hi"}]}`,
			"response_format", "Missing 'a'"},
		{`{"model":"m","response_format":{"type":"json_schema","json_schema":{"name":"x","strict":true,"schema":{"type":"object","properties":{},"required":[]}}},"messages":[{"role":"user","content":"hi"}]}`,
			"response_format", "'additionalProperties' is required to be supplied and to be false"},
	}
	for _, tc := range cases {
		r := chat(t, srv.URL, tc.body, nil)
		typ, _, param, msg := openAIErr(r)
		if r.status != 400 || typ != "invalid_request_error" || param != tc.param || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s:\n  got %d %s", tc.body, r.status, r.raw)
		}
	}
	if r := chat(t, srv.URL, `not json`, nil); r.status != 400 {
		t.Errorf("not JSON: %d", r.status)
	}
}

func TestModelFaults(t *testing.T) {
	sb, srv := start(t, sandbox.Options{RetryAfter: 2 * time.Second})
	const body = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	if _, err := sb.AddFault(sandbox.Fault{Channel: "model", To: "gpt-4o-mini", Code: 429, Times: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.AddFault(sandbox.Fault{Channel: "model", To: "gpt-4o-mini", Code: 500, Times: 1}); err != nil {
		t.Fatal(err)
	}
	r := chat(t, srv.URL, body, nil)
	if typ, code, _, _ := openAIErr(r); r.status != 429 || code != "rate_limit_exceeded" || typ != "requests" || r.header.Get("Retry-After") != "2" {
		t.Errorf("429: %d %v %s", r.status, r.header, r.raw)
	}
	r = chat(t, srv.URL, body, nil)
	if typ, _, _, _ := openAIErr(r); r.status != 500 || typ != "server_error" {
		t.Errorf("500: %d %s", r.status, r.raw)
	}
	if r = chat(t, srv.URL, body, nil); r.status != 200 {
		t.Errorf("after the faults: %d %s", r.status, r.raw)
	}
	r = chat(t, srv.URL, body, map[string]string{"Authorization": "Bearer k", "X-Sandbox-Fault": "503"})
	if r.status != 503 {
		t.Errorf("header fault: %d", r.status)
	}
	if got := sb.Messages(sandbox.Query{Channel: "model"}); len(got) != 1 {
		t.Errorf("failed requests were recorded: %d records", len(got))
	}
}

const classifyReq = `{"model":"m","messages":[{"role":"system","content":"classify"},{"role":"user","content":%q}],
	"response_format":{"type":"json_schema","json_schema":{"name":"classification","strict":true,"schema":
	{"type":"object","properties":{"label":{"type":"string","enum":["order","refund","other"]},"confidence":{"type":["number","null"],"minimum":0,"maximum":1}},
	"required":["label","confidence"],"additionalProperties":false}}}}`

func TestModelStandInFollowsTheSchema(t *testing.T) {
	_, srv := start(t, sandbox.Options{})
	for input, want := range map[string]string{
		"Where is my order?":                   `{"confidence":null,"label":"order"}`,
		"I want my money back, refunds please": `{"confidence":null,"label":"refund"}`,
		"hello":                                `{"confidence":null,"label":"other"}`,
	} {
		r := chat(t, srv.URL, strings.Replace(classifyReq, "%q", mustJSON(input), 1), nil)
		content, _, _ := message0(t, r)
		if content != want {
			t.Errorf("%q: %v, want %s", input, content, want)
		}
	}
	r := chat(t, srv.URL, `{"model":"m","messages":[{"role":"user","content":"order 4521, 2 mugs"}],
		"response_format":{"type":"json_schema","json_schema":{"name":"extraction","strict":true,"schema":
		{"type":"object","properties":{"order":{"type":"string"},"qty":{"type":["integer","null"]},"gift":{"type":["boolean","null"]}},
		"required":["order","qty","gift"],"additionalProperties":false}}}}`, nil)
	if content, _, _ := message0(t, r); content != `{"gift":null,"order":"order 4521, 2 mugs","qty":4521}` {
		t.Errorf("extraction: %v", content)
	}
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestModelScriptedAnswers(t *testing.T) {
	sb, srv := start(t, sandbox.Options{})
	add := func(body string) reply {
		return do(t, "POST", srv.URL+"/sandbox/model/answers", []byte(body), nil)
	}
	if r := add(`{"model":"m","match":"refund","json":{"label": "refund", "confidence": 0.9}}`); r.status != 201 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if r := add(`{"content":"first","times":1}`); r.status != 201 {
		t.Fatal(r.status)
	}
	if r := add(`{"refusal":"I can't help with that."}`); r.status != 201 {
		t.Fatal(r.status)
	}
	if r := add(`{"content":"` + strings.Repeat("word ", 100) + `"}`); r.status != 201 {
		t.Fatal(r.status)
	}
	if r := add(`{"match":"(","content":"x"}`); r.status != 400 {
		t.Errorf("a bad match: %d", r.status)
	}
	if r := add(`{"unknown":1}`); r.status != 400 {
		t.Errorf("an unknown field: %d", r.status)
	}
	// Answers go in order, each to the first request it fits.
	r := chat(t, srv.URL, `{"model":"m","messages":[{"role":"user","content":"hello"}]}`, nil)
	if c, _, _ := message0(t, r); c != "first" {
		t.Errorf("1: %v", c)
	}
	r = chat(t, srv.URL, `{"model":"m","messages":[{"role":"user","content":"a refund please"}]}`, nil)
	if c, _, _ := message0(t, r); c != `{"confidence":0.9,"label":"refund"}` {
		t.Errorf("2: %v", c)
	}
	r = chat(t, srv.URL, `{"model":"m","messages":[{"role":"user","content":"hello"}]}`, nil)
	if c, ref, _ := message0(t, r); c != nil || ref != "I can't help with that." {
		t.Errorf("3: %v %v", c, ref)
	}
	r = chat(t, srv.URL, `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hello"}]}`, nil)
	if c, _, finish := message0(t, r); finish != "length" || len(c.(string)) != 40 {
		t.Errorf("4: max_tokens not honoured: %q %s", c, finish)
	}
	if got := sb.Messages(sandbox.Query{Channel: "model"}); len(got) != 4 {
		t.Errorf("%d records", len(got))
	}
	if r := do(t, "GET", srv.URL+"/sandbox/model/answers", nil, nil); r.status != 200 || len(r.body["answers"].([]any)) != 0 {
		t.Errorf("left: %s", r.raw)
	}
}

func TestModelDelayedAnswer(t *testing.T) {
	sb, srv := start(t, sandbox.Options{})
	if _, err := sb.AddAnswer(sandbox.Answer{Content: "slow", Delay: sandbox.Duration{Duration: 5 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer k")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a delayed answer came back at once: %d", resp.StatusCode)
	}
	// The client gave up: nothing was answered, so nothing is recorded.
	time.Sleep(50 * time.Millisecond)
	if got := sb.Messages(sandbox.Query{Channel: "model"}); len(got) != 0 {
		t.Errorf("%d records", len(got))
	}
}

func TestWhatsAppMarkReadWithTypingIndicator(t *testing.T) {
	sb, srv := start(t, sandbox.Options{})
	body := []byte(`{"messaging_product":"whatsapp","status":"read","message_id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA","typing_indicator":{"type":"text"}}`)
	r := send(t, srv, body, auth())
	if r.status != 200 || string(r.raw) != "{\"success\":true}\n" {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	recs := sb.Messages(sandbox.Query{Channel: "whatsapp"})
	if len(recs) != 1 || recs[0].Kind != sandbox.KindRead || recs[0].MessageID != "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA" || recs[0].To != "" {
		t.Errorf("record: %+v", recs)
	}
	if r := send(t, srv, []byte(`{"messaging_product":"whatsapp","status":"read"}`), auth()); r.status != 400 || r.graphCode() != 100 {
		t.Errorf("without message_id: %d %s", r.status, r.raw)
	}
	if r := send(t, srv, []byte(`{"messaging_product":"whatsapp","status":"read","message_id":"w","typing_indicator":{"type":"audio"}}`), auth()); r.status != 400 {
		t.Errorf("a bad typing indicator: %d %s", r.status, r.raw)
	}
	if r := send(t, srv, body, nil); r.status != 401 {
		t.Errorf("without a token: %d", r.status)
	}
}

func TestModelStandInHonoursRanges(t *testing.T) {
	_, srv := start(t, sandbox.Options{})
	r := chat(t, srv.URL, strings.Replace(classifyReq, "%q", mustJSON("order 10452 and 0.5"), 1), nil)
	if content, _, _ := message0(t, r); content != `{"confidence":null,"label":"order"}` {
		t.Errorf("a number out of the schema's range was given: %v", content)
	}
}
