package model_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/sandbox"
	"github.com/chatflow-dev/chatflow/runtime/model"
)

const key = "sk-test-0123456789abcdef"

// fakeClock advances on Sleep, so retry delays cost no real time.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

func newSandbox(t *testing.T) (*sandbox.Server, string) {
	t.Helper()
	sb := sandbox.New(sandbox.Options{ModelAPIKey: key, RetryAfter: 3 * time.Second})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	return sb, srv.URL + "/v1"
}

func newClient(t *testing.T, base string, mutate func(*model.Config)) (*model.Client, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: time.Now()}
	cfg := model.Config{
		BaseURL: base, Model: "gpt-4o-mini",
		APIKey: func() (string, error) { return key, nil },
		Clock:  clock, Rand: func() float64 { return 0.5 },
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := model.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, clock
}

var hello = model.Request{Messages: []model.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "hello"}}}

func TestCompleteSendsTheContract(t *testing.T) {
	sb, base := newSandbox(t)
	temp := 0.2
	c, _ := newClient(t, base, func(cfg *model.Config) { cfg.MaxTokens = 64; cfg.Temperature = &temp })
	schema := json.RawMessage(`{"type":"object","properties":{"label":{"type":"string","enum":["a","b"]}},"required":["label"],"additionalProperties":false}`)
	if _, err := sb.AddAnswer(sandbox.Answer{JSON: json.RawMessage(`{"label":"b"}`)}); err != nil {
		t.Fatal(err)
	}
	r, err := c.Complete(context.Background(), model.Request{Messages: hello.Messages, Schema: &model.Schema{Name: "classification", Schema: schema}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Content != `{"label":"b"}` || r.FinishReason != "stop" || r.Attempts != 1 || !strings.HasPrefix(r.ID, "chatcmpl-") {
		t.Errorf("response: %+v", r)
	}
	if r.Usage.PromptTokens == 0 || r.Usage.TotalTokens != r.Usage.PromptTokens+r.Usage.CompletionTokens {
		t.Errorf("usage: %+v", r.Usage)
	}
	recs := sb.Messages(sandbox.Query{Channel: sandbox.ModelChannel})
	if len(recs) != 1 {
		t.Fatalf("%d requests", len(recs))
	}
	var sent map[string]any
	_ = json.Unmarshal(recs[0].Body, &sent)
	rf, _ := sent["response_format"].(map[string]any)
	js, _ := rf["json_schema"].(map[string]any)
	if sent["model"] != "gpt-4o-mini" || sent["max_tokens"] != 64.0 || sent["temperature"] != 0.2 ||
		rf["type"] != "json_schema" || js["name"] != "classification" || js["strict"] != true {
		t.Errorf("request: %s", recs[0].Body)
	}
}

func TestCompleteRetriesWithinTheTimeout(t *testing.T) {
	sb, base := newSandbox(t)
	var retries []time.Duration
	c, clock := newClient(t, base, func(cfg *model.Config) {
		cfg.Timeout = 20 * time.Second
		cfg.OnRetry = func(_ int, _ *model.Error, d time.Duration) { retries = append(retries, d) }
	})
	_, _ = sb.AddFault(sandbox.Fault{Channel: "model", To: "gpt-4o-mini", Code: 429, Times: 1})
	_, _ = sb.AddFault(sandbox.Fault{Channel: "model", To: "gpt-4o-mini", Code: 503, Times: 1})
	r, err := c.Complete(context.Background(), hello)
	if err != nil {
		t.Fatal(err)
	}
	if r.Attempts != 3 || !strings.Contains(r.Content, "hello") {
		t.Errorf("response: %+v", r)
	}
	// The 429 asked for 3s (Retry-After), longer than the backoff; the
	// 503 got the second backoff step (full jitter at 0.5 of 1s).
	if len(retries) != 2 || retries[0] != 3*time.Second || retries[1] != 500*time.Millisecond {
		t.Errorf("retry delays = %v", retries)
	}
	if len(clock.slept) != 2 {
		t.Errorf("slept %v", clock.slept)
	}
}

func TestCompleteStopsWhenTheDelayWouldOutlastTheTimeout(t *testing.T) {
	sb, base := newSandbox(t)
	c, clock := newClient(t, base, func(cfg *model.Config) { cfg.Timeout = 2 * time.Second })
	_, _ = sb.AddFault(sandbox.Fault{Channel: "model", To: "gpt-4o-mini", Code: 429, Times: 1})
	_, err := c.Complete(context.Background(), hello)
	var e *model.Error
	if !errors.As(err, &e) || e.Kind != model.KindRateLimited || e.Status != 429 || e.Code != "rate_limit_exceeded" || e.RetryAfter != 3*time.Second {
		t.Fatalf("err = %#v", err)
	}
	if len(clock.slept) != 0 {
		t.Errorf("waited %v past the deadline", clock.slept)
	}
}

func TestCompleteErrors(t *testing.T) {
	sb, base := newSandbox(t)
	cases := []struct {
		name  string
		setup func()
		cfg   func(*model.Config)
		kind  model.Kind
	}{
		{"a wrong key is not retried and not echoed", nil, func(c *model.Config) {
			c.APIKey = func() (string, error) { return "sk-wrong-0000000000000000", nil }
		}, model.KindAuth},
		{"no key", nil, func(c *model.Config) { c.APIKey = nil }, model.KindAuth},
		{"an unknown model", func() { _, _ = sb.AddFault(sandbox.Fault{Channel: "model", Code: 404}) }, nil, model.KindClient},
		{"server errors until the attempts are used", func() {
			_, _ = sb.AddFault(sandbox.Fault{Channel: "model", Code: 500, Times: 4})
		}, nil, model.KindServer},
		{"a timeout", func() {
			_, _ = sb.AddAnswer(sandbox.Answer{Content: "late", Delay: sandbox.Duration{Duration: 3 * time.Second}})
		}, func(c *model.Config) { c.Timeout = 300 * time.Millisecond; c.Clock = nil }, model.KindTimeout},
		{"a strict schema the endpoint refuses", nil, nil, model.KindClient},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sb.ClearFaults()
			sb.ClearAnswers()
			if tc.setup != nil {
				tc.setup()
			}
			c, _ := newClient(t, base, tc.cfg)
			req := hello
			if i == len(cases)-1 {
				req.Schema = &model.Schema{Name: "x", Schema: json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"}}}`)}
			}
			_, err := c.Complete(context.Background(), req)
			var e *model.Error
			if !errors.As(err, &e) || e.Kind != tc.kind {
				t.Fatalf("err = %v (%#v), want kind %s", err, err, tc.kind)
			}
			if strings.Contains(err.Error(), "wrong-0000") || strings.Contains(err.Error(), key) {
				t.Errorf("the key leaked into the error: %v", err)
			}
			if model.Result(model.Response{}, err) != string(tc.kind) {
				t.Errorf("Result = %s", model.Result(model.Response{}, err))
			}
			if tc.kind == model.KindServer && e.Attempts != 4 {
				t.Errorf("attempts = %d", e.Attempts)
			}
		})
	}
}

func TestCompleteRefusal(t *testing.T) {
	sb, base := newSandbox(t)
	c, _ := newClient(t, base, nil)
	_, _ = sb.AddAnswer(sandbox.Answer{Refusal: "I can't help with that."})
	r, err := c.Complete(context.Background(), hello)
	if err != nil || r.Refusal != "I can't help with that." || r.Content != "" || model.Result(r, nil) != "refusal" {
		t.Errorf("%+v %v", r, err)
	}
}

func TestRequestsPerMinute(t *testing.T) {
	_, base := newSandbox(t)
	// 6 per minute, a burst of 1: the second call would wait 10s, more
	// than the call's timeout allows.
	c, _ := newClient(t, base, func(cfg *model.Config) { cfg.RequestsPerMinute = 6; cfg.Timeout = time.Second; cfg.Clock = nil })
	if _, err := c.Complete(context.Background(), hello); err != nil {
		t.Fatal(err)
	}
	_, err := c.Complete(context.Background(), hello)
	var e *model.Error
	if !errors.As(err, &e) || e.Kind != model.KindThrottled || e.Attempts != 0 {
		t.Errorf("err = %v", err)
	}
}

func TestParseResponse(t *testing.T) {
	for body, want := range map[string]model.Response{
		`{"id":"c1","choices":[{"message":{"role":"assistant","content":"hi","refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`: {
			ID: "c1", Content: "hi", FinishReason: "stop", Usage: model.Usage{PromptTokens: 3, CompletionTokens: 1, TotalTokens: 4}},
		`{"choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"image_url"},{"type":"text","text":"b"}]}}]}`: {Content: "ab"},
		`{"choices":[{"message":{"content":null},"finish_reason":"content_filter"}]}`: {FinishReason: "content_filter",
			Refusal: "the endpoint filtered the answer (finish_reason content_filter)"},
		`{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":-5}}`: {Content: "x"},
	} {
		got, err := model.ParseResponse([]byte(body))
		if err != nil || got != want {
			t.Errorf("%s:\n got %+v %v\nwant %+v", body, got, err, want)
		}
	}
	for _, bad := range []string{``, `[]`, `{"choices":[]}`, `{"choices":[{}]}`, `{"choices":[{"message":{"content":7}}]}`} {
		if _, err := model.ParseResponse([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseError(t *testing.T) {
	e := model.ParseError(429, []byte(`{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`))
	if e.Kind != model.KindQuota || e.Retryable() {
		t.Errorf("quota: %+v", e)
	}
	e = model.ParseError(502, []byte(`<html>Bad gateway</html>`))
	if e.Kind != model.KindServer || e.Message != "Bad Gateway" || !e.Retryable() {
		t.Errorf("proxy page: %+v", e)
	}
	e = model.ParseError(400, []byte(`{"error":{"message":"`+strings.Repeat("x", 1000)+`","code":123}}`))
	if e.Kind != model.KindClient || len(e.Message) > 310 || e.Code != "123" {
		t.Errorf("long message: %d %q", len(e.Message), e.Code)
	}
}

func TestValidateSpec(t *testing.T) {
	spec := func(mutate func(*v1alpha1.LanguageModelSpec)) *v1alpha1.LanguageModelSpec {
		s := &v1alpha1.LanguageModelSpec{BaseURL: "https://api.openai.com/v1", Model: "gpt-4o-mini",
			APIKeyRef: &v1alpha1.SecretKeySelector{Name: "openai", Key: "apiKey"}}
		if mutate != nil {
			mutate(s)
		}
		return s
	}
	if errs := model.ValidateSpec(spec(nil), field.NewPath("spec")); len(errs) != 0 {
		t.Errorf("valid: %v", errs)
	}
	cases := map[string]*v1alpha1.LanguageModelSpec{
		"spec.baseURL: Invalid value: \"https://u:p@api.example.com/v1\": must not carry credentials: put the API key in a Secret and name it in apiKeyRef": spec(func(s *v1alpha1.LanguageModelSpec) {
			s.BaseURL = "https://u:p@api.example.com/v1"
		}),
		"spec.baseURL: Invalid value: \"https://api.example.com/v1/chat/completions\": is the base URL, without /chat/completions, e.g. https://api.openai.com/v1": spec(func(s *v1alpha1.LanguageModelSpec) {
			s.BaseURL = "https://api.example.com/v1/chat/completions"
		}),
		"spec.baseURL: Invalid value: \"ftp://x\": must be an http or https URL, e.g. https://api.openai.com/v1": spec(func(s *v1alpha1.LanguageModelSpec) { s.BaseURL = "ftp://x" }),
		"spec.temperature: Invalid value: \"2.5\": must be a decimal from 0 to 2, e.g. \"0.2\"":                  spec(func(s *v1alpha1.LanguageModelSpec) { s.Temperature = "2.5" }),
		"spec.timeout: Invalid value: \"5m0s\": must be between 1s and 2m (default 30s): it bounds a node's call, retries included": spec(func(s *v1alpha1.LanguageModelSpec) {
			s.Timeout = &metav1.Duration{Duration: 5 * time.Minute}
		}),
		"spec.apiKeyRef.key: Required value: name the key of the Secret that holds the API key, e.g. apiKey": spec(func(s *v1alpha1.LanguageModelSpec) { s.APIKeyRef.Key = "" }),
	}
	for want, s := range cases {
		errs := model.ValidateSpec(s, field.NewPath("spec"))
		if len(errs) != 1 || errs[0].Error() != want {
			t.Errorf("got %v\nwant %s", errs, want)
		}
	}
	cfg, err := model.FromSpec(spec(func(s *v1alpha1.LanguageModelSpec) { s.Temperature = "0.7" }))
	if err != nil || cfg.Timeout != model.DefaultTimeout || cfg.MaxTokens != model.DefaultMaxTokens ||
		cfg.RequestsPerMinute != model.DefaultRequestsPerMinute || cfg.Temperature == nil || *cfg.Temperature != 0.7 {
		t.Errorf("FromSpec: %+v %v", cfg, err)
	}
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		`{"id":"c1","choices":[{"message":{"role":"assistant","content":"hi","refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`,
		`{"choices":[{"message":{"content":[{"type":"text","text":"a"}]}}]}`,
		`{"choices":[{"message":{"content":null,"refusal":"no"}}]}`, `{"choices":null}`, `{"usage":{"total_tokens":1e99}}`, "\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := model.ParseResponse(body)
		if err == nil && (r.Usage.PromptTokens < 0 || r.Usage.CompletionTokens < 0 || r.Usage.TotalTokens < 0) {
			t.Fatalf("negative usage: %+v", r.Usage)
		}
		_ = model.Result(r, err)
	})
}

func FuzzParseError(f *testing.F) {
	f.Add(429, []byte(`{"error":{"message":"Rate limit","type":"requests","param":null,"code":"rate_limit_exceeded"}}`))
	f.Add(401, []byte(`{"error":{"message":"Incorrect API key provided: sk-ab***yz","code":"invalid_api_key"}}`))
	f.Add(500, []byte(`not json`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := model.ParseError(status, body)
		if e.Kind == "" || len(e.Message) > 400 || strings.ContainsRune(e.Message, '\n') {
			t.Fatalf("%+v", e)
		}
		if status == 401 && strings.Contains(e.Message, "sk-") {
			t.Fatalf("a 401's message keeps the endpoint's words: %q", e.Message)
		}
		_ = e.Error()
	})
}

func TestFinalTransportErrorsAreNotRetried(t *testing.T) {
	refused := errors.New("refused address")
	c, clock := newClient(t, "http://127.0.0.1:9/v1", func(cfg *model.Config) {
		cfg.HTTP = &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, refused })}
		cfg.Final = func(err error) bool { return errors.Is(err, refused) }
	})
	_, err := c.Complete(context.Background(), hello)
	var e *model.Error
	if !errors.As(err, &e) || e.Kind != model.KindNetwork || e.Attempts != 1 || !errors.Is(err, refused) || len(clock.slept) != 0 {
		t.Errorf("err = %v, slept %v", err, clock.slept)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
