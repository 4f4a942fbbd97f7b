package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
)

// numberAPI is the WhatsApp Cloud API's phone number node, for Meta's
// webhook overrides: POST /{version}/{phone_number_id} with
// {"webhook_configuration": {"override_callback_uri", "verify_token"}}
// sets the number's alternate callback URL ("" removes it) and answers
// {"success": true}; GET /{version}/{phone_number_id}?fields=webhook_configuration
// reads it back. Errors, as Graph gives them: 190 for a missing or wrong
// token (401); 100 for a missing webhook_configuration, a URL longer than
// 200 characters, not https (the sandbox also takes http on loopback, for
// local gateways) or without a verify token (400); 2200 when Meta's GET
// handshake to the URL fails (400, with Options.MetaCallback); and any
// fault injected for the number.
type numberAPI struct {
	s *Server

	mu        sync.Mutex
	overrides map[string]string // phone number id → override callback URL
}

func (*numberAPI) name() string { return "whatsapp" }

func (*numberAPI) route(segs []string) (string, bool) {
	if len(segs) == 2 && graphVersion.MatchString(segs[0]) {
		segs = segs[1:]
	}
	if len(segs) != 1 || segs[0] == "" || segs[0] == "me" || segs[0] == "sandbox" || graphVersion.MatchString(segs[0]) {
		return "", false
	}
	return segs[0], true
}

func (a *numberAPI) serve(w http.ResponseWriter, r *http.Request, account string) {
	switch r.Method {
	case http.MethodGet:
		if !a.s.checkBearer(w, r, account) {
			return
		}
		a.mu.Lock()
		cfg := map[string]string{}
		if u := a.overrides[account]; u != "" {
			cfg["phone_number"] = u
		}
		a.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"webhook_configuration": cfg, "id": account})
	case http.MethodPost:
		if a.s.checkBearer(w, r, account) {
			a.setOverride(w, r, account)
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		graphError(w, http.StatusMethodNotAllowed, meta.GraphError{
			Message: "Unsupported request - method type: " + strings.ToLower(r.Method), Type: "GraphMethodException", Code: 100}, 0)
	}
}

func (a *numberAPI) setOverride(w http.ResponseWriter, r *http.Request, account string) {
	body, err := channel.ReadBody(r, a.s.opts.MaxBody)
	if err != nil {
		graphError(w, channel.HTTPStatus(err), invalidParameter(err.Error()), 0)
		return
	}
	var req struct {
		Config *struct {
			URL         *string `json:"override_callback_uri"`
			VerifyToken string  `json:"verify_token"`
		} `json:"webhook_configuration"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Config == nil || req.Config.URL == nil {
		graphError(w, http.StatusBadRequest, invalidParameter("webhook_configuration.override_callback_uri is required"), 0)
		return
	}
	callback := *req.Config.URL
	if callback != "" {
		if msg := checkCallbackURL(callback); msg != "" {
			graphError(w, http.StatusBadRequest, invalidParameter(msg), 0)
			return
		}
		if req.Config.VerifyToken == "" {
			graphError(w, http.StatusBadRequest, invalidParameter("webhook_configuration.verify_token is required with override_callback_uri"), 0)
			return
		}
	}
	code, ok, bad := a.s.pickFault(r, "whatsapp", account)
	if bad {
		graphError(w, http.StatusBadRequest, invalidParameter(faultHeader+" must be a non-zero error code"), 0)
		return
	}
	if ok {
		status, ge, _ := whatsappFault(code)
		graphError(w, status, ge, 0)
		return
	}
	hook := Webhook{Channel: "whatsapp", Account: account, URL: callback, ReceivedAt: a.s.opts.Now().UTC()}
	if a.s.opts.MetaCallback && callback != "" {
		if err := metaHandshake(r.Context(), callback, req.Config.VerifyToken); err != nil {
			graphError(w, http.StatusBadRequest, meta.GraphError{
				Message: "(#2200) Callback verification failed with the following errors: " + err.Error() +
					"; Callback URL Provided = " + callback,
				Type: "OAuthException", Code: 2200}, 0)
			return
		}
		hook.Checked = true
	}
	a.mu.Lock()
	a.overrides[account] = callback
	a.mu.Unlock()
	a.s.addWebhook(hook)
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

// checkCallbackURL says what is wrong with an override callback URL, ""
// when nothing is.
func checkCallbackURL(raw string) string {
	if len(raw) > 200 {
		return fmt.Sprintf("override_callback_uri is %d characters; at most 200 are allowed", len(raw))
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "override_callback_uri is not a valid URL"
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
			return "" // a local gateway; Meta itself takes https only
		}
	}
	return "override_callback_uri must be an https URL"
}

// metaHandshake is Meta's verification of a callback URL: a GET with
// hub.mode=subscribe, hub.verify_token and a hub.challenge that must come
// back as the body of a 200.
func metaHandshake(ctx context.Context, callback, token string) error {
	challenge := fmt.Sprintf("%d", time.Now().UnixNano()%1_000_000_000)
	q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {token}, "hub.challenge": {challenge}}
	sep := "?"
	if strings.Contains(callback, "?") {
		sep = "&"
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, callback+sep+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("the URL could not be reached (%v)", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || string(body) != challenge {
		return fmt.Errorf("HTTP Status Code = %d; Response Body = %s; the challenge was not returned", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}
