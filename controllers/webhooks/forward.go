package webhooks

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/policy"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// forwards checks a flow's ForwardToFlow nodes against the flows of its
// namespace, read from the API server: each target exists (an error),
// the flows reached fit (their channel, the inputs passed, no cycle: the
// link errors), and a target not Published is warned about (it must be
// before the caller's new revision rolls out).
func (v *ChatFlowValidator) forwards(ctx context.Context, f *v1alpha1.ChatFlow, prog *flow.Program, ch message.Channel) (field.ErrorList, admission.Warnings, error) {
	if len(flow.Targets(&f.Spec)) == 0 {
		return nil, nil, nil
	}
	reached, err := policy.ReachedFlows(f, func(name string) (*v1alpha1.ChatFlow, error) {
		t := &v1alpha1.ChatFlow{}
		switch err := v.Reader.Get(ctx, types.NamespacedName{Namespace: f.Namespace, Name: name}, t); {
		case apierrors.IsNotFound(err):
			return nil, nil
		case err != nil:
			return nil, apierrors.NewInternalError(fmt.Errorf("reading ChatFlow %s: %w", name, err))
		}
		return t, nil
	})
	if err != nil {
		return nil, nil, err
	}
	var errs field.ErrorList
	var warnings admission.Warnings
	direct := map[string]bool{}
	for i := range f.Spec.Nodes {
		fw := f.Spec.Nodes[i].ForwardToFlow
		if fw == nil || fw.FlowRef.Name == "" {
			continue
		}
		p := field.NewPath("spec", "nodes").Index(i).Child("forwardToFlow", "flowRef", "name")
		direct[fw.FlowRef.Name] = true
		for _, m := range reached.Missing {
			if m == fw.FlowRef.Name {
				e := field.NotFound(p, m)
				e.Detail = fmt.Sprintf("no ChatFlow %s in namespace %s: create it (and publish it) before the flow that forwards to it", m, f.Namespace)
				errs = append(errs, e)
			}
		}
	}
	for _, t := range reached.Flows {
		if t.Spec.State != v1alpha1.StatePublished {
			via := ""
			if !direct[t.Name] {
				via = " (reached through another flow's ForwardToFlow)"
			}
			warnings = append(warnings, fmt.Sprintf(
				"ChatFlow %s%s is Unpublished: this flow's executor runs it for the contacts forwarded to it, and a new revision of this flow rolls out only once it is Published", t.Name, via))
		}
	}
	if prog != nil {
		errs = append(errs, policy.LinkErrors(prog, ch, reached)...)
	}
	return errs, warnings, nil
}
