package whatsapp

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

	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
)

// MaxOverrideCallbackURL is the longest override callback URL Meta accepts.
const MaxOverrideCallbackURL = 200

// WebhookOverride sets a phone number's alternate callback URL (Meta's
// webhook overrides): Meta then sends the number's "messages" webhooks
// there instead of to the app's callback URL. Meta verifies the URL first
// with its GET handshake, carrying VerifyToken, and refuses the override
// (error 2200) when that fails.
type WebhookOverride struct {
	// HTTP is the client (default: http.DefaultClient).
	HTTP *http.Client
	// APIBaseURL defaults to DefaultAPIBaseURL.
	APIBaseURL string
	// PhoneNumberID is the number's id.
	PhoneNumberID string
	// AccessToken authorizes the call (whatsapp_business_management). It is
	// never logged nor put in errors.
	AccessToken string
}

// Set makes callbackURL the number's override callback, verified by Meta
// with verifyToken: POST /{phone_number_id} with
// {"webhook_configuration": {"override_callback_uri", "verify_token"}}.
// An empty callbackURL removes the override. Graph's refusals are
// returned as *meta.GraphError.
func (o WebhookOverride) Set(ctx context.Context, callbackURL, verifyToken string) error {
	if len(callbackURL) > MaxOverrideCallbackURL {
		return fmt.Errorf("the override callback URL is %d characters; Meta takes at most %d", len(callbackURL), MaxOverrideCallbackURL)
	}
	cfg := map[string]string{"override_callback_uri": callbackURL}
	if callbackURL != "" {
		cfg["verify_token"] = verifyToken
	}
	body, err := json.Marshal(map[string]any{"webhook_configuration": cfg})
	if err != nil {
		return err
	}
	base := o.APIBaseURL
	if base == "" {
		base = DefaultAPIBaseURL
	}
	endpoint := strings.TrimRight(base, "/") + "/" + url.PathEscape(o.PhoneNumberID)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("whatsapp: building the request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+o.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	c := o.HTTP
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("whatsapp: calling the Graph API: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("whatsapp: reading the Graph API's answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		if ge, ok := meta.ParseGraphError(data); ok {
			return ge
		}
		return fmt.Errorf("whatsapp: the Graph API answered %s", resp.Status)
	}
	var ok struct {
		Success bool `json:"success"`
	}
	if json.Unmarshal(data, &ok) != nil || !ok.Success {
		return errors.New("whatsapp: the Graph API did not answer {\"success\": true}")
	}
	return nil
}
