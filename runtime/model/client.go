// Package model is the client of chat models behind an OpenAI-compatible
// API (POST {baseURL}/chat/completions): OpenAI, Azure OpenAI's v1 API,
// vLLM, Ollama, LiteLLM and the channel sandbox's stand-in. It sends one
// chat request, with structured output when asked (response_format
// json_schema, strict), retries 429 and 5xx answers with full-jitter
// backoff or the delay the endpoint asks for (Retry-After) as long as the
// call's timeout allows, paces calls to a requests-per-minute limit, and
// parses the answer, its refusal and its token usage.
//
// The API key is read for every attempt (a rotated Secret takes effect
// without a restart) and never appears in errors. The HTTP client is the
// caller's: the executor passes its egress client, so the model URL is
// subject to the same private-address guard as every call a flow makes.
//
// It imports the standard library, golang.org/x/time/rate,
// runtime/channel (its retry policy, Retry-After parsing and clock), and
// api/v1alpha1 with apimachinery's field errors for the spec's rules; it
// must not import runtime/flow, the executor, the controllers or the
// commands (internal/).
package model

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/chatflow-dev/chatflow/runtime/channel"
)

// Defaults of a model's settings.
const (
	DefaultTimeout           = 30 * time.Second
	DefaultMaxTokens         = 512
	DefaultRequestsPerMinute = 60
	// MaxResponseBytes caps the body read of one answer.
	MaxResponseBytes = 4 << 20
)

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Schema asks for structured output: the answer must be JSON that matches
// it.
type Schema struct {
	Name   string
	Schema json.RawMessage
}

// Request is one chat completion request.
type Request struct {
	Messages []Message
	// Schema, when set, asks for structured output.
	Schema *Schema
}

// Usage is the token count of a call, as the endpoint reports it.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Response is a model's answer.
type Response struct {
	// ID is the completion's id.
	ID string
	// Content is the answer's text (JSON text for structured output).
	Content string
	// Refusal is set when the model declined (message.refusal), or when
	// the endpoint filtered the answer (finish_reason content_filter).
	Refusal string
	// FinishReason is why the model stopped: stop, length, ...
	FinishReason string
	Usage        Usage
	// Attempts is how many requests the call took.
	Attempts int
}

// Config configures a Client.
type Config struct {
	// BaseURL of the API; requests go to {BaseURL}/chat/completions.
	BaseURL string
	// Model is the model name each request asks for.
	Model string
	// APIKey returns the key, sent as a bearer token; it is called for
	// every attempt. Nil sends no Authorization header.
	APIKey func() (string, error)
	// Timeout bounds a whole call, retries and rate-limit waits included
	// (DefaultTimeout when 0).
	Timeout time.Duration
	// MaxTokens caps an answer (DefaultMaxTokens when 0).
	MaxTokens int
	// Temperature, when set, is sent as is.
	Temperature *float64
	// RequestsPerMinute paces the calls of this client (0: no limit).
	RequestsPerMinute int
	// HTTP sends the requests (http.DefaultClient when nil). The executor
	// gives its egress client.
	HTTP *http.Client
	// Retry bounds the attempts and the backoff (its MaxRetryAfter is not
	// used: the call's deadline decides whether a delay fits).
	Retry channel.RetryPolicy
	// Clock drives backoff sleeps (channel.SystemClock when nil).
	Clock channel.Clock
	// Rand returns uniform numbers in [0, 1) for the jitter.
	Rand func() float64
	// OnRetry, when set, is told about each attempt that failed and will
	// be retried, and the delay before the next one.
	OnRetry func(attempt int, err *Error, delay time.Duration)
	// Final, when set, tells transport errors that no retry can help with
	// (the executor's refused private address) from passing ones.
	Final func(error) bool
}

// Client calls one model. It is safe for concurrent use.
type Client struct {
	cfg      Config
	endpoint string
	limiter  *rate.Limiter
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("model: the base URL %q must be an http(s) URL without credentials, query or fragment, e.g. https://api.openai.com/v1", cfg.BaseURL)
	}
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, errors.New("model: no model name")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = DefaultMaxTokens
	}
	if cfg.HTTP == nil {
		cfg.HTTP = http.DefaultClient
	}
	if cfg.Clock == nil {
		cfg.Clock = channel.SystemClock{}
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	c := &Client{cfg: cfg, endpoint: strings.TrimRight(cfg.BaseURL, "/") + "/chat/completions"}
	if cfg.RequestsPerMinute > 0 {
		// A burst of a tenth of a minute's budget: a few contacts may be
		// answered at once, a flood is spread out.
		c.limiter = rate.NewLimiter(rate.Limit(float64(cfg.RequestsPerMinute)/60), max(1, cfg.RequestsPerMinute/10))
	}
	return c, nil
}

// Model is the model name the client asks for.
func (c *Client) Model() string { return c.cfg.Model }

// Timeout is the bound of one call.
func (c *Client) Timeout() time.Duration { return c.cfg.Timeout }

// Complete sends req and returns the answer. It retries rate limits
// (429) and server errors (5xx) and network errors after a backoff, or
// after the delay the endpoint asks for (Retry-After, retry-after-ms),
// while the call's deadline leaves room for the delay; other failures
// return at once. Errors are *Error.
func (c *Client) Complete(ctx context.Context, req Request) (Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	body, err := c.requestBody(req)
	if err != nil {
		return Response{}, &Error{Kind: KindInvalidRequest, Message: err.Error()}
	}
	p := c.cfg.Retry
	attempts := p.MaxAttempts
	if attempts <= 0 {
		attempts = channel.DefaultMaxAttempts
	}
	for attempt := 1; ; attempt++ {
		if c.limiter != nil {
			if err := c.limiter.Wait(ctx); err != nil {
				return Response{Attempts: attempt - 1}, &Error{Kind: KindThrottled, Attempts: attempt - 1,
					Message: fmt.Sprintf("the model's limit of %d requests per minute leaves no room within %s", c.cfg.RequestsPerMinute, c.cfg.Timeout)}
			}
		}
		resp, e := c.attempt(ctx, body)
		if e == nil {
			resp.Attempts = attempt
			return resp, nil
		}
		e.Attempts = attempt
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			e.Kind, e.Status, e.Message = KindTimeout, 0, "no answer within "+c.cfg.Timeout.String()
			return Response{Attempts: attempt}, e
		}
		final := e.Cause != nil && c.cfg.Final != nil && c.cfg.Final(e.Cause)
		if final || !e.Retryable() || attempt >= attempts || ctx.Err() != nil {
			return Response{Attempts: attempt}, e
		}
		delay := p.Backoff(attempt, c.cfg.Rand())
		if e.RetryAfter > delay {
			delay = e.RetryAfter
		}
		if c.cfg.Clock.Now().Add(delay).After(deadline) {
			// Waiting would outlast the call: fail now with what the
			// endpoint said, instead of a timeout later.
			return Response{Attempts: attempt}, e
		}
		if c.cfg.OnRetry != nil {
			c.cfg.OnRetry(attempt, e, delay)
		}
		if err := c.cfg.Clock.Sleep(ctx, delay); err != nil {
			return Response{Attempts: attempt}, e
		}
	}
}

// wireRequest is the request body of POST /chat/completions.
type wireRequest struct {
	Model          string          `json:"model"`
	Messages       []Message       `json:"messages"`
	MaxTokens      int             `json:"max_tokens"`
	Temperature    *float64        `json:"temperature,omitempty"`
	ResponseFormat *responseFormat `json:"response_format,omitempty"`
}

type responseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *jsonSchema `json:"json_schema,omitempty"`
}

type jsonSchema struct {
	Name   string          `json:"name"`
	Strict bool            `json:"strict"`
	Schema json.RawMessage `json:"schema"`
}

func (c *Client) requestBody(req Request) ([]byte, error) {
	w := wireRequest{Model: c.cfg.Model, Messages: req.Messages, MaxTokens: c.cfg.MaxTokens, Temperature: c.cfg.Temperature}
	if w.Messages == nil {
		w.Messages = []Message{}
	}
	if s := req.Schema; s != nil {
		if !json.Valid(s.Schema) {
			return nil, errors.New("the output schema is not JSON")
		}
		w.ResponseFormat = &responseFormat{Type: "json_schema", JSONSchema: &jsonSchema{Name: s.Name, Strict: true, Schema: s.Schema}}
	}
	return json.Marshal(w)
}

// attempt makes one request.
func (c *Client) attempt(ctx context.Context, body []byte) (Response, *Error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return Response{}, &Error{Kind: KindInvalidRequest, Message: err.Error()}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", "chatflow")
	key := ""
	if c.cfg.APIKey != nil {
		if key, err = c.cfg.APIKey(); err != nil {
			// The reader's error names the Secret and key, never the value.
			return Response{}, &Error{Kind: KindAuth, Message: "no API key: " + err.Error()}
		}
		if key != "" {
			hreq.Header.Set("Authorization", "Bearer "+key)
		}
	}
	resp, err := c.cfg.HTTP.Do(hreq)
	if err != nil {
		return Response{}, &Error{Kind: KindNetwork, Message: transportError(c.endpoint, err), Cause: err}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
	}()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return Response{}, &Error{Kind: KindNetwork, Status: resp.StatusCode, Message: transportError(c.endpoint, err), Cause: err}
	}
	if len(data) > MaxResponseBytes {
		return Response{}, &Error{Kind: KindInvalidResponse, Status: resp.StatusCode, Message: fmt.Sprintf("the answer is larger than %d bytes", MaxResponseBytes)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := ParseError(resp.StatusCode, data)
		e.RetryAfter = retryAfter(resp.Header, c.cfg.Clock.Now())
		e.Message = redact(e.Message, key)
		return Response{}, e
	}
	r, err := ParseResponse(data)
	if err != nil {
		return Response{}, &Error{Kind: KindInvalidResponse, Status: resp.StatusCode, Message: err.Error()}
	}
	return r, nil
}

// retryAfter reads the delay an endpoint asks for: OpenAI's
// retry-after-ms, else Retry-After (seconds or an HTTP date).
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 && ms < 1e9 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	if d, ok := channel.ParseRetryAfter(h.Get("Retry-After"), now); ok {
		return d
	}
	return 0
}

// transportError describes a network failure without the URL's query or
// userinfo (there are none by construction, but errors travel far).
func transportError(endpoint string, err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	return "POST " + endpoint + ": " + err.Error()
}

// redact removes the key from a message an endpoint wrote.
func redact(msg, key string) string {
	if len(key) >= 4 {
		msg = strings.ReplaceAll(msg, key, "[redacted]")
	}
	return msg
}
