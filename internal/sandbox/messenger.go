package sandbox

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
)

// messengerAPI is the Messenger Platform Send API contract, which
// Instagram Messaging shares: POST /{version}/me/messages, /me/messages,
// and POST /{version}/{page_id}/messages, /{page_id}/messages. The last
// two have the shape of WhatsApp's path, so whatsappAPI hands over the
// requests whose body is a Send API body (a recipient object, no
// messaging_product). The access token comes as the access_token query
// parameter (Meta's samples) or a bearer header; for /me/messages the
// account is the one whose configured token it is.
//
// Sends from the accounts listed in Options.Instagram are recorded under
// the channel "instagram" and checked against Instagram's limits.
type messengerAPI struct{ s *Server }

func (*messengerAPI) name() string { return "messenger" }

func (*messengerAPI) route(segs []string) (string, bool) {
	switch {
	case len(segs) == 3 && graphVersion.MatchString(segs[0]) && segs[1] == "me" && segs[2] == "messages":
		return "me", true
	case len(segs) == 2 && segs[0] == "me" && segs[1] == "messages":
		return "me", true
	}
	return "", false
}

// claims reports whether a request on a /{id}/messages path is a Send API
// request, by its body; the body is put back for the handler that serves it.
func (a *messengerAPI) claims(r *http.Request) bool {
	if r.Method != http.MethodPost || r.Body == nil {
		return false
	}
	body, err := channel.ReadBody(r, a.s.opts.MaxBody)
	if err != nil {
		return false // whatsappAPI reads it again and answers 413
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return false
	}
	_, wa := m["messaging_product"]
	rcpt := bytes.TrimSpace(m["recipient"])
	return !wa && len(rcpt) > 0 && rcpt[0] == '{'
}

// channelOf is the record channel of an account.
func (a *messengerAPI) channelOf(account string) string {
	if slices.Contains(a.s.opts.Instagram, account) {
		return "instagram"
	}
	return "messenger"
}

func (a *messengerAPI) serve(w http.ResponseWriter, r *http.Request, account string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		graphError(w, http.StatusMethodNotAllowed, meta.GraphError{
			Message: "Unsupported request - method type: " + strings.ToLower(r.Method), Type: "GraphMethodException", Code: 100}, 0)
		return
	}
	account, ok := a.authorize(w, r, account)
	if !ok {
		return
	}
	body, err := channel.ReadBody(r, a.s.opts.MaxBody)
	if err != nil {
		graphError(w, channel.HTTPStatus(err), messengerInvalid(err.Error(), 0), 0)
		return
	}
	ch := a.channelOf(account)
	to, ge := validateMessenger(body, ch == "instagram")
	if ge != nil {
		graphError(w, http.StatusBadRequest, *ge, 0)
		return
	}
	code, ok, bad := a.s.pickFault(r, ch, to)
	if bad {
		graphError(w, http.StatusBadRequest, messengerInvalid(faultHeader+" must be a non-zero error code", 0), 0)
		return
	}
	if ok {
		status, e, rateLimited := messengerFault(code)
		var retryAfter time.Duration
		if rateLimited {
			retryAfter = a.s.opts.RetryAfter
		}
		graphError(w, status, e, retryAfter)
		return
	}
	mid := "m_" + randomID(32)
	a.s.store.add(Record{
		Channel: ch, Account: account, To: to, MessageID: mid,
		Body: json.RawMessage(body), ReceivedAt: a.s.opts.Now().UTC(),
	})
	// The documented success shape (send_response.json).
	writeJSON(w, http.StatusOK, map[string]string{"recipient_id": to, "message_id": mid})
}

// authorize checks the access token (access_token query parameter or
// bearer header) and resolves "me" to the account it belongs to.
func (a *messengerAPI) authorize(w http.ResponseWriter, r *http.Request, account string) (string, bool) {
	tok := r.URL.Query().Get("access_token")
	if tok == "" {
		tok, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		graphError(w, http.StatusBadRequest, meta.GraphError{
			Message: "An active access token must be used to query information about the current user.", Type: "OAuthException", Code: 2500}, 0)
		return "", false
	}
	if account == "me" {
		for acc, want := range a.s.opts.Tokens {
			if subtle.ConstantTimeCompare([]byte(tok), []byte(want)) == 1 {
				return acc, true
			}
		}
		return account, true
	}
	if want, ok := a.s.opts.Tokens[account]; ok && subtle.ConstantTimeCompare([]byte(tok), []byte(want)) != 1 {
		graphError(w, http.StatusUnauthorized, meta.GraphError{
			Message: "Invalid OAuth access token.", Type: "OAuthException", Code: 190}, 0)
		return "", false
	}
	return account, true
}

func messengerInvalid(msg string, subcode int) meta.GraphError {
	return meta.GraphError{Message: "(#100) " + msg, Type: "OAuthException", Code: 100, ErrorSubcode: subcode}
}

// messengerFault is the response of an injected fault: HTTP status, Graph
// error and whether to send Retry-After. Messages follow the Graph
// Page-Messages and Messenger error tables.
func messengerFault(code int) (int, meta.GraphError, bool) {
	e := func(msg string, subcode int) meta.GraphError {
		return meta.GraphError{Message: fmt.Sprintf("(#%d) %s", code, msg), Type: "OAuthException", Code: code, ErrorSubcode: subcode}
	}
	switch {
	case code == 613:
		return http.StatusTooManyRequests, e("Calls to this api have exceeded the rate limit", 0), true
	case code == 4:
		return http.StatusTooManyRequests, e("Application request limit reached", 0), true
	case code == 10:
		return http.StatusBadRequest, e("This message is sent outside of allowed window.", 2018278), false
	case code == 100:
		return http.StatusBadRequest, e("No matching user found", 2018001), false
	case code == 551:
		return http.StatusBadRequest, e("This person isn't available right now.", 0), false
	case code == 1200:
		return http.StatusInternalServerError, e("Temporary send message failure. Please try again later.", 0), false
	case code == 2:
		ge := e("An unexpected error has occurred. Please retry your request later.", 0)
		ge.IsTransient = true
		return http.StatusServiceUnavailable, ge, false
	case code == 190:
		return http.StatusUnauthorized, e("Invalid OAuth 2.0 Access Token", 0), false
	case code == 368:
		return http.StatusForbidden, e("The action attempted has been deemed abusive or is otherwise disallowed", 0), false
	case code == 230 || (code >= 200 && code <= 299):
		return http.StatusForbidden, e("Permissions error", 0), false
	case code >= 500 && code <= 599:
		return code, meta.GraphError{Message: "An unknown error has occurred.", Type: "OAuthException", Code: 1, IsTransient: true}, false
	default:
		return http.StatusBadRequest, e("Sandbox injected error", 0), false
	}
}

// Send API limits (Meta's Send API and quick-reply references).
const (
	messengerTextLimit = 2000 // "less than 2000 characters"
	instagramTextLimit = 1000 // "must be less than 1000 characters"
	maxQuickReplies    = 13
	maxQuickReplyTitle = 20
	maxPayload         = 1000
	maxTemplateButtons = 3
)

// retiredTags are refused with code 100 since 2026-04-27.
var retiredTags = []string{"CONFIRMED_EVENT_UPDATE", "ACCOUNT_UPDATE", "POST_PURCHASE_UPDATE"}

// validateMessenger checks a Send API body and returns the recipient id,
// or the Graph error Meta would answer.
func validateMessenger(body []byte, instagram bool) (string, *meta.GraphError) {
	bad := func(format string, args ...any) (string, *meta.GraphError) {
		e := messengerInvalid(fmt.Sprintf(format, args...), 0)
		return "", &e
	}
	var req struct {
		Recipient *struct {
			ID string `json:"id"`
		} `json:"recipient"`
		MessagingType string          `json:"messaging_type"`
		Tag           string          `json:"tag"`
		Message       json.RawMessage `json:"message"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return bad("the request body is not a Send API JSON object: %v", err)
	}
	if req.Recipient == nil || req.Recipient.ID == "" {
		return bad("param recipient[id] must be non-empty")
	}
	switch req.MessagingType {
	case "RESPONSE", "UPDATE":
		if req.Tag != "" {
			return bad("tag is only allowed with messaging_type MESSAGE_TAG")
		}
	case "MESSAGE_TAG":
		switch {
		case req.Tag == "":
			return bad("param tag is required with messaging_type MESSAGE_TAG")
		case slices.Contains(retiredTags, req.Tag):
			return bad("message tag %s is no longer supported", req.Tag)
		case instagram && req.Tag != "HUMAN_AGENT":
			return bad("message tag %s is not available for Instagram Messaging", req.Tag)
		case req.Tag != "HUMAN_AGENT" && req.Tag != "CUSTOMER_FEEDBACK":
			return bad("param tag must be a valid message tag")
		}
	default:
		return bad("param messaging_type must be one of RESPONSE, UPDATE, MESSAGE_TAG")
	}
	if err := checkMessengerMessage(req.Message, instagram); err != nil {
		return bad("%v", err)
	}
	return req.Recipient.ID, nil
}

func checkMessengerMessage(raw json.RawMessage, instagram bool) error {
	var m struct {
		Text       *string `json:"text"`
		Attachment *struct {
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		} `json:"attachment"`
		QuickReplies []struct {
			ContentType string           `json:"content_type"`
			Title       string           `json:"title"`
			Payload     *json.RawMessage `json:"payload"`
		} `json:"quick_replies"`
	}
	if err := json.Unmarshal(raw, &m); err != nil || len(bytes.TrimSpace(raw)) == 0 || bytes.TrimSpace(raw)[0] != '{' {
		return errors.New("param message must be a JSON object")
	}
	switch {
	case (m.Text == nil) == (m.Attachment == nil):
		return errors.New("param message must have exactly one of text and attachment")
	case m.Text != nil:
		limit := messengerTextLimit
		if instagram {
			limit = instagramTextLimit
		}
		if *m.Text == "" {
			return errors.New("param message[text] must be non-empty")
		}
		if n := utf8.RuneCountInString(*m.Text); n >= limit {
			return fmt.Errorf("param message[text] must be UTF-8 and less than %d characters, not %d", limit, n)
		}
	default:
		if err := checkAttachment(m.Attachment.Type, m.Attachment.Payload); err != nil {
			return err
		}
	}
	if len(m.QuickReplies) > maxQuickReplies {
		return fmt.Errorf("param message[quick_replies] must have at most %d elements", maxQuickReplies)
	}
	for i, q := range m.QuickReplies {
		switch q.ContentType {
		case "text":
			if q.Title == "" || q.Payload == nil {
				return fmt.Errorf("param message[quick_replies][%d] needs a title and a payload", i)
			}
			if utf8.RuneCountInString(q.Title) > maxQuickReplyTitle {
				return fmt.Errorf("param message[quick_replies][%d][title] must be at most %d characters", i, maxQuickReplyTitle)
			}
			var p string
			if json.Unmarshal(*q.Payload, &p) != nil || utf8.RuneCountInString(p) > maxPayload {
				return fmt.Errorf("param message[quick_replies][%d][payload] must be a string of at most %d characters", i, maxPayload)
			}
		case "user_phone_number", "user_email":
		default:
			return fmt.Errorf("param message[quick_replies][%d][content_type] must be text, user_phone_number or user_email", i)
		}
	}
	return nil
}

func checkAttachment(typ string, raw json.RawMessage) error {
	var p struct {
		URL          string `json:"url"`
		AttachmentID string `json:"attachment_id"`
		TemplateType string `json:"template_type"`
		Text         string `json:"text"`
		Buttons      []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Payload string `json:"payload"`
			URL     string `json:"url"`
		} `json:"buttons"`
	}
	if json.Unmarshal(raw, &p) != nil {
		return errors.New("param message[attachment][payload] must be a JSON object")
	}
	switch typ {
	case "image", "video", "audio", "file":
		if p.URL == "" && p.AttachmentID == "" {
			return errors.New("param message[attachment][payload] needs a url or an attachment_id")
		}
	case "template":
		switch p.TemplateType {
		case "button":
			if p.Text == "" || len(p.Buttons) == 0 || len(p.Buttons) > maxTemplateButtons {
				return fmt.Errorf("a button template needs a text and 1 to %d buttons", maxTemplateButtons)
			}
			for i, b := range p.Buttons {
				switch {
				case b.Title == "":
					return fmt.Errorf("button %d needs a title", i)
				case b.Type == "postback" && b.Payload == "":
					return fmt.Errorf("postback button %d needs a payload", i)
				case b.Type == "web_url" && b.URL == "":
					return fmt.Errorf("web_url button %d needs a url", i)
				case b.Type != "postback" && b.Type != "web_url" && b.Type != "phone_number":
					return fmt.Errorf("button %d has an unsupported type %q", i, b.Type)
				}
			}
		case "generic", "media", "receipt", "customer_feedback":
		default:
			return fmt.Errorf("template_type %q is not supported", p.TemplateType)
		}
	default:
		return fmt.Errorf("attachment type %q is not supported", typ)
	}
	return nil
}
