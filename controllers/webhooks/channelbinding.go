package webhooks

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/index"
	"github.com/chatflow-dev/chatflow/controllers/policy"
)

// +kubebuilder:webhook:path=/validate-chatflow-dev-v1alpha1-channelbinding,mutating=false,failurePolicy=fail,sideEffects=None,groups=chatflow.dev,resources=channelbindings,verbs=create;update;delete,versions=v1alpha1,name=vchannelbinding-v1alpha1.chatflow.dev,admissionReviewVersions=v1,timeoutSeconds=5,matchPolicy=Equivalent

var (
	bindingKind     = v1alpha1.GroupVersion.WithKind("ChannelBinding").GroupKind()
	bindingResource = v1alpha1.GroupVersion.WithResource("channelbindings").GroupResource()
)

// ChannelBindingValidator admits ChannelBindings: no second binding for a
// Published flow, no rebind (a change of flow, channel or account, or a
// deletion) of the binding a Published flow runs on, credentials the
// requester may read, and an apiBaseURL the access token may travel to.
type ChannelBindingValidator struct {
	// Reader reads flows, bindings and namespaces for decisions, uncached.
	Reader client.Reader
	// Cache reads bindings by account for warnings (the manager's cached
	// client, with the indexes of controllers/index); nil skips that
	// warning. Warnings may lag; decisions never use it.
	Cache client.Reader
	// Access checks that the requester may read the credentials Secret.
	Access *SecretAccess
	// APIBaseURLHosts, when not empty, are the only hosts spec.apiBaseURL
	// may name (see policy.HostAllowed).
	APIBaseURLHosts []string
}

var _ admission.Validator[*v1alpha1.ChannelBinding] = &ChannelBindingValidator{}

// ValidateCreate refuses a binding for a Published flow that already has
// one (the first binding of a Published flow is allowed: GitOps tools
// apply objects in any order), credentials the requester may not read and
// an apiBaseURL the access token may not travel to.
func (v *ChannelBindingValidator) ValidateCreate(ctx context.Context, b *v1alpha1.ChannelBinding) (admission.Warnings, error) {
	st, err := v.lookup(ctx, b.Namespace, b.Spec.FlowRef.Name)
	if err != nil {
		return nil, err
	}
	errs := append(secondBinding(b, st), v.apiBaseURL(b)...)
	denied, err := v.Access.Check(ctx, b)
	if err != nil {
		return nil, err
	}
	if errs = append(errs, denied...); len(errs) > 0 {
		return nil, apierrors.NewInvalid(bindingKind, b.Name, errs)
	}
	return v.warnings(ctx, b, st.flow)
}

// apiBaseURL checks spec.apiBaseURL (policy.APIBaseURLProblem).
func (v *ChannelBindingValidator) apiBaseURL(b *v1alpha1.ChannelBinding) field.ErrorList {
	if msg := policy.APIBaseURLProblem(b.Spec.APIBaseURL, v.APIBaseURLHosts); msg != "" {
		return field.ErrorList{field.Invalid(field.NewPath("spec", "apiBaseURL"), b.Spec.APIBaseURL, msg)}
	}
	return nil
}

// ValidateUpdate refuses a rebind of the binding a Published flow runs on,
// and moving a binding onto a Published flow that already has one.
// Credentials, the API base URL and webhook settings change freely, as far
// as the requester may read the credentials and the URL is allowed; every
// update passes once the binding is being deleted.
func (v *ChannelBindingValidator) ValidateUpdate(ctx context.Context, old, b *v1alpha1.ChannelBinding) (admission.Warnings, error) {
	if !b.DeletionTimestamp.IsZero() {
		return nil, nil
	}
	var errs field.ErrorList
	if old.Spec.APIBaseURL != b.Spec.APIBaseURL {
		errs = append(errs, v.apiBaseURL(b)...)
	}
	// Every change of the spec decides where the credentials go (the URL,
	// the flow that sends with them, the account).
	if !equality.Semantic.DeepEqual(old.Spec, b.Spec) {
		denied, err := v.Access.Check(ctx, b)
		if err != nil {
			return nil, err
		}
		errs = append(errs, denied...)
	}
	changed := rebindFields(old, b)
	if len(changed) == 0 {
		if len(errs) > 0 {
			return nil, apierrors.NewInvalid(bindingKind, b.Name, errs)
		}
		return nil, nil
	}
	was, err := v.lookup(ctx, old.Namespace, old.Spec.FlowRef.Name)
	if err != nil {
		return nil, err
	}
	if inUseByPublishedFlow(old, was) {
		for _, p := range changed {
			errs = append(errs, field.Forbidden(p, fmt.Sprintf(
				"ChatFlow %s is Published and runs on this binding: changing its flow, channel or account is a rebind; set spec.state: Unpublished on ChatFlow %s first",
				was.flow.Name, was.flow.Name)))
		}
	}
	now := was
	if b.Spec.FlowRef.Name != old.Spec.FlowRef.Name {
		if now, err = v.lookup(ctx, b.Namespace, b.Spec.FlowRef.Name); err != nil {
			return nil, err
		}
		errs = append(errs, secondBinding(b, now)...)
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(bindingKind, b.Name, errs)
	}
	return v.warnings(ctx, b, now.flow)
}

// ValidateDelete refuses to delete the binding a Published flow runs on,
// except while the namespace is deleted.
func (v *ChannelBindingValidator) ValidateDelete(ctx context.Context, b *v1alpha1.ChannelBinding) (admission.Warnings, error) {
	if !b.DeletionTimestamp.IsZero() {
		return nil, nil
	}
	st, err := v.lookup(ctx, b.Namespace, b.Spec.FlowRef.Name)
	if err != nil || !inUseByPublishedFlow(b, st) {
		return nil, err
	}
	terminating, err := namespaceTerminating(ctx, v.Reader, b.Namespace)
	if err != nil || terminating {
		return nil, err
	}
	return nil, apierrors.NewForbidden(bindingResource, b.Name, fmt.Errorf(
		"spec.flowRef.name: ChatFlow %s is Published and runs on this binding: set spec.state: Unpublished on ChatFlow %s first, then delete the binding",
		st.flow.Name, st.flow.Name))
}

// rebindFields returns the paths of the fields whose change is a rebind.
func rebindFields(old, b *v1alpha1.ChannelBinding) []*field.Path {
	spec := field.NewPath("spec")
	var changed []*field.Path
	if old.Spec.FlowRef.Name != b.Spec.FlowRef.Name {
		changed = append(changed, spec.Child("flowRef", "name"))
	}
	if old.Spec.Channel != b.Spec.Channel {
		changed = append(changed, spec.Child("channel"))
	}
	if !equality.Semantic.DeepEqual(old.Spec.Account, b.Spec.Account) {
		changed = append(changed, spec.Child("account"))
	}
	return changed
}

// flowState is what the rebind rules need of a flow: the flow (nil when it
// does not exist) and the bindings that name it.
type flowState struct {
	flow     *v1alpha1.ChatFlow
	bindings []v1alpha1.ChannelBinding
}

// lookup reads a flow and its bindings from the API server, both at once.
func (v *ChannelBindingValidator) lookup(ctx context.Context, ns, name string) (flowState, error) {
	var st flowState
	var g errgroup.Group
	g.Go(func() error {
		f := &v1alpha1.ChatFlow{}
		switch err := v.Reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, f); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return fmt.Errorf("reading ChatFlow %s: %w", name, err)
		default:
			st.flow = f
		}
		return nil
	})
	g.Go(func() error {
		var list v1alpha1.ChannelBindingList
		if err := v.Reader.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{index.BindingFlowName: name}); err != nil {
			return fmt.Errorf("listing the bindings of ChatFlow %s: %w", name, err)
		}
		st.bindings = list.Items
		return nil
	})
	if err := g.Wait(); err != nil {
		return st, apierrors.NewInternalError(err)
	}
	return st, nil
}

// secondBinding refuses b when its flow is Published and another binding
// already holds it.
func secondBinding(b *v1alpha1.ChannelBinding, st flowState) field.ErrorList {
	if st.flow == nil || st.flow.Spec.State != v1alpha1.StatePublished {
		return nil
	}
	var others []v1alpha1.ChannelBinding
	for _, o := range st.bindings {
		if o.Name != b.Name {
			others = append(others, o)
		}
	}
	first := policy.InEffect(others)
	if first == nil {
		return nil
	}
	return field.ErrorList{field.Forbidden(field.NewPath("spec", "flowRef", "name"), fmt.Sprintf(
		"ChatFlow %s is Published and already bound by ChannelBinding %s: a flow has one binding; to rebind, set spec.state: Unpublished on ChatFlow %s first",
		st.flow.Name, first.Name, st.flow.Name))}
}

// inUseByPublishedFlow says whether b is the binding a Published flow runs
// on (another, conflicting binding is not).
func inUseByPublishedFlow(b *v1alpha1.ChannelBinding, st flowState) bool {
	if st.flow == nil || st.flow.Spec.State != v1alpha1.StatePublished {
		return false
	}
	first := policy.InEffect(st.bindings)
	return first != nil && first.Name == b.Name
}

// warnings tell about what the binding controller will report as Stalled:
// a missing flow, a channel that is not the trigger, an account bound
// elsewhere.
func (v *ChannelBindingValidator) warnings(ctx context.Context, b *v1alpha1.ChannelBinding, f *v1alpha1.ChatFlow) (admission.Warnings, error) {
	in := policy.BindingInput{Binding: b, Flow: f}
	if _, msg, ok := policy.FlowExists(in); !ok {
		return admission.Warnings{msg}, nil
	}
	if _, msg, ok := policy.ChannelMatchesTrigger(in); !ok {
		return admission.Warnings{msg}, nil
	}
	if v.Cache == nil {
		return nil, nil
	}
	// In every namespace: an account serves one flow in the cluster.
	var list v1alpha1.ChannelBindingList
	if err := v.Cache.List(ctx, &list,
		client.MatchingFields{index.BindingAccount: index.AccountKey(b.Spec.Channel, b.Spec.Account.ID)}); err != nil {
		return nil, nil // a warning is not worth failing the request for
	}
	var rivals []v1alpha1.ChannelBinding
	for _, o := range list.Items {
		if !policy.Same(&o, b) {
			rivals = append(rivals, o)
		}
	}
	first := policy.InEffect(rivals)
	// A binding not created yet is the newest; an existing one loses to
	// older rivals only.
	if first != nil && (b.CreationTimestamp.IsZero() || policy.Same(policy.InEffect([]v1alpha1.ChannelBinding{*b, *first}), first)) {
		return admission.Warnings{policy.AccountConflict(b, first) + ": this binding will be Stalled (Conflict) until that one goes"}, nil
	}
	return nil, nil
}

// SetupChannelBindingWebhookWithManager registers the ChannelBinding
// validator: decisions read through reader, warnings through cache.
func SetupChannelBindingWebhookWithManager(mgr ctrl.Manager, reader, cache client.Reader, access *SecretAccess, apiBaseURLHosts []string) error {
	return ctrl.NewWebhookManagedBy(mgr, &v1alpha1.ChannelBinding{}).
		WithValidator(&ChannelBindingValidator{Reader: reader, Cache: cache, Access: access, APIBaseURLHosts: apiBaseURLHosts}).
		Complete()
}
