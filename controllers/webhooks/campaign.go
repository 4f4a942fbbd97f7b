package webhooks

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/index"
	"github.com/chatflow-dev/chatflow/controllers/policy"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// +kubebuilder:webhook:path=/validate-chatflow-dev-v1alpha1-campaign,mutating=false,failurePolicy=fail,sideEffects=None,groups=chatflow.dev,resources=campaigns,verbs=create;update;delete,versions=v1alpha1,name=vcampaign-v1alpha1.chatflow.dev,admissionReviewVersions=v1,timeoutSeconds=5,matchPolicy=Equivalent

var campaignKind = v1alpha1.GroupVersion.WithKind("Campaign").GroupKind()

// CampaignValidator admits Campaigns: contacts that are contacts of the
// flow's channel, listed once; inputs the flow declares; quiet hours in a
// known time zone; a flow that is Manual; Secrets the requester may read. A flow that does not exist or is
// not Published yet is only warned about (GitOps applies objects in any
// order: the campaign waits), and so is a rate above the account's.
type CampaignValidator struct {
	// Reader reads flows and bindings, uncached.
	Reader client.Reader
	// Access checks that the requester may read the Secrets the audience
	// and the opt-out list name.
	Access *SecretAccess
}

var _ admission.Validator[*v1alpha1.Campaign] = &CampaignValidator{}

// ValidateCreate checks a new campaign.
func (v *CampaignValidator) ValidateCreate(ctx context.Context, c *v1alpha1.Campaign) (admission.Warnings, error) {
	return v.validate(ctx, c)
}

// ValidateUpdate checks the campaign as edited (spec.flowRef stays: the
// CRD's transition rule).
func (v *CampaignValidator) ValidateUpdate(ctx context.Context, _, c *v1alpha1.Campaign) (admission.Warnings, error) {
	if !c.DeletionTimestamp.IsZero() {
		return nil, nil
	}
	return v.validate(ctx, c)
}

// ValidateDelete allows every deletion: deleting a running campaign stops it.
func (v *CampaignValidator) ValidateDelete(context.Context, *v1alpha1.Campaign) (admission.Warnings, error) {
	return nil, nil
}

func (v *CampaignValidator) validate(ctx context.Context, c *v1alpha1.Campaign) (admission.Warnings, error) {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	var warnings admission.Warnings
	f := &v1alpha1.ChatFlow{}
	switch err := v.Reader.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: c.Spec.FlowRef.Name}, f); {
	case apierrors.IsNotFound(err):
		f = nil
	case err != nil:
		return nil, apierrors.NewInternalError(fmt.Errorf("reading ChatFlow %s: %w", c.Spec.FlowRef.Name, err))
	}
	var binding *v1alpha1.ChannelBinding
	if f != nil {
		var bindings v1alpha1.ChannelBindingList
		if err := v.Reader.List(ctx, &bindings, client.InNamespace(c.Namespace), client.MatchingFields{index.BindingFlowName: f.Name}); err != nil {
			return nil, apierrors.NewInternalError(fmt.Errorf("listing the bindings of the flow: %w", err))
		}
		binding = policy.InEffect(bindings.Items)
	}
	switch reason, msg, stalled, ok := policy.CampaignFlowCheck(c, f); {
	case ok:
	case stalled:
		errs = append(errs, field.Invalid(spec.Child("flowRef", "name"), c.Spec.FlowRef.Name, msg))
	default:
		warnings = append(warnings, fmt.Sprintf("spec.flowRef.name: %s (%s)", msg, reason))
	}
	if f != nil {
		errs = append(errs, policy.CampaignInputErrors(&c.Spec, f.Name, &f.Spec)...)
		if _, clamped := policy.CampaignRate(&c.Spec, binding); clamped != "" {
			warnings = append(warnings, "spec.rate: "+clamped)
		}
	}
	var ch message.Channel
	if binding != nil {
		ch = message.Channel(binding.Spec.Channel)
	}
	seen := map[string]int{}
	for i, ct := range c.Spec.Audience.Contacts {
		p := spec.Child("audience", "contacts").Index(i).Child("id")
		id, why := policy.NormalizeContact(ch, ct.ID)
		if why != "" {
			errs = append(errs, field.Invalid(p, ct.ID, why))
			continue
		}
		if j, dup := seen[id]; dup {
			e := field.Duplicate(p, ct.ID)
			e.Detail = fmt.Sprintf("spec.audience.contacts[%d] is the same contact: list each contact once", j)
			errs = append(errs, e)
			continue
		}
		seen[id] = i
	}
	if q := c.Spec.QuietHours; q != nil {
		if _, err := policy.ParseQuietHours(q); err != nil {
			errs = append(errs, err)
		}
	}
	denied, err := v.Access.Check(ctx, c)
	if err != nil {
		return nil, err
	}
	errs = append(errs, denied...)
	if d := c.Spec.DiscardAfter; d != nil && (d.Duration < time.Second || d.Duration > 7*24*time.Hour) {
		errs = append(errs, field.Invalid(spec.Child("discardAfter"), d.Duration.String(), "must be between 1s and 7 days (168h), e.g. 1h"))
	}
	if len(errs) > 0 {
		return warnings, apierrors.NewInvalid(campaignKind, c.Name, errs)
	}
	return warnings, nil
}

// SetupCampaignWebhookWithManager registers the Campaign validator.
func SetupCampaignWebhookWithManager(mgr ctrl.Manager, reader client.Reader, access *SecretAccess) error {
	return ctrl.NewWebhookManagedBy(mgr, &v1alpha1.Campaign{}).
		WithValidator(&CampaignValidator{Reader: reader, Access: access}).
		Complete()
}
