package webhooks

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/controllers/index"
	"github.com/chatflow-dev/chatflow/controllers/policy"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// +kubebuilder:webhookconfiguration:mutating=false,name=validating-webhook-configuration
// +kubebuilder:webhook:path=/validate-chatflow-dev-v1alpha1-chatflow,mutating=false,failurePolicy=fail,sideEffects=None,groups=chatflow.dev,resources=chatflows,verbs=create;update;delete,versions=v1alpha1,name=vchatflow-v1alpha1.chatflow.dev,admissionReviewVersions=v1,timeoutSeconds=5,matchPolicy=Equivalent
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get

var (
	chatFlowKind     = v1alpha1.GroupVersion.WithKind("ChatFlow").GroupKind()
	chatFlowResource = v1alpha1.GroupVersion.WithResource("chatflows").GroupResource()
)

// ChatFlowValidator admits ChatFlows: a graph that compiles, a trigger that
// stays while Published, no deletion while Published, and only references
// to Secrets the requester may read.
type ChatFlowValidator struct {
	// Reader reads bindings and namespaces, uncached.
	Reader client.Reader
	// Config holds the executor defaults, for warnings.
	Config builders.Config
	// Access checks that the requester may read the referenced Secrets.
	Access *SecretAccess
}

var _ admission.Validator[*v1alpha1.ChatFlow] = &ChatFlowValidator{}

// ValidateCreate runs the full graph validation and checks that the
// requester may read every Secret the flow references.
func (v *ChatFlowValidator) ValidateCreate(ctx context.Context, f *v1alpha1.ChatFlow) (admission.Warnings, error) {
	prog, ch, errs, err := v.compile(ctx, f)
	if err != nil {
		return nil, err
	}
	denied, err := v.Access.Check(ctx, f)
	if err != nil {
		return nil, err
	}
	errs = append(errs, denied...)
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(chatFlowKind, f.Name, errs)
	}
	fwdErrs, fwdWarnings, err := v.forwards(ctx, f, prog, ch)
	if err != nil {
		return nil, err
	}
	if len(fwdErrs) > 0 {
		return fwdWarnings, apierrors.NewInvalid(chatFlowKind, f.Name, fwdErrs)
	}
	return append(v.warnings(f), fwdWarnings...), nil
}

// ValidateUpdate refuses a trigger change while Published and an invalid
// graph. A graph that did not change and stays unpublished is only warned
// about, so a flow that newer rules find invalid can still be unpublished,
// edited and deleted. A change that could send a referenced Secret
// somewhere else (anything but the state, basic info and logging) needs
// the requester to be able to read every Secret the flow references.
func (v *ChatFlowValidator) ValidateUpdate(ctx context.Context, old, f *v1alpha1.ChatFlow) (admission.Warnings, error) {
	if !f.DeletionTimestamp.IsZero() {
		return nil, nil
	}
	var errs field.ErrorList
	if reason := triggerChangeWhilePublished(old, f); reason != "" {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "trigger", "type"), reason))
	}
	prog, ch, graphErrs, err := v.compile(ctx, f)
	if err != nil {
		return nil, err
	}
	if secretsExposedByChange(old, f) {
		denied, err := v.Access.Check(ctx, f)
		if err != nil {
			return nil, err
		}
		errs = append(errs, denied...)
	}
	warnings := v.warnings(f)
	fwdErrs, fwdWarnings, err := v.forwards(ctx, f, prog, ch)
	if err != nil {
		return nil, err
	}
	warnings = append(warnings, fwdWarnings...)
	graphErrs = append(graphErrs, fwdErrs...)
	if len(graphErrs) > 0 {
		if graphChanged(old, f) || publishing(old, f) {
			errs = append(errs, graphErrs...)
		} else {
			warnings = append(warnings, fmt.Sprintf("the graph is invalid (%d errors, see status condition Valid); it cannot be published until fixed", len(graphErrs)))
		}
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(chatFlowKind, f.Name, errs)
	}
	return warnings, nil
}

// ValidateDelete refuses to delete a Published flow, except while its
// namespace is deleted.
func (v *ChatFlowValidator) ValidateDelete(ctx context.Context, f *v1alpha1.ChatFlow) (admission.Warnings, error) {
	if f.Spec.State != v1alpha1.StatePublished || !f.DeletionTimestamp.IsZero() {
		return nil, nil
	}
	terminating, err := namespaceTerminating(ctx, v.Reader, f.Namespace)
	if err != nil || terminating {
		return nil, err
	}
	return nil, apierrors.NewForbidden(chatFlowResource, f.Name, fmt.Errorf(
		"spec.state: the flow is Published and serves its channel: set spec.state: Unpublished first, then delete it"))
}

// compile validates the graph against the channel it will send on: the
// trigger, or the binding's channel for a Manual flow.
func (v *ChatFlowValidator) compile(ctx context.Context, f *v1alpha1.ChatFlow) (*flow.Program, message.Channel, field.ErrorList, error) {
	ch := flow.ChannelOf(&f.Spec)
	if f.Spec.Trigger.Type == v1alpha1.TriggerManual && f.Name != "" {
		var bindings v1alpha1.ChannelBindingList
		if err := v.Reader.List(ctx, &bindings, client.InNamespace(f.Namespace),
			client.MatchingFields{index.BindingFlowName: f.Name}); err != nil {
			return nil, "", nil, apierrors.NewInternalError(fmt.Errorf("listing the bindings of the flow: %w", err))
		}
		if b := policy.InEffect(bindings.Items); b != nil {
			ch = message.Channel(b.Spec.Channel)
		}
	}
	prog, errs := flow.Compile(&f.Spec, flow.Options{Channel: ch, FlowName: f.Name})
	return prog, ch, errs, nil
}

func (v *ChatFlowValidator) warnings(f *v1alpha1.ChatFlow) admission.Warnings {
	if _, capped := builders.Replicas(f, v.Config); capped {
		return admission.Warnings{"spec.executor.replicas: the operator's session store is memory, which keeps sessions in one pod: the executor runs 1 replica"}
	}
	return nil
}

// triggerChangeWhilePublished returns why a trigger change is refused, or
// "" when it is allowed. It mirrors the CRD's transition rule.
func triggerChangeWhilePublished(old, f *v1alpha1.ChatFlow) string {
	if old.Spec.State == v1alpha1.StatePublished && f.Spec.State == v1alpha1.StatePublished &&
		old.Spec.Trigger.Type != f.Spec.Trigger.Type {
		return fmt.Sprintf("the trigger of a Published flow cannot change (%s to %s): set spec.state: Unpublished first, change the trigger, then publish again",
			old.Spec.Trigger.Type, f.Spec.Trigger.Type)
	}
	return ""
}

func graphChanged(old, f *v1alpha1.ChatFlow) bool {
	a, errA := flow.Revision(&old.Spec)
	b, errB := flow.Revision(&f.Spec)
	return errA != nil || errB != nil || a != b
}

// secretsExposedByChange says whether an update changes more of the spec
// than the state, the basic info and logging: any other change (a URL, a
// header, a template, the executor's pod template) decides where the
// content of the referenced Secrets goes.
func secretsExposedByChange(old, f *v1alpha1.ChatFlow) bool {
	a, b := old.Spec.DeepCopy(), f.Spec.DeepCopy()
	for _, s := range []*v1alpha1.ChatFlowSpec{a, b} {
		s.State, s.DisplayName, s.Remark, s.Logging = "", "", "", v1alpha1.Logging{}
	}
	return !equality.Semantic.DeepEqual(a, b)
}

func publishing(old, f *v1alpha1.ChatFlow) bool {
	return old.Spec.State != v1alpha1.StatePublished && f.Spec.State == v1alpha1.StatePublished
}

// SetupChatFlowWebhookWithManager registers the ChatFlow validator.
func SetupChatFlowWebhookWithManager(mgr ctrl.Manager, reader client.Reader, cfg builders.Config, access *SecretAccess) error {
	return ctrl.NewWebhookManagedBy(mgr, &v1alpha1.ChatFlow{}).
		WithValidator(&ChatFlowValidator{Reader: reader, Config: cfg, Access: access}).
		Complete()
}
