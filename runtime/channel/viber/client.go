package viber

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// DefaultAPIBaseURL is the Bot API's base URL; a binding's apiBaseURL
// replaces it, e.g. with the sandbox.
const DefaultAPIBaseURL = "https://chatapi.viber.com"

// AuthHeader carries the bot's auth token on every API call.
const AuthHeader = "X-Viber-Auth-Token"

// DefaultRate bounds sends per bot; Viber documents no per-second limit for
// send_message (only 100 unanswered messages per user per hour, status 12),
// so this only smooths bursts.
const DefaultRate = channel.DefaultViberRate

// EventTypes are the callbacks a webhook registered by SetWebhook asks
// for: the optional ones a flow uses (message, subscribed and unsubscribed
// are always sent).
var EventTypes = []string{"delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started"}

// Config configures a Client.
type Config struct {
	// AccountID names the bot (the binding's account id); it keys the rate
	// limit.
	AccountID string
	// AuthToken returns the bot's current auth token; called for every
	// attempt, never logged.
	AuthToken func(ctx context.Context) (string, error)
	// Sender is sender.name (required) and avatar of every message.
	Sender Sender
	// APIBaseURL defaults to DefaultAPIBaseURL.
	APIBaseURL string
	// Delivery is the retry, rate-limit and clock machinery (a private
	// limiter at DefaultRate and an http.Client with a 30 s timeout when
	// nil).
	Delivery channel.Delivery
}

// Client sends messages for one bot. It implements channel.Sender and is
// safe for concurrent use.
type Client struct {
	account  string
	base     string
	token    func(ctx context.Context) (string, error)
	sender   Sender
	delivery channel.Delivery
}

var _ channel.Sender = (*Client)(nil)

// NewClient validates cfg and returns a Client.
func NewClient(cfg Config) (*Client, error) {
	if cfg.AccountID == "" {
		return nil, errors.New("viber: AccountID is required")
	}
	if cfg.AuthToken == nil {
		return nil, errors.New("viber: AuthToken is required")
	}
	if cfg.Sender.Name == "" {
		return nil, errors.New("viber: Sender.Name is required")
	}
	base := cfg.APIBaseURL
	if base == "" {
		base = DefaultAPIBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("viber: APIBaseURL %q is not an http(s) URL", base)
	}
	d := cfg.Delivery
	if d.Limiter == nil {
		d.Limiter = channel.NewRateLimiter(DefaultRate, 0, d.Clock)
	}
	if d.Client == nil {
		d.Client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{account: cfg.AccountID, base: strings.TrimRight(base, "/"), token: cfg.AuthToken, sender: cfg.Sender, delivery: d}, nil
}

// Send renders out and POSTs it to {APIBaseURL}/pa/send_message with the
// auth token header. The Receipt carries the message_token (as decimal
// text) or a SendError: a non-zero status classified by Classify (12
// retried, 6 and the others Permanent), HTTP 429/5xx retried.
func (c *Client) Send(ctx context.Context, out message.Outbound) message.Receipt {
	body, err := Render(out, c.sender)
	if err != nil {
		return message.Receipt{Error: &message.SendError{Class: message.Permanent, Code: channel.CodeInvalidMessage, Message: err.Error()}}
	}
	return c.delivery.Do(ctx, c.account, func(ctx context.Context) (*http.Request, error) {
		return c.newRequest(ctx, "/pa/send_message", body)
	}, decodeSend)
}

// SetWebhook registers url as the bot's webhook (POST /pa/set_webhook
// with EventTypes, send_name and send_photo), once, without retries: the
// caller decides on backoff. Viber calls the URL back with the "webhook"
// event, which must get 200, before it answers.
func (c *Client) SetWebhook(ctx context.Context, webhookURL string) error {
	body, err := json.Marshal(map[string]any{"url": webhookURL, "event_types": EventTypes, "send_name": true, "send_photo": true})
	if err != nil {
		return err
	}
	req, err := c.newRequest(ctx, "/pa/set_webhook", body)
	if err != nil {
		return err
	}
	resp, err := c.delivery.Client.Do(req)
	if err != nil {
		return fmt.Errorf("viber: set_webhook: %w", err)
	}
	defer resp.Body.Close()
	var r sendResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&r); err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("viber: set_webhook: HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	if r.Status == nil || *r.Status != StatusOK {
		return fmt.Errorf("viber: set_webhook: status %v %s", statusOf(r.Status), r.StatusMessage)
	}
	return nil
}

func statusOf(p *int) any {
	if p == nil {
		return "missing"
	}
	return *p
}

func (c *Client) newRequest(ctx context.Context, path string, body []byte) (*http.Request, error) {
	tok, err := c.token(ctx)
	if err != nil {
		return nil, fmt.Errorf("viber: no auth token: %w", err)
	}
	if tok == "" {
		return nil, errors.New("viber: empty auth token")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("viber: building the request: %w", err)
	}
	req.Header.Set(AuthHeader, tok)
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// decodeSend is the channel.Decoder of send_message: errors come back as
// HTTP 200 with a non-zero status.
func decodeSend(status int, _ http.Header, body []byte) (string, *message.SendError) {
	if status < 200 || status >= 300 {
		return "", &message.SendError{Code: status, Message: fmt.Sprintf("viber: HTTP %d %s", status, http.StatusText(status))}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var r sendResponse
	if err := dec.Decode(&r); err != nil || r.Status == nil {
		return "", &message.SendError{Class: message.Permanent, Code: status,
			Message: fmt.Sprintf("viber: HTTP %d response without a status", status)}
	}
	if *r.Status != StatusOK {
		return "", &message.SendError{Class: Classify(*r.Status), Code: *r.Status,
			Message: fmt.Sprintf("viber: status %d %s", *r.Status, r.StatusMessage)}
	}
	token, ok := integer(r.MessageToken)
	if !ok {
		// Accepted but unreadable: do not retry (that could send twice).
		return "", &message.SendError{Class: message.Permanent, Code: status, Message: "viber: status 0 without an integer message_token"}
	}
	return token, nil
}
