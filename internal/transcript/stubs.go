package transcript

import (
	"encoding/json"
	"fmt"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/flow"
)

// Stubs answers a flow's HTTP calls and model calls the way `chatflow test`
// does: from the responses stubbed per node id (http: and ai:), each
// node's in turn, the last one repeating. Tests layer their own stubs over the file's; `chatflow chat`
// answers a local conversation's calls from a test file's; the repository's
// executor replay serves them from a loopback server. Not safe for
// concurrent use.
type Stubs struct {
	layers []map[string]Responses   // first match wins
	ai     []map[string]AIResponses // the same for AI nodes
	used   map[string]int           // responses used per node
}

// NewStubs answers HTTP calls from the layers, the first that stubs a node
// winning.
func NewStubs(layers ...map[string]Responses) *Stubs {
	return &Stubs{layers: layers, used: map[string]int{}}
}

// WithAI adds layers of AI stubs, the first that stubs a node winning.
func (s *Stubs) WithAI(layers ...map[string]AIResponses) *Stubs {
	s.ai = append(s.ai, layers...)
	return s
}

// FileStubs answers from the file's http: and ai: sections.
func (f *File) FileStubs() *Stubs { return NewStubs(f.HTTP).WithAI(f.AI) }

// TestStubs answers from the test's stubs, then the file's.
func (f *File) TestStubs(t *Test) *Stubs { return NewStubs(t.HTTP, f.HTTP).WithAI(t.AI, f.AI) }

// aiOf is the AI stubs of a node.
func (s *Stubs) aiOf(node string) AIResponses {
	for _, l := range s.ai {
		if r, ok := l[node]; ok {
			return r
		}
	}
	return nil
}

// HasAI says whether an AI node has stubbed answers.
func (s *Stubs) HasAI(node string) bool { return len(s.aiOf(node)) > 0 }

// RespondModel answers a model call with the node's next stubbed answer,
// as the endpoint's content would read: a label becomes {"label",
// "confidence"}, json its compact JSON text. The error says what to add
// when the node has no stub.
func (s *Stubs) RespondModel(c flow.ModelCall) (flow.ModelResult, error) {
	rs := s.aiOf(c.NodeID)
	if len(rs) == 0 {
		return flow.ModelResult{EffectID: c.ID, Err: "no stub"}, fmt.Errorf(
			"the flow asked LanguageModel %s at %s node %q and the test has no stub for it: add ai: {%s: %s}",
			c.Model, c.NodeType, c.NodeID, c.NodeID, stubHint(c.NodeType))
	}
	key := "ai:" + c.NodeID
	i := min(s.used[key], len(rs)-1)
	s.used[key]++
	a := rs[i]
	res := flow.ModelResult{EffectID: c.ID, Refusal: a.Refusal, Err: a.Error}
	switch {
	case a.Label != "":
		var conf any
		if a.Confidence != nil {
			conf = *a.Confidence
		}
		b, _ := json.Marshal(map[string]any{"label": a.Label, "confidence": conf})
		res.Content = string(b)
	case a.JSON != nil:
		b, err := json.Marshal(jsonish(a.JSON))
		if err != nil {
			return flow.ModelResult{EffectID: c.ID, Err: "bad stub"}, fmt.Errorf("the AI stub of %q: json: %v", c.NodeID, err)
		}
		res.Content = string(b)
	default:
		res.Content = a.Text
	}
	return res, nil
}

func stubHint(t v1alpha1.NodeType) string {
	switch t {
	case v1alpha1.NodeAIClassify:
		return "{label: <one of its labels>}"
	case v1alpha1.NodeAIExtract:
		return "{json: {<field>: <value>, ...}}"
	}
	return "{text: <the answer>}"
}

// Respond answers the call with the node's next stubbed response. The
// error says what to add when the node has no stub, or what is wrong with
// the stub.
func (s *Stubs) Respond(c flow.HTTPCall) (flow.HTTPResult, error) {
	var rs Responses
	for _, l := range s.layers {
		if r, ok := l[c.NodeID]; ok {
			rs = r
			break
		}
	}
	if len(rs) == 0 {
		return flow.HTTPResult{EffectID: c.ID, Err: "no stub"}, fmt.Errorf(
			"the flow called %s %s at node %q and the test has no stub for it: add http: {%s: {status: 200, json: {...}}}",
			c.Method, c.URL, c.NodeID, c.NodeID)
	}
	i := min(s.used[c.NodeID], len(rs)-1)
	s.used[c.NodeID]++
	st := rs[i]
	res := flow.HTTPResult{EffectID: c.ID, Status: st.Status, Headers: st.Headers, Err: st.Error}
	if st.Error != "" {
		res.Status = 0
		return res, nil
	}
	if res.Status == 0 {
		res.Status = 200
	}
	switch {
	case st.JSON != nil:
		b, err := json.Marshal(jsonish(st.JSON))
		if err != nil {
			return flow.HTTPResult{EffectID: c.ID, Err: "bad stub"}, fmt.Errorf("the stub of %q: json: %v", c.NodeID, err)
		}
		res.Body, res.ContentType = b, "application/json"
	case st.Body != nil:
		res.Body = []byte(*st.Body)
	}
	return res, nil
}
