package policy

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// MaxSubflows bounds the flows one flow reaches through its ForwardToFlow
// nodes: every one of them is copied into its executor's ConfigMap.
const MaxSubflows = 32

// Reached are the flows a flow reaches through its ForwardToFlow nodes,
// directly or through each other.
type Reached struct {
	// Flows are those that exist, by name order.
	Flows []*v1alpha1.ChatFlow
	// Missing name those that do not exist; TooMany says the search
	// stopped at MaxSubflows.
	Missing []string
	TooMany bool
}

// ReachedFlows finds the flows root reaches, breadth first, through
// lookup (nil, nil for a flow that does not exist).
func ReachedFlows(root *v1alpha1.ChatFlow, lookup func(name string) (*v1alpha1.ChatFlow, error)) (Reached, error) {
	var out Reached
	seen := map[string]bool{root.Name: true}
	queue := flow.Targets(&root.Spec)
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		if len(out.Flows)+len(out.Missing) >= MaxSubflows {
			out.TooMany = true
			break
		}
		f, err := lookup(name)
		if err != nil {
			return out, err
		}
		if f == nil {
			out.Missing = append(out.Missing, name)
			continue
		}
		out.Flows = append(out.Flows, f)
		queue = append(queue, flow.Targets(&f.Spec)...)
	}
	slices.SortFunc(out.Flows, func(a, b *v1alpha1.ChatFlow) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// LinkErrors links a flow's program with the flows it reaches, compiled
// for its channel, and returns what does not fit: a reached flow invalid
// on that channel, a trigger of another channel, inputs, a cycle. Flows
// that do not exist are left out (the caller judges them).
func LinkErrors(root *flow.Program, ch message.Channel, r Reached) field.ErrorList {
	var errs field.ErrorList
	if r.TooMany {
		errs = append(errs, field.TooMany(field.NewPath("spec", "nodes"), MaxSubflows+1, MaxSubflows))
	}
	var called []*flow.Program
	for _, f := range r.Flows {
		p, cerrs := flow.Compile(&f.Spec, flow.Options{Channel: ch, FlowName: f.Name})
		if len(cerrs) > 0 {
			where := string(ch)
			if where == "" {
				where = "no channel (a Manual flow without a binding)"
			}
			errs = append(errs, field.Invalid(field.NewPath("spec", "nodes"), f.Name, fmt.Sprintf(
				"ChatFlow %s, which this flow forwards to, is not valid on %s: %v", f.Name, where, cerrs.ToAggregate())))
			continue
		}
		called = append(called, p)
	}
	if len(errs) > 0 {
		return errs
	}
	_, lerrs := flow.Link(root, called)
	for _, e := range lerrs {
		if e.Type == field.ErrorTypeNotFound && len(r.Missing) > 0 {
			continue // a missing flow: the caller's own judgement
		}
		errs = append(errs, e)
	}
	return errs
}
