package channelbinding

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/controllers/index"
)

// CredentialsLabeler keeps builders.LabelCredentials on exactly the
// Secrets that ChannelBindings name in spec.credentialsRef, so the gateway
// can watch those and no other Secret (builders.LabelReferenced, which the
// manager's own cache selects on, is controllers/secretlabels' to keep).
// It reconciles Secrets by name: a binding's creation, change of
// credentialsRef or deletion enqueues the Secrets it names and named. Each
// change is a merge patch of that one label.
type CredentialsLabeler struct {
	// Client reads bindings and Secret metadata from the manager's cache
	// and writes the patches.
	Client client.Client
	// APIReader reads Secret metadata the cache does not hold (a cache
	// that selects only labelled Secrets misses the ones to label).
	APIReader client.Reader
	// MaxConcurrentReconciles bounds parallel reconciles; default 2.
	MaxConcurrentReconciles int
}

// missingSecretRecheck is how often a named but missing Secret is looked
// for again.
const missingSecretRecheck = 30 * time.Second

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;patch

// Reconcile puts or removes the credentials label of one Secret.
func (l *CredentialsLabeler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var bindings v1alpha1.ChannelBindingList
	if err := l.Client.List(ctx, &bindings, client.InNamespace(req.Namespace),
		client.MatchingFields{index.BindingCredentials: req.Name}); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the bindings of Secret %s: %w", req.Name, err)
	}
	named := false
	for _, b := range bindings.Items {
		named = named || b.DeletionTimestamp.IsZero()
	}
	m, err := l.metadata(ctx, req.NamespacedName)
	if apierrors.IsNotFound(err) {
		if named {
			// A binding names a Secret not created yet. Its creation is an
			// event only for a cache that holds unlabelled Secrets too;
			// look again in a while for one that holds only labelled ones.
			return ctrl.Result{RequeueAfter: missingSecretRecheck}, nil
		}
		return ctrl.Result{}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	patch, ok := labelPatch(m.Labels, named)
	if !ok {
		return ctrl.Result{}, nil
	}
	if err := l.Client.Patch(ctx, m, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{}, nil
}

// labelPatch is the merge patch that brings a Secret's credentials label
// in line with whether a binding names it, and false when it already is.
func labelPatch(labels map[string]string, named bool) ([]byte, bool) {
	var value any
	switch has := labels[builders.LabelCredentials]; {
	case named && has != "true":
		value = "true"
	case !named && has != "":
		value = nil // null deletes it
	default:
		return nil, false
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{builders.LabelCredentials: value}}})
	return patch, true
}

// metadata reads a Secret's metadata from the cache, else the API server.
func (l *CredentialsLabeler) metadata(ctx context.Context, key types.NamespacedName) (*metav1.PartialObjectMetadata, error) {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	err := l.Client.Get(ctx, key, m)
	if err == nil || l.APIReader == nil {
		return m, err
	}
	m = &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m, l.APIReader.Get(ctx, key, m)
}

// SetupWithManager registers the labeler. The field indexes
// (controllers/index) must be registered first.
func (l *CredentialsLabeler) SetupWithManager(mgr ctrl.Manager) error {
	workers := l.MaxConcurrentReconciles
	if workers <= 0 {
		workers = 2
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("credentials-label").
		For(&corev1.Secret{}, builder.OnlyMetadata).
		// Creation, a new credentialsRef (the old and the new Secret are
		// both enqueued) and deletion change which Secrets are named.
		Watches(&v1alpha1.ChannelBinding{}, handler.EnqueueRequestsFromMapFunc(secretOfBinding),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(l)
}

func secretOfBinding(_ context.Context, o client.Object) []reconcile.Request {
	b, ok := o.(*v1alpha1.ChannelBinding)
	if !ok || b.Spec.CredentialsRef.Name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.CredentialsRef.Name}}}
}
