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
	"github.com/chatflow-dev/chatflow/runtime/model"
)

// eventLog writes the execution events of spec.logging as JSON lines. Contact
// ids are replaced by a keyed hash (hashContact) so the log can be shipped
// to shared log storage without personal data; effects carry no secret
// (header values from Secrets never enter a session, model keys are read
// at each call), and URLs reach it without their query string, so nothing
// secret can reach it. What contacts wrote reaches it only in a model
// call's prompt, and only when spec.logging.modelText asks for it.
type eventLog struct {
	enabled  bool
	flow     string
	revision string
	hash     func(contact string) string
	// modelText adds the prompts and answers of model calls
	// (spec.logging.modelText); without it a model call's line has its
	// outcome, latency and token counts only.
	modelText bool

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

	// A model call's details (event model_called).
	Model            string              `json:"model,omitempty"`
	Result           string              `json:"result,omitempty"`
	Attempts         int                 `json:"attempts,omitempty"`
	PromptTokens     int                 `json:"promptTokens,omitempty"`
	CompletionTokens int                 `json:"completionTokens,omitempty"`
	Prompt           []flow.ModelMessage `json:"prompt,omitempty"`
	Answer           string              `json:"answer,omitempty"`
	Refusal          string              `json:"refusal,omitempty"`
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
	l.encode(&line)
}

func (l *eventLog) encode(line *logLine) {
	l.mu.Lock()
	_ = l.enc.Encode(line)
	l.mu.Unlock()
}

// modelCall writes the line of a model call: the node, model, result,
// attempts, tokens and latency, and the error; the prompt, the answer and
// a refusal only when the flow's logging asks for the model's text.
func (l *eventLog) modelCall(runID, contact string, call *flow.ModelCall, resp model.Response, errText, result string, latency time.Duration) {
	if !l.enabled {
		return
	}
	line := logLine{
		Flow: l.flow, Revision: l.revision, Contact: l.hash(contact),
		EventView: EventView{Time: time.Now().UTC(), RunID: runID, Event: logModelCall, NodeID: call.NodeID, NodeType: string(call.NodeType),
			Message: errText, LatencyMS: float64(latency.Microseconds()) / 1000},
		Model: call.Model, Result: result, Attempts: resp.Attempts,
		PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens,
	}
	if l.modelText {
		line.Prompt, line.Answer, line.Refusal = call.Messages, resp.Content, resp.Refusal
	}
	l.encode(&line)
}
