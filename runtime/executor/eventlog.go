package executor

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/flow"
)

// eventLog writes the execution events of spec.logging as JSON lines. Contact
// ids are replaced by a keyed hash (hashContact) so the log can be shipped
// to shared log storage without personal data; effects carry no secret
// (header values from Secrets never enter a session), and URLs reach it
// without their query string, so nothing secret can reach it.
type eventLog struct {
	enabled  bool
	flow     string
	revision string
	hash     func(contact string) string

	mu  sync.Mutex
	enc *json.Encoder
}

// logLine is one execution event of the log: the event as the inspector
// keeps it (EventView), with the flow, its revision and the contact's
// pseudonym.
type logLine struct {
	Flow     string `json:"flow"`
	Revision string `json:"revision"`
	Contact  string `json:"contact,omitempty"`
	EventView
}

func newEventLog(w io.Writer, enabled bool, flowName, revision string, hash func(string) string) *eventLog {
	return &eventLog{enabled: enabled, flow: flowName, revision: revision, hash: hash, enc: json.NewEncoder(w)}
}

// hashContact returns the pseudonym of a contact id in logs: HMAC-SHA256
// keyed by the installation's contact hash key, so that whoever reads the
// logs cannot tell a phone number by hashing candidates; without a key
// (development) a plain SHA-256, the same everywhere.
func (e *Executor) hashContact(id string) string {
	if id == "" {
		return ""
	}
	if len(e.contactKey) == 0 {
		sum := sha256.Sum256([]byte("chatflow-contact:" + id))
		return hex.EncodeToString(sum[:8])
	}
	m := hmac.New(sha256.New, e.contactKey)
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

func (l *eventLog) write(runID, contact string, e flow.Log, latency time.Duration) {
	if !l.enabled {
		return
	}
	line := logLine{Flow: l.flow, Revision: l.revision, Contact: l.hash(contact),
		EventView: newEventView(time.Now(), runID, &e, latency)}
	l.mu.Lock()
	_ = l.enc.Encode(line)
	l.mu.Unlock()
}
