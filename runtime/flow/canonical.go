package flow

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// canonicalFlow is what the executor runs. Display name, remark, state,
// logging and executor settings are left out: changing them must not roll
// out a new revision.
type canonicalFlow struct {
	Trigger   canonicalTrigger    `json:"trigger"`
	Variables []v1alpha1.Variable `json:"variables,omitempty"`
	Nodes     []v1alpha1.Node     `json:"nodes"`
}

type canonicalTrigger struct {
	Type   v1alpha1.TriggerType `json:"type"`
	Inputs []canonicalInput     `json:"inputs,omitempty"`
}

// canonicalInput drops the description: it documents, it does not run.
type canonicalInput struct {
	Name      string `json:"name"`
	Required  bool   `json:"required,omitempty"`
	Sensitive bool   `json:"sensitive,omitempty"`
}

// Canonical returns the canonical form of the parts of a flow the executor
// runs (trigger, variables, nodes) as deterministic JSON: defaults applied
// (method GET, maxJumps 3, the default timeouts), durations spelled by
// time.Duration.String, nodes sorted by id, variables and inputs by name
// (they are keyed lists, their order means nothing), inputs kept only for
// Manual triggers. Two specs that run the same hash the same, whatever
// their formatting, key order or spelling of defaults.
func Canonical(spec *v1alpha1.ChatFlowSpec) ([]byte, error) {
	if spec == nil {
		return nil, errors.New("flow: no spec")
	}
	cf := canonicalFlow{Trigger: canonicalTrigger{Type: spec.Trigger.Type}}
	if spec.Trigger.Type == v1alpha1.TriggerManual {
		for _, in := range spec.Trigger.Inputs {
			cf.Trigger.Inputs = append(cf.Trigger.Inputs, canonicalInput{Name: in.Name, Required: in.Required, Sensitive: in.Sensitive})
		}
		slices.SortStableFunc(cf.Trigger.Inputs, func(a, b canonicalInput) int { return cmp.Compare(a.Name, b.Name) })
	}
	cf.Variables = append([]v1alpha1.Variable(nil), spec.Variables...)
	slices.SortStableFunc(cf.Variables, func(a, b v1alpha1.Variable) int { return cmp.Compare(a.Name, b.Name) })
	cf.Nodes = make([]v1alpha1.Node, len(spec.Nodes))
	for i := range spec.Nodes {
		spec.Nodes[i].DeepCopyInto(&cf.Nodes[i])
		withDefaults(&cf.Nodes[i])
	}
	slices.SortStableFunc(cf.Nodes, func(a, b v1alpha1.Node) int { return cmp.Compare(a.ID, b.ID) })
	return json.Marshal(cf)
}

// withDefaults spells out the defaults Compile applies, so that a spec
// that states them and one that leaves them out hash the same.
func withDefaults(n *v1alpha1.Node) {
	if w := n.WaitForReply; w != nil && w.Timeout == nil {
		w.Timeout = &metav1.Duration{Duration: DefaultWaitTimeout}
	}
	if h := n.HTTPRequest; h != nil {
		if h.Method == "" {
			h.Method = "GET"
		}
		if h.Timeout == nil {
			h.Timeout = &metav1.Duration{Duration: DefaultHTTPTimeout}
		}
	}
	if j := n.Jump; j != nil && j.MaxJumps == 0 {
		j.MaxJumps = DefaultMaxJumps
	}
	if h := n.Handoff; h != nil && h.Timeout == nil {
		h.Timeout = &metav1.Duration{Duration: DefaultHandoffTimeout}
	}
	if a := n.AIReply; a != nil && a.History == nil {
		a.History = ptrTo(int32(DefaultReplyHistory))
	}
	if a := n.AIClassify; a != nil && a.History == nil {
		a.History = ptrTo(int32(0))
	}
	if a := n.AIExtract; a != nil {
		if a.History == nil {
			a.History = ptrTo(int32(0))
		}
		for i := range a.Fields {
			if a.Fields[i].Type == "" {
				a.Fields[i].Type = v1alpha1.AIFieldString
			}
		}
	}
}

// Revision is the first 10 hex digits of the sha256 of the canonical form.
func Revision(spec *v1alpha1.ChatFlowSpec) (string, error) {
	b, err := Canonical(spec)
	if err != nil {
		return "", err
	}
	return revisionOf(b), nil
}

func revisionOf(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:5])
}

func ptrTo[T any](v T) *T { return &v }
