// Package languagemodel reconciles LanguageModels: a model is Ready when
// its spec holds the admission rules and the Secret of its API key exists
// with the key (or it needs none); otherwise it is Stalled, saying what to
// fix. The flows that use a model read its Ready condition: the ChatFlow
// controller does not roll a flow out on a model that is not Ready.
//
// It reads Secret data only to check key names (controllers/internal/
// secretkeys), never keeping a value. It must not import the webhooks or
// the other reconcilers.
package languagemodel

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/index"
	"github.com/chatflow-dev/chatflow/controllers/internal/conditionevents"
	"github.com/chatflow-dev/chatflow/controllers/internal/secretkeys"
	"github.com/chatflow-dev/chatflow/runtime/model"
)

// Reconciler reconciles LanguageModels.
type Reconciler struct {
	// Client reads from the manager's cache.
	Client client.Client
	// SecretReader reads Secrets without a cache (the manager's API reader).
	SecretReader client.Reader
	// Recorder records events on models.
	Recorder events.EventRecorder
	// MaxConcurrentReconciles bounds parallel reconciles; default 2.
	MaxConcurrentReconciles int

	keys *secretkeys.Reader
}

// observation is what a reconcile found of a model.
type observation struct {
	// SpecErrors break the admission rules.
	SpecErrors field.ErrorList
	// Secret is the key's Secret with its non-empty keys (no values); nil
	// when it does not exist or the model names none.
	Secret *corev1.Secret
	// Err is the error the reconcile ended with.
	Err error
}

// +kubebuilder:rbac:groups=chatflow.dev,resources=languagemodels,verbs=get;list;watch
// +kubebuilder:rbac:groups=chatflow.dev,resources=languagemodels/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile judges one model and reports the verdict in its status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	m := &v1alpha1.LanguageModel{}
	if err := r.Client.Get(ctx, req.NamespacedName, m); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !m.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	before := m.DeepCopy()
	var o observation
	defer func() {
		o.Err = retErr
		computeStatus(m, o)
		conditionevents.Record(r.Recorder, m, before.Status.Conditions, m.Status.Conditions, "Ready", "Check")
		if equality.Semantic.DeepEqual(before.Status, m.Status) {
			return
		}
		if err := r.Client.Status().Patch(ctx, m, client.MergeFrom(before)); err != nil {
			retErr = errors.Join(retErr, client.IgnoreNotFound(err))
		}
	}()
	o.SpecErrors = model.ValidateSpec(&m.Spec, field.NewPath("spec"))
	if ref := m.Spec.APIKeyRef; ref != nil && ref.Name != "" {
		var err error
		o.Secret, err = r.keys.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: ref.Name})
		if err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{}, nil
}

// computeStatus sets a model's conditions from an observation. It is pure.
// Ready (positive polarity) says flows may use the model; Stalled
// (negative) that only a change by the user helps.
func computeStatus(m *v1alpha1.LanguageModel, o observation) {
	if o.Err != nil {
		setCondition(m, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonReconcileFailed,
			fmt.Sprintf("reconcile failed, retrying: %v", o.Err))
		meta.RemoveStatusCondition(&m.Status.Conditions, v1alpha1.ConditionStalled)
		return
	}
	m.Status.ObservedGeneration = m.Generation
	if reason, msg, ok := check(m, o); !ok {
		setCondition(m, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
		setCondition(m, v1alpha1.ConditionStalled, metav1.ConditionTrue, reason, msg)
		return
	}
	key := "no API key"
	if r := m.Spec.APIKeyRef; r != nil {
		key = fmt.Sprintf("the API key from Secret %s, key %s", r.Name, r.Key)
	}
	setCondition(m, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSucceeded,
		fmt.Sprintf("%s at %s, with %s", m.Spec.Model, m.Spec.BaseURL, key))
	meta.RemoveStatusCondition(&m.Status.Conditions, v1alpha1.ConditionStalled)
}

// check is the model's first unmet condition: reason and message, or ok.
func check(m *v1alpha1.LanguageModel, o observation) (reason, msg string, ok bool) {
	if len(o.SpecErrors) > 0 {
		var parts []string
		for _, e := range o.SpecErrors {
			parts = append(parts, e.Error())
		}
		return v1alpha1.ReasonInvalidSpec, strings.Join(parts, "; "), false
	}
	r := m.Spec.APIKeyRef
	if r == nil {
		return "", "", true
	}
	if o.Secret == nil {
		return v1alpha1.ReasonSecretNotFound, fmt.Sprintf(
			"Secret %s of spec.apiKeyRef does not exist: create it in namespace %s with the API key under key %s", r.Name, m.Namespace, r.Key), false
	}
	if _, has := o.Secret.Data[r.Key]; !has {
		return v1alpha1.ReasonSecretKeyMissing, fmt.Sprintf(
			"Secret %s has no value under key %s (spec.apiKeyRef.key): add the API key there", r.Name, r.Key), false
	}
	return "", "", true
}

func setCondition(m *v1alpha1.LanguageModel, t string, s metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&m.Status.Conditions, metav1.Condition{
		Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: m.Generation,
	})
}

// SetupWithManager registers the LanguageModel controller and its
// watches. The field indexes (controllers/index) must be registered first.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	workers := r.MaxConcurrentReconciles
	if workers <= 0 {
		workers = 2
	}
	r.keys = secretkeys.New(r.Client, r.SecretReader)
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.LanguageModel{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.modelsOfSecret)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Named("languagemodel").
		Complete(r)
}

// modelsOfSecret maps a Secret to the models whose key it holds.
func (r *Reconciler) modelsOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	var list v1alpha1.LanguageModelList
	if err := r.Client.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{index.ModelKeySecret: o.GetName()}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, m := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: m.Namespace, Name: m.Name}})
	}
	return reqs
}
