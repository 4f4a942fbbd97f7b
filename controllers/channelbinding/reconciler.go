// Package channelbinding reconciles ChannelBindings: it decides with the
// policy chain of controllers/policy whether a binding can serve its flow
// (the flow exists, the channel matches its trigger, no earlier binding
// holds the flow or the account, the credentials Secret has the channel's
// keys) and reports Ready, Stalled, the webhook path and the gateway URL
// to register in its status. For a WhatsApp binding with
// spec.webhookOverride it registers that URL as the number's override
// callback with the Graph API (override.go).
//
// It reads Secret data only to check key names, with an uncached read when
// the Secret changed (controllers/internal/secretkeys), and to register an
// override (the access and verify tokens, read uncached and dropped), so the
// manager holds no Secret data in memory. It must not import the webhooks
// or the ChatFlow controller.
package channelbinding

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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
	"github.com/chatflow-dev/chatflow/controllers/policy"
)

// Reconciler reconciles ChannelBindings.
type Reconciler struct {
	// Client reads from the manager's cache.
	Client client.Client
	// SecretReader reads Secrets without a cache (the manager's API reader).
	SecretReader client.Reader
	// Recorder records events on bindings.
	Recorder events.EventRecorder
	// MaxConcurrentReconciles bounds parallel reconciles; default 4.
	MaxConcurrentReconciles int
	// GatewayPublicURL is the Chatflow gateway's public base URL
	// (https://chat.example.com); status.webhookURL is it plus the
	// channel's path. Empty: the URL is not known.
	GatewayPublicURL string
	// Graph is the HTTP client of Graph API calls (webhook overrides);
	// default: one with a 30s timeout.
	Graph *http.Client

	keysOnce sync.Once
	keys     *secretkeys.Reader
	// overrides remembers, by binding UID, the registration this manager
	// made last (override.go): a reconcile on a cache that has not seen
	// its status patch yet, or after a Secret change Meta need not hear
	// of, must not register it a second time.
	overrides  sync.Map
	digestOnce sync.Once
	digestKey  []byte
}

// secrets reads the key names of credentials Secrets: their metadata from
// the cache, their data only when they changed.
func (r *Reconciler) secrets() *secretkeys.Reader {
	r.keysOnce.Do(func() { r.keys = secretkeys.New(r.Client, r.SecretReader) })
	return r.keys
}

// +kubebuilder:rbac:groups=chatflow.dev,resources=channelbindings,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=chatflow.dev,resources=channelbindings/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=chatflow.dev,resources=chatflows,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile judges one binding and reports the verdict in its status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	b := &v1alpha1.ChannelBinding{}
	if err := r.Client.Get(ctx, req.NamespacedName, b); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !b.DeletionTimestamp.IsZero() {
		return r.finalizeOverride(ctx, b)
	}
	before := b.DeepCopy()
	var in policy.BindingInput
	defer func() {
		computeStatus(b, in, r.GatewayPublicURL, retErr)
		conditionevents.Record(r.Recorder, b, before.Status.Conditions, b.Status.Conditions, "Bound", "Bind")
		if equality.Semantic.DeepEqual(before.Status, b.Status) {
			return
		}
		if err := r.Client.Status().Patch(ctx, b, client.MergeFrom(before)); err != nil {
			retErr = errors.Join(retErr, client.IgnoreNotFound(err))
		}
	}()
	var err error
	if in, err = r.gather(ctx, b); err != nil {
		return ctrl.Result{}, err
	}
	return r.reconcileOverride(ctx, b, in)
}

// gather reads what the binding's readiness depends on.
func (r *Reconciler) gather(ctx context.Context, b *v1alpha1.ChannelBinding) (policy.BindingInput, error) {
	in := policy.BindingInput{Binding: b}
	f := &v1alpha1.ChatFlow{}
	switch err := r.Client.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.FlowRef.Name}, f); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return in, fmt.Errorf("reading ChatFlow %s: %w", b.Spec.FlowRef.Name, err)
	default:
		in.Flow = f
	}
	var sameFlow v1alpha1.ChannelBindingList
	if err := r.Client.List(ctx, &sameFlow, client.InNamespace(b.Namespace),
		client.MatchingFields{index.BindingFlowName: b.Spec.FlowRef.Name}); err != nil {
		return in, fmt.Errorf("listing the bindings of ChatFlow %s: %w", b.Spec.FlowRef.Name, err)
	}
	in.FlowBindings = sameFlow.Items
	// In every namespace: an account serves one flow in the cluster.
	var sameAccount v1alpha1.ChannelBindingList
	if err := r.Client.List(ctx, &sameAccount,
		client.MatchingFields{index.BindingAccount: index.AccountKey(b.Spec.Channel, b.Spec.Account.ID)}); err != nil {
		return in, fmt.Errorf("listing the bindings of the account: %w", err)
	}
	in.AccountBindings = sameAccount.Items
	secret, err := r.secrets().Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.CredentialsRef.Name})
	in.Secret = secret
	return in, err
}

// WebhookURL is the URL to register as a binding's callback: the
// gateway's public URL and the channel's path; "" when the public URL is
// not known.
func WebhookURL(gatewayPublicURL string, b *v1alpha1.ChannelBinding) string {
	if gatewayPublicURL == "" {
		return ""
	}
	return strings.TrimRight(gatewayPublicURL, "/") + policy.WebhookPath(b.Spec.Channel, b.Spec.Account.ID)
}

// computeStatus sets the binding's status from what was gathered. It is
// pure.
func computeStatus(b *v1alpha1.ChannelBinding, in policy.BindingInput, gatewayPublicURL string, err error) {
	b.Status.WebhookPath = policy.WebhookPath(b.Spec.Channel, b.Spec.Account.ID)
	b.Status.WebhookURL = WebhookURL(gatewayPublicURL, b)
	if err != nil {
		setCondition(b, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonReconcileFailed,
			fmt.Sprintf("reconcile failed, retrying: %v", err))
		meta.RemoveStatusCondition(&b.Status.Conditions, v1alpha1.ConditionStalled)
		return
	}
	b.Status.ObservedGeneration = b.Generation
	if reason, msg, ok := policy.BindingChecks.Evaluate(in); !ok {
		setCondition(b, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
		setCondition(b, v1alpha1.ConditionStalled, metav1.ConditionTrue, reason, msg)
		return
	}
	where := fmt.Sprintf("path %s of the Chatflow gateway", b.Status.WebhookPath)
	if b.Status.WebhookURL != "" {
		where = b.Status.WebhookURL
	}
	setCondition(b, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSucceeded,
		fmt.Sprintf("bound to ChatFlow %s: the %s callback URL is %s", in.Flow.Name, b.Spec.Channel, where))
	meta.RemoveStatusCondition(&b.Status.Conditions, v1alpha1.ConditionStalled)
}

func setCondition(b *v1alpha1.ChannelBinding, t string, s metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&b.Status.Conditions, metav1.Condition{
		Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: b.Generation,
	})
}

// SetupWithManager registers the ChannelBinding controller and its
// watches. The field indexes (controllers/index) must be registered first.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	workers := r.MaxConcurrentReconciles
	if workers <= 0 {
		workers = 4
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.ChannelBinding{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// A flow's creation, deletion or trigger change changes its bindings' verdict.
		Watches(&v1alpha1.ChatFlow{}, handler.EnqueueRequestsFromMapFunc(r.bindingsOfFlow),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// A binding that goes away or moves frees its flow and account for
		// the next one in line.
		Watches(&v1alpha1.ChannelBinding{}, handler.EnqueueRequestsFromMapFunc(r.rivals),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.bindingsOfSecret)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Named("channelbinding").
		Complete(r)
}

func (r *Reconciler) bindingsOfFlow(ctx context.Context, o client.Object) []reconcile.Request {
	return r.list(ctx, o.GetNamespace(), client.MatchingFields{index.BindingFlowName: o.GetName()}, types.NamespacedName{})
}

func (r *Reconciler) bindingsOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	return r.list(ctx, o.GetNamespace(), client.MatchingFields{index.BindingCredentials: o.GetName()}, types.NamespacedName{})
}

// rivals are the other bindings of the same flow, and of the same account
// in every namespace.
func (r *Reconciler) rivals(ctx context.Context, o client.Object) []reconcile.Request {
	b, ok := o.(*v1alpha1.ChannelBinding)
	if !ok {
		return nil
	}
	self := types.NamespacedName{Namespace: b.Namespace, Name: b.Name}
	reqs := r.list(ctx, b.Namespace, client.MatchingFields{index.BindingFlowName: b.Spec.FlowRef.Name}, self)
	return append(reqs, r.list(ctx, "",
		client.MatchingFields{index.BindingAccount: index.AccountKey(b.Spec.Channel, b.Spec.Account.ID)}, self)...)
}

// list returns the bindings of namespace ns ("" for all) that match
// fields, except the binding except.
func (r *Reconciler) list(ctx context.Context, ns string, fields client.MatchingFields, except types.NamespacedName) []reconcile.Request {
	var list v1alpha1.ChannelBindingList
	opts := []client.ListOption{fields}
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := r.Client.List(ctx, &list, opts...); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, b := range list.Items {
		if nn := (types.NamespacedName{Namespace: b.Namespace, Name: b.Name}); nn != except {
			reqs = append(reqs, reconcile.Request{NamespacedName: nn})
		}
	}
	return reqs
}
