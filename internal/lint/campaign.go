package lint

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/policy"
	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// Campaign is a Campaign of the input.
type Campaign struct {
	Object   manifest.Object
	Admitted *v1alpha1.Campaign
	Problems []Problem
}

func (l *linter) campaign(o manifest.Object) *Campaign {
	c := &Campaign{Object: o}
	obj, probs := l.admission(o)
	c.Problems = probs
	if obj == nil || len(probs) > 0 {
		return c
	}
	var admitted v1alpha1.Campaign
	if err := decode(obj, &admitted); err != nil {
		c.Problems = append(c.Problems, l.problem(o, field.Invalid(field.NewPath("spec"), field.OmitValueType{}, "does not decode: "+err.Error())))
		return c
	}
	c.Admitted = &admitted
	return c
}

// campaignChecks applies the Campaign admission rules that the input can
// judge (policy's, as the webhook): the flow, when the input has it, is
// Manual and declares the inputs named; contacts are contacts of its
// channel, listed once; quiet hours read.
func (l *linter) campaignChecks(c *Campaign, flows []*Flow, bindings []*Binding) {
	if c.Admitted == nil {
		return
	}
	spec := &c.Admitted.Spec
	if q := spec.QuietHours; q != nil {
		if _, err := policy.ParseQuietHours(q); err != nil {
			c.Problems = append(c.Problems, l.problem(c.Object, err))
		}
	}
	var ch message.Channel
	for _, f := range flows {
		if f.Admitted == nil || f.Object.Name != spec.FlowRef.Name || !sameNamespace(f.Object.Namespace, c.Object.Namespace) {
			continue
		}
		if _, msg, stalled, ok := policy.CampaignFlowCheck(c.Admitted, f.Admitted); !ok && stalled {
			c.Problems = append(c.Problems, l.problem(c.Object, field.Invalid(field.NewPath("spec", "flowRef", "name"), spec.FlowRef.Name, msg)))
		}
		for _, e := range policy.CampaignInputErrors(spec, f.Object.Name, &f.Admitted.Spec) {
			c.Problems = append(c.Problems, l.problem(c.Object, e))
		}
		if b := bindingFor(f, bindings); b != nil {
			ch = message.Channel(b.Admitted.Spec.Channel)
		}
	}
	seen := map[string]int{}
	for i, ct := range spec.Audience.Contacts {
		p := field.NewPath("spec", "audience", "contacts").Index(i).Child("id")
		id, why := policy.NormalizeContact(ch, ct.ID)
		if why != "" {
			c.Problems = append(c.Problems, l.problem(c.Object, field.Invalid(p, ct.ID, why)))
			continue
		}
		if j, dup := seen[id]; dup {
			e := field.Duplicate(p, ct.ID)
			e.Detail = fmt.Sprintf("spec.audience.contacts[%d] is the same contact: list each contact once", j)
			c.Problems = append(c.Problems, l.problem(c.Object, e))
			continue
		}
		seen[id] = i
	}
}
