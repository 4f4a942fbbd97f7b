package sandbox

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
)

// This file holds what the Graph API channels (WhatsApp today, Messenger
// and Instagram later) share: error bodies, bearer tokens, ids.

// graphError writes a Graph API error response {"error": {...}}.
func graphError(w http.ResponseWriter, status int, e meta.GraphError, retryAfter time.Duration) {
	if e.FBTraceID == "" {
		e.FBTraceID = randomID(12)
	}
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
	}
	writeJSON(w, status, meta.GraphErrorBody{Error: &e})
}

// checkBearer enforces the Authorization header: present and, when the
// account has a configured token, equal to it. It writes the 401 (Graph
// code 190) itself and reports false.
func (s *Server) checkBearer(w http.ResponseWriter, r *http.Request, account string) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	tok = strings.TrimSpace(tok)
	if !ok || tok == "" {
		graphError(w, http.StatusUnauthorized, meta.GraphError{
			Message: "Invalid OAuth access token - Cannot parse access token", Type: "OAuthException", Code: 190}, 0)
		return false
	}
	if want, ok := s.opts.Tokens[account]; ok && subtle.ConstantTimeCompare([]byte(tok), []byte(want)) != 1 {
		graphError(w, http.StatusUnauthorized, meta.GraphError{
			Message: "Invalid OAuth access token.", Type: "OAuthException", Code: 190}, 0)
		return false
	}
	return true
}

var idCounter atomic.Uint64

// randomID is a unique, URL-safe-looking id of about n bytes: a counter
// (unique within the process) and random bytes (unique across restarts).
func randomID(n int) string {
	if n < 12 {
		n = 12
	}
	b := make([]byte, n)
	binary.BigEndian.PutUint64(b, idCounter.Add(1))
	_, _ = rand.Read(b[8:])
	return base64.RawURLEncoding.EncodeToString(b)
}

// fault resolution shared by the Graph channels.

// faultHeader is the per-request fault injection header.
const faultHeader = "X-Sandbox-Fault"

// pickFault returns the fault code to apply to one valid send, if any: the
// X-Sandbox-Fault header first, then the registered faults, then the
// random failure rate. bad reports an unreadable header.
func (s *Server) pickFault(r *http.Request, channel, to string) (code int, ok, bad bool) {
	if v := strings.TrimSpace(r.Header.Get(faultHeader)); v != "" {
		c, err := strconv.Atoi(v)
		if err != nil || c == 0 {
			return 0, false, true
		}
		return c, true, false
	}
	if c, ok := s.faults.take(channel, to); ok {
		return c, true, false
	}
	if c, ok := s.randomFault(); ok {
		return c, true, false
	}
	return 0, false, false
}
