package webhooks

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/index"
	"github.com/chatflow-dev/chatflow/runtime/model"
)

// +kubebuilder:webhook:path=/validate-chatflow-dev-v1alpha1-languagemodel,mutating=false,failurePolicy=fail,sideEffects=None,groups=chatflow.dev,resources=languagemodels,verbs=create;update;delete,versions=v1alpha1,name=vlanguagemodel-v1alpha1.chatflow.dev,admissionReviewVersions=v1,timeoutSeconds=5,matchPolicy=Equivalent
// +kubebuilder:rbac:groups=chatflow.dev,resources=chatflows,verbs=get;list;watch

var (
	languageModelKind     = v1alpha1.GroupVersion.WithKind("LanguageModel").GroupKind()
	languageModelResource = v1alpha1.GroupVersion.WithResource("languagemodels").GroupResource()
)

// LanguageModelValidator admits LanguageModels: a spec that holds the
// rules of runtime/model.ValidateSpec (which `chatflow lint` and the
// executor apply too), a key Secret the requester may read, and no
// deletion while a Published flow uses the model.
type LanguageModelValidator struct {
	// Reader reads flows and namespaces, uncached.
	Reader client.Reader
	// Access checks that the requester may read the key's Secret: the
	// executor sends the key to the model's base URL, which the requester
	// chooses.
	Access *SecretAccess
}

var _ admission.Validator[*v1alpha1.LanguageModel] = &LanguageModelValidator{}

// ValidateCreate checks the spec and the access to the key's Secret.
func (v *LanguageModelValidator) ValidateCreate(ctx context.Context, m *v1alpha1.LanguageModel) (admission.Warnings, error) {
	return v.validate(ctx, m, true)
}

// ValidateUpdate checks the spec, and the access to the key's Secret when
// the spec changed (it decides where the key goes); a change reaches the
// flows that use the model by rolling their executors.
func (v *LanguageModelValidator) ValidateUpdate(ctx context.Context, old, m *v1alpha1.LanguageModel) (admission.Warnings, error) {
	if !m.DeletionTimestamp.IsZero() {
		return nil, nil
	}
	return v.validate(ctx, m, !equality.Semantic.DeepEqual(old.Spec, m.Spec))
}

func (v *LanguageModelValidator) validate(ctx context.Context, m *v1alpha1.LanguageModel, checkAccess bool) (admission.Warnings, error) {
	errs := model.ValidateSpec(&m.Spec, field.NewPath("spec"))
	if checkAccess {
		denied, err := v.Access.Check(ctx, m)
		if err != nil {
			return nil, err
		}
		errs = append(errs, denied...)
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(languageModelKind, m.Name, errs)
	}
	var warnings admission.Warnings
	if m.Spec.APIKeyRef == nil {
		warnings = append(warnings, "spec.apiKeyRef is not set: requests carry no API key, which only endpoints without authentication accept")
	}
	if strings.HasPrefix(m.Spec.BaseURL, "http://") {
		warnings = append(warnings, "spec.baseURL is plain http: the conversations travel unencrypted")
	}
	return warnings, nil
}

// ValidateDelete refuses to delete a model that a Published flow uses,
// except while its namespace is deleted: the flow would go on serving
// contacts whose AI nodes fail.
func (v *LanguageModelValidator) ValidateDelete(ctx context.Context, m *v1alpha1.LanguageModel) (admission.Warnings, error) {
	terminating, err := namespaceTerminating(ctx, v.Reader, m.Namespace)
	if err != nil || terminating {
		return nil, err
	}
	// ChatFlows have no selectable field for their models: list the
	// namespace's flows (uncached) and look.
	var flows v1alpha1.ChatFlowList
	if err := v.Reader.List(ctx, &flows, client.InNamespace(m.Namespace)); err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("listing the flows of namespace %s: %w", m.Namespace, err))
	}
	var users []string
	for _, f := range flows.Items {
		if f.Spec.State == v1alpha1.StatePublished && slices.Contains(index.ModelNames(index.ModelRefs(&f.Spec)), m.Name) {
			users = append(users, f.Name)
		}
	}
	if len(users) == 0 {
		return nil, nil
	}
	return nil, apierrors.NewForbidden(languageModelResource, m.Name, fmt.Errorf(
		"the Published ChatFlows %s use this model: set their spec.state: Unpublished, or point their AI nodes at another model, first",
		strings.Join(users, ", ")))
}

// SetupLanguageModelWebhookWithManager registers the LanguageModel validator.
func SetupLanguageModelWebhookWithManager(mgr ctrl.Manager, reader client.Reader, access *SecretAccess) error {
	return ctrl.NewWebhookManagedBy(mgr, &v1alpha1.LanguageModel{}).
		WithValidator(&LanguageModelValidator{Reader: reader, Access: access}).
		Complete()
}
