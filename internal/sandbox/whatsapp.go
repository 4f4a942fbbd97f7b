package sandbox

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
)

// whatsappAPI is the WhatsApp Cloud API send contract:
// POST /{version}/{phone_number_id}/messages and
// POST /{phone_number_id}/messages.
type whatsappAPI struct{ s *Server }

func (*whatsappAPI) name() string { return "whatsapp" }

var graphVersion = regexp.MustCompile(`^v[0-9]+(\.[0-9]+)?$`)

func (*whatsappAPI) route(segs []string) (string, bool) {
	switch {
	case len(segs) == 3 && graphVersion.MatchString(segs[0]) && segs[2] == "messages":
		segs = segs[1:]
	case len(segs) == 2 && segs[1] == "messages":
	default:
		return "", false
	}
	// "me" is Messenger's /me/messages, not a phone number id.
	if segs[0] == "" || segs[0] == "me" {
		return "", false
	}
	return segs[0], true
}

func (a *whatsappAPI) serve(w http.ResponseWriter, r *http.Request, account string) {
	// /{version}/{page_id}/messages has this shape too: a Send API body is
	// Messenger's.
	if a.s.messenger.claims(r) {
		a.s.messenger.serve(w, r, account)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		graphError(w, http.StatusMethodNotAllowed, meta.GraphError{
			Message: "Unsupported request - method type: " + strings.ToLower(r.Method), Type: "GraphMethodException", Code: 100}, 0)
		return
	}
	if !a.s.checkBearer(w, r, account) {
		return
	}
	body, err := channel.ReadBody(r, a.s.opts.MaxBody)
	if err != nil {
		status := channel.HTTPStatus(err)
		graphError(w, status, invalidParameter(err.Error()), 0)
		return
	}
	if read, ok, err := markRead(body); ok {
		// A status update, not a message: the inbound message is read
		// and, with typing_indicator, the contact sees "typing…".
		if err != nil {
			graphError(w, http.StatusBadRequest, invalidParameter(err.Error()), 0)
			return
		}
		if a.fault(w, r, "") {
			return
		}
		a.s.store.add(Record{
			Channel: a.name(), Kind: KindRead, Account: account, MessageID: read,
			Body: json.RawMessage(body), ReceivedAt: a.s.opts.Now().UTC(),
		})
		writeJSON(w, http.StatusOK, map[string]bool{"success": true})
		return
	}
	to, err := validateWhatsApp(body)
	if err != nil {
		graphError(w, http.StatusBadRequest, invalidParameter(err.Error()), 0)
		return
	}
	if a.fault(w, r, to) {
		return
	}
	wamid := newWAMID()
	a.s.store.add(Record{
		Channel: a.name(), Account: account, To: to, MessageID: wamid,
		Body: json.RawMessage(body), ReceivedAt: a.s.opts.Now().UTC(),
	})
	// The documented success shape (send_response.json).
	writeJSON(w, http.StatusOK, map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []map[string]string{{"input": to, "wa_id": normalizeTo(to)}},
		"messages":          []map[string]string{{"id": wamid}},
	})
}

// markRead reads a mark-as-read request (Cloud API "typing indicators":
// POST /{phone_number_id}/messages with {"messaging_product": "whatsapp",
// "status": "read", "message_id": <wamid>} and optionally
// "typing_indicator": {"type": "text"}). ok says the body is one; err what
// is wrong with it.
func markRead(body []byte) (messageID string, ok bool, err error) {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil || str(m["status"]) != "read" {
		return "", false, nil
	}
	if str(m["messaging_product"]) != "whatsapp" {
		return "", true, errors.New(`messaging_product must be "whatsapp"`)
	}
	messageID = str(m["message_id"])
	if messageID == "" {
		return "", true, errors.New("the parameter message_id is required")
	}
	if ti, has := m["typing_indicator"]; has {
		var t struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(ti, &t) != nil || t.Type != "text" {
			return "", true, errors.New(`typing_indicator.type must be "text"`)
		}
	}
	return messageID, true, nil
}

// fault answers the fault of one valid request to, if any, and reports
// whether it did.
func (a *whatsappAPI) fault(w http.ResponseWriter, r *http.Request, to string) bool {
	code, ok, bad := a.s.pickFault(r, a.name(), to)
	if bad {
		graphError(w, http.StatusBadRequest, invalidParameter(faultHeader+" must be a non-zero error code"), 0)
		return true
	}
	if !ok {
		return false
	}
	status, ge, rateLimited := whatsappFault(code)
	var retryAfter time.Duration
	if rateLimited {
		retryAfter = a.s.opts.RetryAfter
	}
	graphError(w, status, ge, retryAfter)
	return true
}

// newWAMID is a fresh message id shaped like Meta's ("wamid." + base64).
func newWAMID() string {
	b := make([]byte, 30)
	binary.BigEndian.PutUint64(b, idCounter.Add(1))
	_, _ = rand.Read(b[8:])
	return "wamid." + base64.StdEncoding.EncodeToString(b)
}

func invalidParameter(details string) meta.GraphError {
	return meta.GraphError{
		Message: "(#100) Invalid parameter", Type: "OAuthException", Code: 100,
		ErrorData: &meta.ErrorData{MessagingProduct: "whatsapp", Details: details},
	}
}

// whatsappFault is the response of an injected fault: HTTP status, Graph
// error and whether to send Retry-After. Messages follow Meta's error-code
// table; the HTTP statuses are those reported for them (Meta advises
// keying on the code, not the status).
func whatsappFault(code int) (int, meta.GraphError, bool) {
	ge := func(msg, details string) meta.GraphError {
		e := meta.GraphError{Message: fmt.Sprintf("(#%d) %s", code, msg), Type: "OAuthException", Code: code}
		if details != "" {
			e.ErrorData = &meta.ErrorData{MessagingProduct: "whatsapp", Details: details}
		}
		return e
	}
	switch {
	case code == 130429:
		return http.StatusTooManyRequests, ge("Rate limit hit",
			"Message failed to send because there were too many messages sent from this phone number in a short period of time"), true
	case code == 131056:
		return http.StatusTooManyRequests, ge("(Business Account, Consumer Account) pair rate limit hit",
			"Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time"), false
	case code == 131047:
		return http.StatusBadRequest, ge("Re-engagement message",
			"Message failed to send because more than 24 hours have passed since the customer last replied to this number."), false
	case code == 131026:
		return http.StatusBadRequest, ge("Message Undeliverable", "Unable to deliver message."), false
	case code == 131051:
		return http.StatusBadRequest, ge("Unsupported message type", "Message type is not currently supported."), false
	case code == 131000:
		return http.StatusInternalServerError, ge("Something went wrong", "Message failed to send due to an unknown error."), false
	case code == 131016:
		return http.StatusServiceUnavailable, ge("Service unavailable", "A service is temporarily unavailable."), false
	case code == 4:
		return http.StatusTooManyRequests, ge("Application request limit reached", ""), false
	case code == 190:
		return http.StatusUnauthorized, ge("Invalid OAuth access token.", ""), false
	case code == 10 || code == 368 || (code >= 200 && code <= 299):
		return http.StatusForbidden, ge("Permission denied", ""), false
	case code >= 500 && code <= 599:
		// A bare server error: Graph's generic unknown error.
		e := meta.GraphError{Message: "An unknown error has occurred.", Type: "OAuthException", Code: 1, IsTransient: true}
		return code, e, false
	default:
		return http.StatusBadRequest, ge("Sandbox injected error", ""), false
	}
}

// whatsappTypes are the message types the Cloud API accepts, with the
// check of their object.
var whatsappTypes = map[string]func(obj json.RawMessage) error{
	"text":        checkText,
	"image":       checkMedia,
	"video":       checkMedia,
	"audio":       checkMedia,
	"document":    checkMedia,
	"sticker":     checkMedia,
	"interactive": checkInteractive,
	"template":    checkTemplate,
	"location":    checkLocation,
	"reaction":    checkReaction,
	"contacts":    checkContacts,
}

// validateWhatsApp checks a send body the way the Cloud API's parameter
// validation would (messaging_product, to, a known type and its object)
// and returns the recipient.
func validateWhatsApp(body []byte) (string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return "", errors.New("the request body is not a JSON object")
	}
	if str(m["messaging_product"]) != "whatsapp" {
		return "", errors.New(`messaging_product must be "whatsapp"`)
	}
	to := str(m["to"])
	if to == "" {
		to = str(m["recipient"]) // a business-scoped user id
	}
	if to == "" {
		return "", errors.New("the parameter to is required")
	}
	if rt, ok := m["recipient_type"]; ok && str(rt) != "individual" {
		return "", errors.New(`recipient_type must be "individual"`)
	}
	typ := str(m["type"])
	check, known := whatsappTypes[typ]
	if !known {
		return "", fmt.Errorf("type %q is not a supported message type", typ)
	}
	obj, ok := m[typ]
	if !ok {
		return "", fmt.Errorf("the parameter %s is required for type %s", typ, typ)
	}
	if err := check(obj); err != nil {
		return "", fmt.Errorf("%s: %w", typ, err)
	}
	return to, nil
}

// str is a JSON string's value, or "" for anything else.
func str(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

func object(raw json.RawMessage) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, errors.New("must be a JSON object")
	}
	return m, nil
}

func checkText(raw json.RawMessage) error {
	m, err := object(raw)
	if err != nil {
		return err
	}
	if str(m["body"]) == "" {
		return errors.New("body is required")
	}
	return nil
}

func checkMedia(raw json.RawMessage) error {
	m, err := object(raw)
	if err != nil {
		return err
	}
	if str(m["link"]) == "" && str(m["id"]) == "" {
		return errors.New("link or id is required")
	}
	return nil
}

func checkInteractive(raw json.RawMessage) error {
	m, err := object(raw)
	if err != nil {
		return err
	}
	action, err := object(m["action"])
	if err != nil {
		return errors.New("action " + err.Error())
	}
	switch t := str(m["type"]); t {
	case "button":
		var buttons []json.RawMessage
		if json.Unmarshal(action["buttons"], &buttons) != nil || len(buttons) < 1 || len(buttons) > 3 {
			return errors.New("action.buttons must hold 1 to 3 buttons")
		}
	case "list":
		var sections []json.RawMessage
		if str(action["button"]) == "" || json.Unmarshal(action["sections"], &sections) != nil || len(sections) == 0 {
			return errors.New("action.button and action.sections are required")
		}
	case "cta_url", "flow", "product", "product_list", "catalog_message", "location_request_message", "address_message":
	default:
		return fmt.Errorf("interactive type %q is not supported", t)
	}
	return nil
}

func checkTemplate(raw json.RawMessage) error {
	m, err := object(raw)
	if err != nil {
		return err
	}
	lang, err := object(m["language"])
	if str(m["name"]) == "" || err != nil || str(lang["code"]) == "" {
		return errors.New("name and language.code are required")
	}
	return nil
}

func checkLocation(raw json.RawMessage) error {
	var l struct{ Latitude, Longitude *float64 }
	if json.Unmarshal(raw, &l) != nil || l.Latitude == nil || l.Longitude == nil {
		return errors.New("latitude and longitude are required")
	}
	return nil
}

func checkReaction(raw json.RawMessage) error {
	m, err := object(raw)
	if err != nil {
		return err
	}
	if str(m["message_id"]) == "" {
		return errors.New("message_id is required")
	}
	return nil
}

func checkContacts(raw json.RawMessage) error {
	var cs []json.RawMessage
	if json.Unmarshal(bytes.TrimSpace(raw), &cs) != nil || len(cs) == 0 {
		return errors.New("must be a non-empty array")
	}
	return nil
}
