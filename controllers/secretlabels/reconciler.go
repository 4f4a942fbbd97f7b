// Package secretlabels keeps builders.LabelReferenced on exactly the Secrets
// that Chatflow objects reference (secretrefs.Kinds), so that the manager
// caches and watches those Secrets, as metadata, and no other.
//
// The manager cannot see an unlabelled Secret through its cache, so this
// controller reconciles Secret names, not Secrets: an object that starts
// referencing a Secret enqueues its name, and the Secret gets the label by
// a merge patch of that one label, without being read. A referenced Secret
// that does not exist yet is retried with a growing delay (1s up to a
// minute) until it appears and is labelled; from then on the cache's
// events wake the flows and bindings that use it. A Secret nothing
// references any more loses the label, unless the operator made it.
//
// A Secret a ChannelBinding names as its credentials also carries
// builders.LabelCredentials, in the same patch: the gateway watches those
// Secrets and no other. It goes when no binding names the Secret any more.
//
// It must not import the other reconcilers or the webhooks.
package secretlabels

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/controllers/secretrefs"
)

// Reconciler labels referenced Secrets and unlabels the others.
type Reconciler struct {
	// Client reads objects and Secret metadata from the manager's cache
	// (with the indexes of controllers/index) and patches Secrets.
	Client client.Client
	// MaxConcurrentReconciles bounds parallel reconciles; default 2.
	MaxConcurrentReconciles int

	missingOnce sync.Once
	missing     workqueue.TypedRateLimiter[types.NamespacedName]
}

// retries paces the retries of referenced Secrets that do not exist.
func (r *Reconciler) retries() workqueue.TypedRateLimiter[types.NamespacedName] {
	r.missingOnce.Do(func() {
		r.missing = workqueue.NewTypedItemExponentialFailureRateLimiter[types.NamespacedName](time.Second, time.Minute)
	})
	return r.missing
}

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;patch

// Reconcile brings the labels of one Secret in line with its references.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	inUse, err := secretrefs.InUse(ctx, r.Client, req.Namespace, req.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	cached := secretMeta(req.NamespacedName)
	switch err := r.Client.Get(ctx, req.NamespacedName, cached); {
	case apierrors.IsNotFound(err):
		cached = nil // unlabelled, or absent
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("reading Secret %s: %w", req.Name, err)
	}
	labelled := cached != nil && cached.Labels[builders.LabelReferenced] == "true"
	changes := map[string]any{}
	switch decide(inUse, labelled, cached != nil && isOperators(cached)) {
	case addLabel:
		changes[builders.LabelReferenced] = "true"
	case removeLabel:
		changes[builders.LabelReferenced] = nil
	}
	credentials, err := namedAsCredentials(ctx, r.Client, req.Namespace, req.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	if has := cached != nil && cached.Labels[builders.LabelCredentials] == "true"; credentials && !has {
		changes[builders.LabelCredentials] = "true"
	} else if !credentials && has {
		changes[builders.LabelCredentials] = nil
	}
	if len(changes) > 0 {
		adding := changes[builders.LabelReferenced] != nil || changes[builders.LabelCredentials] != nil
		switch err := r.patchLabels(ctx, req.NamespacedName, changes); {
		case apierrors.IsNotFound(err) && adding:
			// Referenced but not created yet: look again later.
			return ctrl.Result{RequeueAfter: r.retries().When(req.NamespacedName)}, nil
		case client.IgnoreNotFound(err) != nil:
			return ctrl.Result{}, err
		}
		logf.FromContext(ctx).V(1).Info("labelled a Secret", "secret", req.Name, "labels", changes)
	}
	r.retries().Forget(req.NamespacedName)
	return ctrl.Result{}, nil
}

// namedAsCredentials says whether a ChannelBinding (not being deleted)
// names the Secret in spec.credentialsRef.
func namedAsCredentials(ctx context.Context, c client.Reader, namespace, name string) (bool, error) {
	var bindings v1alpha1.ChannelBindingList
	if err := c.List(ctx, &bindings, client.InNamespace(namespace),
		client.MatchingFields{secretrefs.ChannelBindingField: name}); err != nil {
		return false, fmt.Errorf("listing the bindings of Secret %s: %w", name, err)
	}
	for _, b := range bindings.Items {
		if b.DeletionTimestamp.IsZero() {
			return true, nil
		}
	}
	return false, nil
}

// action is what a Secret's label needs.
type action int

const (
	keep action = iota
	addLabel
	removeLabel
)

// decide is the labelling rule: a referenced Secret carries the label; an
// unreferenced one loses it, unless the operator made it (those carry the
// label for the cache, not because a user's object names them).
func decide(inUse, labelled, operators bool) action {
	switch {
	case inUse && !labelled:
		return addLabel
	case !inUse && labelled && !operators:
		return removeLabel
	}
	return keep
}

// isOperators says whether the operator made the Secret.
func isOperators(m *metav1.PartialObjectMetadata) bool {
	return m.Labels[builders.LabelManagedBy] == builders.ManagedBy
}

// patchLabels sets (value "true") or removes (nil) labels with a merge
// patch of those labels alone: nothing else of the Secret is read or
// written.
func (r *Reconciler) patchLabels(ctx context.Context, key types.NamespacedName, changes map[string]any) error {
	patch, err := labelPatch(changes)
	if err != nil {
		return err
	}
	if err := r.Client.Patch(ctx, secretMeta(key), client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("labelling Secret %s: %w", key.Name, err)
	}
	return nil
}

func labelPatch(changes map[string]any) ([]byte, error) {
	return json.Marshal(map[string]any{"metadata": map[string]any{"labels": changes}})
}

func secretMeta(key types.NamespacedName) *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	m.Namespace, m.Name = key.Namespace, key.Name
	return m
}

// SetupWithManager registers the controller: it watches every kind of
// secretrefs.Kinds (the field indexes of controllers/index must be
// registered) and the labelled Secrets, as metadata.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	workers := r.MaxConcurrentReconciles
	if workers <= 0 {
		workers = 2
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named("secretlabels").
		// A labelled Secret that is deleted, or loses its label, is looked
		// at again: it may still be referenced.
		WatchesMetadata(&corev1.Secret{}, &handler.EnqueueRequestForObject{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers})
	for _, k := range secretrefs.Kinds {
		b = b.Watches(k.Object, referencedSecrets{refs: k.Refs})
	}
	return b.Complete(r)
}

// referencedSecrets enqueues the Secrets an object references, before and
// after an update: a reference that goes may free its Secret.
type referencedSecrets struct {
	refs func(client.Object) []secretrefs.Ref
}

func (h referencedSecrets) Create(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.add(q, e.Object)
}

func (h referencedSecrets) Update(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.add(q, e.ObjectOld, e.ObjectNew)
}

func (h referencedSecrets) Delete(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.add(q, e.Object)
}

func (h referencedSecrets) Generic(_ context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.add(q, e.Object)
}

func (h referencedSecrets) add(q workqueue.TypedRateLimitingInterface[reconcile.Request], objs ...client.Object) {
	for _, o := range objs {
		if o == nil {
			continue
		}
		for _, name := range secretrefs.Names(h.refs(o)) {
			q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}})
		}
	}
}

var _ handler.EventHandler = referencedSecrets{}
