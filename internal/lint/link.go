package lint

import (
	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/policy"
	"github.com/chatflow-dev/chatflow/runtime/flow"
)

// link links each flow that forwards to others with the flows of the input
// it reaches, as the operator does (policy.ReachedFlows, LinkErrors): a
// cycle, a target of another channel, inputs that do not fit are problems
// of the caller. A target that is not in the input is not one (the
// cluster may have it); the flow's program is then left unlinked, and
// `chatflow test` asks for the target's file.
func (l *linter) link(flows []*Flow) {
	for _, f := range flows {
		if f.Program == nil || len(f.Program.Calls()) == 0 {
			continue
		}
		reached, _ := policy.ReachedFlows(f.Admitted, func(name string) (*v1alpha1.ChatFlow, error) {
			for _, o := range flows {
				if o.Admitted != nil && o.Object.Name == name && sameNamespace(o.Object.Namespace, f.Object.Namespace) {
					return o.Admitted, nil
				}
			}
			return nil, nil
		})
		if errs := policy.LinkErrors(f.Program, f.Channel, reached); len(errs) > 0 {
			for _, e := range errs {
				f.Problems = append(f.Problems, l.problem(f.Object, e))
			}
			f.Program = nil
			continue
		}
		if len(reached.Missing) > 0 {
			continue
		}
		var called []*flow.Program
		for _, r := range reached.Flows {
			p, _ := flow.Compile(&r.Spec, flow.Options{Channel: f.Channel, FlowName: r.Name})
			called = append(called, p)
		}
		if linked, errs := flow.Link(f.Program, called); len(errs) == 0 {
			f.Program = linked
		}
	}
}
