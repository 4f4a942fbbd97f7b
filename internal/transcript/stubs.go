package transcript

import (
	"encoding/json"
	"fmt"

	"github.com/chatflow-dev/chatflow/runtime/flow"
)

// Stubs answers a flow's HTTP calls the way `chatflow test` does: from the
// responses stubbed per node id, each node's in turn, the last one
// repeating. Tests layer their own stubs over the file's; `chatflow chat`
// answers a local conversation's calls from a test file's; the repository's
// executor replay serves them from a loopback server. Not safe for
// concurrent use.
type Stubs struct {
	layers []map[string]Responses // first match wins
	used   map[string]int         // responses used per node
}

// NewStubs answers from the layers, the first that stubs a node winning.
func NewStubs(layers ...map[string]Responses) *Stubs {
	return &Stubs{layers: layers, used: map[string]int{}}
}

// FileStubs answers from the file's http: section.
func (f *File) FileStubs() *Stubs { return NewStubs(f.HTTP) }

// TestStubs answers from the test's http: stubs, then the file's.
func (f *File) TestStubs(t *Test) *Stubs { return NewStubs(t.HTTP, f.HTTP) }

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
