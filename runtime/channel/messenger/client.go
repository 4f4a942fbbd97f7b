package messenger

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

// DefaultAPIBaseURL is the Graph API base URL (version included); a
// binding's apiBaseURL replaces it, e.g. with the sandbox, or with
// https://graph.instagram.com/v21.0 for Instagram API with Instagram Login.
const DefaultAPIBaseURL = meta.GraphAPIBaseURL

// DefaultRate is the Send API limit per Page or Instagram account: "300
// calls per second ... for messages that contain text, links, reactions,
// and stickers" (audio and video are limited to 10/s; set a lower rate for
// flows that mostly send those).
const DefaultRate = channel.DefaultMessengerRate

// Config configures a Client.
type Config struct {
	// Flavor is Messenger or Instagram.
	Flavor Flavor
	// AccountID is the Page id (Messenger) or the Instagram account id.
	AccountID string
	// AccessToken returns the current Page (or Instagram user) access
	// token. It is called for every attempt, so a rotated Secret takes
	// effect without a restart. It travels as the access_token query
	// parameter, as in Meta's samples; channel.Delivery keeps query strings
	// out of errors, and the token is never logged.
	AccessToken func(ctx context.Context) (string, error)
	// APIBaseURL defaults to DefaultAPIBaseURL.
	APIBaseURL string
	// MessagingType is RESPONSE (default; a flow answering the contact) or
	// UPDATE (a Manual flow writing first). Tagged sends use MESSAGE_TAG.
	MessagingType string
	// Delivery is the retry, rate-limit and clock machinery. A nil
	// Delivery.Limiter gets a private limiter at DefaultRate; a nil
	// Delivery.Client an http.Client with a 30 s timeout.
	Delivery channel.Delivery
}

// Client sends messages through the Send API for one Page or Instagram
// account. It implements channel.Sender and is safe for concurrent use.
type Client struct {
	flavor        Flavor
	account       string
	endpoint      string
	messagingType string
	token         func(ctx context.Context) (string, error)
	delivery      channel.Delivery
}

var _ channel.Sender = (*Client)(nil)

// NewClient validates cfg and returns a Client. Messenger posts to
// {APIBaseURL}/{page_id}/messages; Instagram to {APIBaseURL}/me/messages,
// which serves both Instagram flavours (Facebook Login with a Page token,
// Instagram Login with an Instagram token).
func NewClient(cfg Config) (*Client, error) {
	if cfg.Flavor.channel == "" {
		return nil, errors.New("messenger: Flavor is required")
	}
	if cfg.AccountID == "" {
		return nil, fmt.Errorf("%s: AccountID is required", cfg.Flavor)
	}
	if cfg.AccessToken == nil {
		return nil, fmt.Errorf("%s: AccessToken is required", cfg.Flavor)
	}
	switch cfg.MessagingType {
	case "":
		cfg.MessagingType = MessagingTypeResponse
	case MessagingTypeResponse, MessagingTypeUpdate:
	default:
		return nil, fmt.Errorf("%s: MessagingType %q is not RESPONSE or UPDATE", cfg.Flavor, cfg.MessagingType)
	}
	base := cfg.APIBaseURL
	if base == "" {
		base = DefaultAPIBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("%s: APIBaseURL %q is not an http(s) URL without a query", cfg.Flavor, base)
	}
	who := url.PathEscape(cfg.AccountID)
	if cfg.Flavor == Instagram {
		who = "me"
	}
	d := cfg.Delivery
	if d.Limiter == nil {
		d.Limiter = channel.NewRateLimiter(DefaultRate, 0, d.Clock)
	}
	if d.Client == nil {
		d.Client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{
		flavor:        cfg.Flavor,
		account:       cfg.AccountID,
		endpoint:      strings.TrimRight(base, "/") + "/" + who + "/messages",
		messagingType: cfg.MessagingType,
		token:         cfg.AccessToken,
		delivery:      d,
	}, nil
}

// Send renders out (Render) and POSTs each request body in order under the
// account's rate limit and the retry policy. The Receipt carries the
// message_id of the last request, or the first failure: a SendError
// classified by Graph code (Classify). A message Render refuses fails
// Permanent with channel.CodeInvalidMessage, without a request. When a
// message takes several requests (media with text) and a later one fails
// Retryable, a retry of the whole Send repeats the earlier ones.
func (c *Client) Send(ctx context.Context, out message.Outbound) message.Receipt {
	bodies, err := Render(out, c.flavor, c.messagingType)
	if err != nil {
		return message.Receipt{Error: &message.SendError{
			Class: message.Permanent, Code: channel.CodeInvalidMessage, Message: err.Error()}}
	}
	var r message.Receipt
	for _, body := range bodies {
		r = c.delivery.Do(ctx, c.account, func(ctx context.Context) (*http.Request, error) {
			return c.newRequest(ctx, body)
		}, c.decodeResponse)
		if r.Error != nil {
			return r
		}
	}
	return r
}

func (c *Client) newRequest(ctx context.Context, body []byte) (*http.Request, error) {
	tok, err := c.token(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: no access token: %w", c.flavor, err)
	}
	if tok == "" {
		return nil, fmt.Errorf("%s: empty access token", c.flavor)
	}
	u := c.endpoint + "?" + url.Values{"access_token": {tok}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: building the request: %s", c.flavor, redact(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// redact drops a URL (which would carry the token) from an error.
func redact(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err.Error()
	}
	return "invalid request"
}

// decodeResponse is the channel.Decoder of the Send API.
func (c *Client) decodeResponse(status int, _ http.Header, body []byte) (string, *message.SendError) {
	if status >= 200 && status < 300 {
		var r sendResponse
		if err := json.Unmarshal(body, &r); err == nil && r.MessageID != "" {
			return r.MessageID, nil
		}
		// Accepted but unreadable: do not retry (that could send twice).
		return "", &message.SendError{Class: message.Permanent, Code: status,
			Message: fmt.Sprintf("%s: HTTP %d response without message_id", c.flavor, status)}
	}
	if ge, ok := meta.ParseGraphError(body); ok {
		return "", &message.SendError{Class: meta.ClassifyGraphError(ge, status, classifyCode), Code: ge.Code, Message: ge.Error()}
	}
	return "", &message.SendError{Code: status,
		Message: fmt.Sprintf("%s: HTTP %d %s", c.flavor, status, http.StatusText(status))}
}
