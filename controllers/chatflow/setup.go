package chatflow

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/controllers/index"
)

// SetupWithManager registers the ChatFlow controller and its watches. The
// field indexes (controllers/index) must be registered first.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	workers := r.MaxConcurrentReconciles
	if workers <= 0 {
		workers = 4
	}
	return ctrl.NewControllerManagedBy(mgr).
		// Status patches bump no generation: the controller does not wake
		// itself up with its own writes.
		For(&v1alpha1.ChatFlow{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Deployment status (available replicas) drives ExecutorAvailable
		// and Ready, so every Deployment event counts.
		Owns(&appsv1.Deployment{}).
		// A deleted or edited Service or ConfigMap is put back; their
		// creation is the controller's own doing.
		Owns(&corev1.Service{}, builder.WithPredicates(notCreate)).
		Owns(&corev1.ConfigMap{}, builder.WithPredicates(onlyDelete)).
		// ReplicaSets scaling down free old revisions' ConfigMaps.
		Watches(&appsv1.ReplicaSet{}, handler.EnqueueRequestsFromMapFunc(r.flowOfReplicaSet),
			builder.WithPredicates(replicasChanged)).
		Watches(&v1alpha1.ChannelBinding{}, bindingFlows{}).
		// A model's readiness and settings reach the flows that use it.
		Watches(&v1alpha1.LanguageModel{}, handler.EnqueueRequestsFromMapFunc(r.flowsOfModel)).
		// A flow that others forward to is part of their executors.
		Watches(&v1alpha1.ChatFlow{}, handler.EnqueueRequestsFromMapFunc(r.callersOf),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Metadata only: the resourceVersion of a Secret is all a restart
		// decision needs, and the manager never caches Secret data.
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.flowsOfSecret)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Named("chatflow").
		Complete(r)
}

// flowOfReplicaSet maps an executor ReplicaSet to its flow through the
// flow label the pod template gives it. It must work after the Deployment
// is gone: the deletion of its last ReplicaSet frees the ConfigMaps of an
// Unpublished flow.
func (r *Reconciler) flowOfReplicaSet(ctx context.Context, o client.Object) []reconcile.Request {
	value := o.GetLabels()[builders.LabelFlow]
	if value == "" {
		return nil
	}
	req := func(name string) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
	}
	if len(value) < validation.LabelValueMaxLength {
		return req(value) // the label is the flow name itself
	}
	// A long flow name was shortened into the label: find the flow.
	var flows v1alpha1.ChatFlowList
	if err := r.Client.List(ctx, &flows, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	for _, f := range flows.Items {
		if builders.LabelValue(f.Name) == value {
			return req(f.Name)
		}
	}
	return nil
}

// flowsOfSecret maps a Secret to the flows that mount it: through their
// HTTPRequest headers, as the credentials of their binding, as their
// store Secret or its keys Secret (which the flow owns), or as the key of
// a model their AI nodes use.
func (r *Reconciler) flowsOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	ns := o.GetNamespace()
	var reqs []reconcile.Request
	if owner := metav1.GetControllerOf(o); owner != nil && owner.Kind == builders.ChatFlowKind.Kind &&
		owner.APIVersion == builders.ChatFlowKind.GroupVersion().String() {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: owner.Name}})
	}
	var flows v1alpha1.ChatFlowList
	if err := r.Client.List(ctx, &flows, client.InNamespace(ns), client.MatchingFields{index.FlowSecrets: o.GetName()}); err == nil {
		for _, f := range flows.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: f.Name}})
		}
	}
	var bindings v1alpha1.ChannelBindingList
	if err := r.Client.List(ctx, &bindings, client.InNamespace(ns), client.MatchingFields{index.BindingCredentials: o.GetName()}); err == nil {
		for _, b := range bindings.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: b.Spec.FlowRef.Name}})
		}
	}
	var models v1alpha1.LanguageModelList
	if err := r.Client.List(ctx, &models, client.InNamespace(ns), client.MatchingFields{index.ModelKeySecret: o.GetName()}); err == nil {
		for _, m := range models.Items {
			reqs = append(reqs, r.flowsOfModel(ctx, &m)...)
		}
	}
	return reqs
}

// flowsOfModel maps a LanguageModel to the flows whose AI nodes name it,
// and to the flows that forward to those (their executors run them).
func (r *Reconciler) flowsOfModel(ctx context.Context, o client.Object) []reconcile.Request {
	var flows v1alpha1.ChatFlowList
	if err := r.Client.List(ctx, &flows, client.InNamespace(o.GetNamespace()), client.MatchingFields{index.FlowModels: o.GetName()}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(flows.Items))
	for _, f := range flows.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: f.Namespace, Name: f.Name}})
		reqs = append(reqs, r.callersOf(ctx, &f)...)
	}
	return reqs
}

// bindingFlows enqueues the flow a binding names, and on an update that
// changed flowRef also the flow it named before.
type bindingFlows struct{}

func (bindingFlows) Create(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	enqueueFlowOf(e.Object, q)
}

func (bindingFlows) Update(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	enqueueFlowOf(e.ObjectNew, q)
	old, oldOK := e.ObjectOld.(*v1alpha1.ChannelBinding)
	cur, curOK := e.ObjectNew.(*v1alpha1.ChannelBinding)
	if oldOK && curOK && old.Spec.FlowRef.Name != cur.Spec.FlowRef.Name {
		enqueueFlowOf(e.ObjectOld, q)
	}
}

func (bindingFlows) Delete(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	enqueueFlowOf(e.Object, q)
}

func (bindingFlows) Generic(_ context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	enqueueFlowOf(e.Object, q)
}

func enqueueFlowOf(o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	b, ok := o.(*v1alpha1.ChannelBinding)
	if !ok || b.Spec.FlowRef.Name == "" {
		return
	}
	q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.FlowRef.Name}})
}

var (
	notCreate  = predicate.Funcs{CreateFunc: func(event.CreateEvent) bool { return false }}
	onlyDelete = predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
	// replicasChanged passes ReplicaSet events that change how many pods
	// it wants or has: the only ones that free a ConfigMap.
	replicasChanged = predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*appsv1.ReplicaSet)
			n, ok2 := e.ObjectNew.(*appsv1.ReplicaSet)
			if !ok1 || !ok2 {
				return true
			}
			return o.Status.Replicas != n.Status.Replicas ||
				(o.Spec.Replicas == nil) != (n.Spec.Replicas == nil) ||
				(o.Spec.Replicas != nil && *o.Spec.Replicas != *n.Spec.Replicas)
		},
	}
)

var _ handler.EventHandler = bindingFlows{}
