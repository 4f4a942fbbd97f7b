package sandbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/chatflow-dev/chatflow/runtime/channel"
)

// viberAPI is the Viber REST Bot API contract: POST /pa/send_message and
// POST /pa/set_webhook, authenticated by the X-Viber-Auth-Token header.
// Viber answers errors with HTTP 200 and a non-zero "status" (its
// errors.md codes); only server faults (5xx) change the HTTP status. The
// bot is the account whose configured token (Options.Tokens) the request
// carries; an unknown token is accepted as the bot "viber".
type viberAPI struct {
	s *Server
}

// Webhook is a callback registration the sandbox accepted: a Viber
// set_webhook, or a WhatsApp number's override callback.
type Webhook struct {
	// Channel is "viber" or "whatsapp".
	Channel string `json:"channel"`
	// Account is the bot the token belongs to, or the phone number id.
	Account string `json:"account"`
	// URL registered ("" removes the webhook).
	URL string `json:"url"`
	// EventTypes requested (nil: all).
	EventTypes []string `json:"eventTypes,omitempty"`
	// Checked says the sandbox called the URL back and it passed: Viber's
	// signed "webhook" event got 200 (Options.ViberCallback), or Meta's
	// GET handshake echoed the challenge (Options.MetaCallback).
	Checked bool `json:"checked"`
	// ReceivedAt is when the sandbox accepted it.
	ReceivedAt time.Time `json:"receivedAt"`
}

// viberAuthHeader carries the bot's auth token.
const viberAuthHeader = "X-Viber-Auth-Token"

func (*viberAPI) name() string { return "viber" }

func (*viberAPI) route(segs []string) (string, bool) {
	if len(segs) == 2 && segs[0] == "pa" && (segs[1] == "send_message" || segs[1] == "set_webhook") {
		return segs[1], true
	}
	return "", false
}

// viberStatus names the status codes of Viber's errors.md.
var viberStatus = map[int]string{
	0: "ok", 1: "invalidUrl", 2: "invalidAuthToken", 3: "badData", 4: "missingData",
	5: "receiverNotRegistered", 6: "receiverNotSubscribed", 7: "publicAccountBlocked",
	8: "publicAccountNotFound", 9: "publicAccountSuspended", 10: "webhookNotSet",
	11: "receiverNoSuitableDevice", 12: "Too many requests", 13: "apiVersionNotSupported",
	14: "incompatibleWithVersion", 15: "publicAccountNotAuthorized", 16: "inChatReplyMessageNotAllowed",
	17: "publicAccountIsNotInline", 18: "noPublicChat", 19: "cannotSendBroadcast",
	20: "broadcastNotAllowed", 21: "unsupportedCountry", 22: "paymentUnsupported",
	23: "freeMessagesExceeded", 24: "noBalance",
}

func viberReply(w http.ResponseWriter, status int, msg string) {
	if msg == "" {
		msg = viberStatus[status]
		if msg == "" {
			msg = "generalError"
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": status, "status_message": msg})
}

func (a *viberAPI) serve(w http.ResponseWriter, r *http.Request, endpoint string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"status": 1, "status_message": "method not allowed"})
		return
	}
	tok := strings.TrimSpace(r.Header.Get(viberAuthHeader))
	if tok == "" {
		viberReply(w, 2, "missing_auth_token")
		return
	}
	account := "viber"
	for acc, want := range a.s.opts.Tokens {
		if hmac.Equal([]byte(tok), []byte(want)) {
			account = acc
		}
	}
	body, err := channel.ReadBody(r, a.s.opts.MaxBody)
	if err != nil {
		viberReply(w, 3, err.Error())
		return
	}
	if len(body) > viberMaxJSON {
		viberReply(w, 3, fmt.Sprintf("the JSON is %d bytes, the maximum is 30 KB", len(body)))
		return
	}
	if endpoint == "set_webhook" {
		a.setWebhook(w, r, account, tok, body)
		return
	}
	to, status, msg := validateViber(body)
	if status != 0 {
		viberReply(w, status, msg)
		return
	}
	code, ok, bad := a.s.pickFault(r, a.name(), to)
	if bad {
		viberReply(w, 3, faultHeader+" must be a non-zero error code")
		return
	}
	if ok {
		if code >= 500 && code <= 599 {
			w.WriteHeader(code)
			return
		}
		viberReply(w, code, "")
		return
	}
	token := newViberToken()
	a.s.store.add(Record{
		Channel: a.name(), Account: account, To: to, MessageID: strconv.FormatInt(token, 10),
		Body: json.RawMessage(body), ReceivedAt: a.s.opts.Now().UTC(),
	})
	// The documented success shape (send_message_response.json).
	writeJSON(w, http.StatusOK, map[string]any{
		"status": 0, "status_message": "ok", "message_token": token,
		"chat_hostname": "SN-CHAT-01_", "billing_status": 0,
	})
}

// viberMaxJSON is send_message's "Max JSON size 30 KB".
const viberMaxJSON = 30 << 10

// viberTokens start above 2^53 so that a client decoding message_token
// into a float64 is caught.
var viberTokens atomic.Int64

func newViberToken() int64 { return 5_000_000_000_000_000_000 + viberTokens.Add(1) }

// viberTypes are send_message's message types.
var viberTypes = []string{"text", "picture", "video", "file", "contact", "location", "url", "sticker", "rich_media"}

// validateViber checks a send_message body; status is 0 when it is valid.
func validateViber(body []byte) (to string, status int, msg string) {
	var m struct {
		Receiver      string                 `json:"receiver"`
		Type          string                 `json:"type"`
		Text          string                 `json:"text"`
		Media         string                 `json:"media"`
		TrackingData  string                 `json:"tracking_data"`
		MinAPIVersion *json.Number           `json:"min_api_version"`
		Sender        *struct{ Name string } `json:"sender"`
		Keyboard      *struct {
			Type    string            `json:"Type"`
			Buttons []json.RawMessage `json:"Buttons"`
		} `json:"keyboard"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return "", 3, "the body is not a send_message JSON object: " + err.Error()
	}
	switch {
	case m.Receiver == "":
		return "", 4, "receiver is required"
	case m.Sender == nil || m.Sender.Name == "":
		return "", 4, "sender.name is required"
	case utf8.RuneCountInString(m.Sender.Name) > 28:
		return "", 3, "sender.name is longer than 28 characters"
	case !contains(viberTypes, m.Type):
		return "", 3, fmt.Sprintf("type %q is not a message type", m.Type)
	case utf8.RuneCountInString(m.TrackingData) > 4000:
		return "", 3, "tracking_data is longer than 4000 characters"
	}
	if m.MinAPIVersion != nil {
		if v, err := m.MinAPIVersion.Int64(); err != nil || v < 1 {
			return "", 3, "min_api_version must be a positive integer"
		}
	}
	switch m.Type {
	case "text":
		if m.Text == "" {
			return "", 4, "text is required for a text message"
		}
		if utf8.RuneCountInString(m.Text) > 7000 {
			return "", 3, "text is longer than 7000 characters"
		}
	case "picture":
		if m.Media == "" {
			return "", 4, "media is required for a picture message"
		}
	}
	if k := m.Keyboard; k != nil {
		if k.Type != "keyboard" || len(k.Buttons) == 0 {
			return "", 3, `keyboard needs Type "keyboard" and at least one button`
		}
		for i, raw := range k.Buttons {
			var b struct {
				ActionType string          `json:"ActionType"`
				ActionBody string          `json:"ActionBody"`
				Columns    json.RawMessage `json:"Columns"`
			}
			if json.Unmarshal(raw, &b) != nil || b.ActionBody == "" {
				return "", 3, fmt.Sprintf("keyboard button %d needs an ActionBody", i)
			}
			if len(b.Columns) > 0 {
				c, err := strconv.Atoi(strings.Trim(string(b.Columns), `"`))
				if err != nil || c < 1 || c > 6 {
					return "", 3, fmt.Sprintf("keyboard button %d: Columns must be 1 to 6", i)
				}
			}
		}
	}
	return m.Receiver, 0, ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// setWebhook registers a webhook URL. With Options.ViberCallback it calls
// the URL back with a signed {"event":"webhook"} first, as Viber does, and
// answers status 1 (invalidUrl) unless that gets 200.
func (a *viberAPI) setWebhook(w http.ResponseWriter, r *http.Request, account, token string, body []byte) {
	var req struct {
		URL        *string  `json:"url"`
		EventTypes []string `json:"event_types"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		viberReply(w, 3, "the body is not a set_webhook JSON object")
		return
	}
	if req.URL == nil {
		viberReply(w, 4, "url is required")
		return
	}
	if v := strings.TrimSpace(r.Header.Get(faultHeader)); v != "" {
		if code, err := strconv.Atoi(v); err == nil && code != 0 {
			viberReply(w, code, "")
			return
		}
	}
	hook := Webhook{Channel: "viber", Account: account, URL: *req.URL, EventTypes: req.EventTypes, ReceivedAt: a.s.opts.Now().UTC()}
	if a.s.opts.ViberCallback && hook.URL != "" {
		if err := viberCallback(r.Context(), hook.URL, token); err != nil {
			viberReply(w, 1, "invalidUrl: "+err.Error())
			return
		}
		hook.Checked = true
	}
	a.s.addWebhook(hook)
	types := req.EventTypes
	if types == nil {
		types = []string{"delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started"}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": 0, "status_message": "ok", "event_types": types})
}

// viberCallback posts the availability check, signed as every callback.
func viberCallback(ctx context.Context, url, token string) error {
	body := fmt.Sprintf(`{"event":"webhook","timestamp":%d,"message_token":%d}`, time.Now().UnixMilli(), newViberToken())
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte(body))
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Viber-Content-Signature", hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("calling the webhook back: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the webhook answered the check with HTTP %d", resp.StatusCode)
	}
	return nil
}

// Webhooks returns the callback registrations accepted so far: Viber's
// set_webhook and WhatsApp's number overrides, in order.
func (s *Server) Webhooks() []Webhook {
	s.hooksMu.Lock()
	defer s.hooksMu.Unlock()
	return append([]Webhook(nil), s.hooks...)
}

// addWebhook records a registration; the oldest go beyond MaxRecords.
func (s *Server) addWebhook(h Webhook) {
	s.hooksMu.Lock()
	defer s.hooksMu.Unlock()
	if len(s.hooks) >= s.opts.MaxRecords {
		s.hooks = s.hooks[1:]
	}
	s.hooks = append(s.hooks, h)
}
