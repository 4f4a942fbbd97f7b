package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// DefaultAPIBaseURL is the Cloud API's base URL (Graph API version
// included); a binding's apiBaseURL replaces it, e.g. with the sandbox.
const DefaultAPIBaseURL = meta.GraphAPIBaseURL

// Config configures a Client.
type Config struct {
	// PhoneNumberID is the sending number's id (the binding's account id).
	PhoneNumberID string
	// AccessToken returns the current access token. It is called for every
	// attempt, so a rotated Secret takes effect without a restart. The
	// token is never logged nor put in errors.
	AccessToken func(ctx context.Context) (string, error)
	// APIBaseURL defaults to DefaultAPIBaseURL.
	APIBaseURL string
	// Delivery is the retry, rate-limit and clock machinery. A nil
	// Delivery.Limiter gets a private limiter at DefaultWhatsAppRate; share
	// one channel.RateLimiter between all clients of a process instead, so
	// the limit holds per number. A nil Delivery.Client gets an
	// http.Client with a 30 s timeout.
	Delivery channel.Delivery
}

// Client sends messages through the Cloud API from one phone number. It
// implements channel.Sender and is safe for concurrent use.
type Client struct {
	phoneNumberID string
	endpoint      string
	token         func(ctx context.Context) (string, error)
	delivery      channel.Delivery
}

var (
	_ channel.Sender = (*Client)(nil)
	_ channel.Typist = (*Client)(nil)
)

// NewClient validates cfg and returns a Client.
func NewClient(cfg Config) (*Client, error) {
	if cfg.PhoneNumberID == "" {
		return nil, errors.New("whatsapp: PhoneNumberID is required")
	}
	if cfg.AccessToken == nil {
		return nil, errors.New("whatsapp: AccessToken is required")
	}
	base := cfg.APIBaseURL
	if base == "" {
		base = DefaultAPIBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("whatsapp: APIBaseURL %q is not an http(s) URL", base)
	}
	d := cfg.Delivery
	if d.Limiter == nil {
		d.Limiter = channel.NewRateLimiter(channel.DefaultWhatsAppRate, 0, d.Clock)
	}
	if d.Client == nil {
		d.Client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{
		phoneNumberID: cfg.PhoneNumberID,
		endpoint:      strings.TrimRight(base, "/") + "/" + url.PathEscape(cfg.PhoneNumberID) + "/messages",
		token:         cfg.AccessToken,
		delivery:      d,
	}, nil
}

// Send renders out and POSTs it to {APIBaseURL}/{phone_number_id}/messages
// with the bearer token, under the number's rate limit and the retry
// policy. The Receipt carries messages[0].id (the wamid later statuses
// refer to), or a SendError classified by Cloud API error code (Classify).
// A message Render refuses fails Permanent with channel.CodeInvalidMessage,
// without a request.
func (c *Client) Send(ctx context.Context, out message.Outbound) message.Receipt {
	body, err := Render(out)
	if err != nil {
		return message.Receipt{Error: &message.SendError{
			Class: message.Permanent, Code: channel.CodeInvalidMessage, Message: err.Error()}}
	}
	return c.delivery.Do(ctx, c.phoneNumberID, func(ctx context.Context) (*http.Request, error) {
		return c.newRequest(ctx, body)
	}, decodeResponse)
}

func (c *Client) newRequest(ctx context.Context, body []byte) (*http.Request, error) {
	tok, err := c.token(ctx)
	if err != nil {
		return nil, fmt.Errorf("whatsapp: no access token: %w", err)
	}
	if tok == "" {
		return nil, errors.New("whatsapp: empty access token")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("whatsapp: building the request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// decodeResponse is the channel.Decoder of the Cloud API.
func decodeResponse(status int, _ http.Header, body []byte) (string, *message.SendError) {
	if status >= 200 && status < 300 {
		var r sendResponse
		if err := json.Unmarshal(body, &r); err == nil && len(r.Messages) > 0 && r.Messages[0].ID != "" {
			return r.Messages[0].ID, nil
		}
		// Accepted but unreadable: do not retry (that could send twice).
		return "", &message.SendError{Class: message.Permanent, Code: status,
			Message: fmt.Sprintf("whatsapp: HTTP %d response without messages[0].id", status)}
	}
	if ge, ok := meta.ParseGraphError(body); ok {
		return "", &message.SendError{Class: meta.ClassifyGraphError(ge, status, classifyCode), Code: ge.Code, Message: ge.Error()}
	}
	// No Graph error body (a proxy's page, an empty 502): classify by status.
	return "", &message.SendError{Code: status,
		Message: fmt.Sprintf("whatsapp: HTTP %d %s", status, http.StatusText(status))}
}

// Typing marks the inbound message read and shows the typing indicator,
// in one request to {APIBaseURL}/{phone_number_id}/messages, under the
// number's rate limit (inbound and outbound count towards its throughput)
// and without retries.
func (c *Client) Typing(ctx context.Context, inboundID string) error {
	if inboundID == "" {
		return errors.New("whatsapp: no inbound message id to mark read")
	}
	body, err := json.Marshal(readRequest{MessagingProduct: "whatsapp", Status: "read", MessageID: inboundID,
		TypingIndicator: typingIndicator{Type: "text"}})
	if err != nil {
		return err
	}
	d := c.delivery
	d.Retry = channel.RetryPolicy{MaxAttempts: 1}
	r := d.Do(ctx, c.phoneNumberID, func(ctx context.Context) (*http.Request, error) {
		return c.newRequest(ctx, body)
	}, decodeStatusResponse)
	if r.Error != nil {
		return fmt.Errorf("whatsapp: marking %s read: %s", inboundID, r.Error.Message)
	}
	return nil
}

// decodeStatusResponse is the channel.Decoder of a mark-as-read request.
func decodeStatusResponse(status int, h http.Header, body []byte) (string, *message.SendError) {
	if status >= 200 && status < 300 {
		var r statusResponse
		if err := json.Unmarshal(body, &r); err == nil && r.Success {
			return "", nil
		}
		return "", &message.SendError{Class: message.Permanent, Code: status,
			Message: fmt.Sprintf("whatsapp: HTTP %d response without \"success\": true", status)}
	}
	return decodeResponse(status, h, body)
}
