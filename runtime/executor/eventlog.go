package executor

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/flow"
)

// eventLog writes the execution events of spec.logging as JSON lines. Contact
// ids are hashed so the log can be shipped to shared log storage without
// personal data; effects carry no secret (header values from Secrets never
// enter a session), so nothing secret can reach it.
type eventLog struct {
	enabled  bool
	flow     string
	revision string

	mu  sync.Mutex
	enc *json.Encoder
}

// logLine is one execution event.
type logLine struct {
	Time      time.Time     `json:"time"`
	Flow      string        `json:"flow"`
	Revision  string        `json:"revision"`
	RunID     string        `json:"runId,omitempty"`
	Contact   string        `json:"contact,omitempty"`
	Event     flow.LogEvent `json:"event"`
	NodeID    string        `json:"nodeId,omitempty"`
	NodeType  string        `json:"nodeType,omitempty"`
	Branch    string        `json:"branch,omitempty"`
	Message   string        `json:"message,omitempty"`
	LatencyMS float64       `json:"latencyMs,omitempty"`
}

func newEventLog(w io.Writer, enabled bool, flowName, revision string) *eventLog {
	return &eventLog{enabled: enabled, flow: flowName, revision: revision, enc: json.NewEncoder(w)}
}

// hashContact returns a stable pseudonym of a contact id.
func hashContact(id string) string {
	if id == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("chatflow-contact:" + id))
	return hex.EncodeToString(sum[:8])
}

func (l *eventLog) write(runID, contact string, e flow.Log, latency time.Duration) {
	if !l.enabled {
		return
	}
	line := logLine{
		Time: time.Now().UTC(), Flow: l.flow, Revision: l.revision, RunID: runID,
		Contact: hashContact(contact), Event: e.Event, NodeID: e.NodeID, NodeType: string(e.NodeType),
		Branch: e.Branch, Message: e.Message,
	}
	if latency > 0 {
		line.LatencyMS = float64(latency.Microseconds()) / 1000
	}
	l.mu.Lock()
	_ = l.enc.Encode(line)
	l.mu.Unlock()
}
