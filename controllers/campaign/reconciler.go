// Package campaign reconciles Campaigns: it judges the campaign's flow
// (it must exist, be Manual and be live), its inputs and schedule, and
// runs a dispatcher goroutine per running campaign (dispatcher.go) that
// reads the audience row by row and hands the contacts to the flow's
// executor through its run API (runtime/runapi), at the campaign's rate,
// outside its quiet hours. The status, computed by pure functions
// (status.go) from what a reconcile observed and the dispatcher reported,
// is patched once per reconcile, in a defer.
//
// It must not import the webhooks, the other reconcilers or the executor.
package campaign

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/controllers/index"
	"github.com/chatflow-dev/chatflow/controllers/policy"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// Reconciler reconciles Campaigns.
type Reconciler struct {
	// Client reads campaigns, flows and bindings from the cache and writes
	// status.
	Client client.Client
	// Reader reads the audience sources' metadata, uncached.
	Reader client.Reader
	// Recorder records events on campaigns.
	Recorder events.EventRecorder
	// Dispatcher runs the campaigns.
	Dispatcher *Dispatcher
	// Now is the clock of start and finish times (time.Now when nil).
	Now func() time.Time
	// RecheckCompleted is how often a completed campaign's sources are
	// looked at for contacts added to them. Default 5m.
	RecheckCompleted time.Duration
	// MaxConcurrentReconciles bounds parallel reconciles; default 4.
	MaxConcurrentReconciles int
}

// scope is one reconcile's campaign and what its steps found.
type scope struct {
	campaign *v1alpha1.Campaign
	flow     *v1alpha1.ChatFlow
	binding  *v1alpha1.ChannelBinding
	obs      observation
}

// +kubebuilder:rbac:groups=chatflow.dev,resources=campaigns,verbs=get;list;watch
// +kubebuilder:rbac:groups=chatflow.dev,resources=campaigns/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=chatflow.dev,resources=chatflows,verbs=get;list;watch
// +kubebuilder:rbac:groups=chatflow.dev,resources=channelbindings,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps;secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile runs or stops one campaign and reports its progress.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	c := &v1alpha1.Campaign{}
	if err := r.Client.Get(ctx, req.NamespacedName, c); err != nil {
		if apierrors.IsNotFound(err) {
			r.Dispatcher.Stop(req.NamespacedName) // deleted: stop starting its contacts
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !c.DeletionTimestamp.IsZero() {
		r.Dispatcher.Stop(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	before := c.DeepCopy()
	s := &scope{campaign: c}
	s.obs.Now = r.now()
	defer func() {
		s.obs.Err = retErr
		computeStatus(c, s.obs)
		r.recordEvents(before, c)
		if equality.Semantic.DeepEqual(before.Status, c.Status) {
			return
		}
		if err := r.Client.Status().Patch(ctx, c, client.MergeFrom(before)); err != nil {
			retErr = errors.Join(retErr, client.IgnoreNotFound(err))
		}
	}()
	if err := r.observeFlow(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	r.checkSpec(s)
	return r.dispatch(ctx, s)
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// observeFlow reads the flow and its binding and judges them
// (policy.CampaignFlowCheck), and computes the rate.
func (r *Reconciler) observeFlow(ctx context.Context, s *scope) error {
	c := s.campaign
	f := &v1alpha1.ChatFlow{}
	switch err := r.Client.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: c.Spec.FlowRef.Name}, f); {
	case apierrors.IsNotFound(err):
		f = nil
	case err != nil:
		return fmt.Errorf("reading ChatFlow %s: %w", c.Spec.FlowRef.Name, err)
	}
	s.flow = f
	reason, msg, stalledFlow, ok := policy.CampaignFlowCheck(c, f)
	s.obs.FlowOK, s.obs.FlowReason, s.obs.FlowMessage, s.obs.FlowStalled = ok, reason, msg, stalledFlow
	if f == nil {
		return nil
	}
	var bindings v1alpha1.ChannelBindingList
	if err := r.Client.List(ctx, &bindings, client.InNamespace(c.Namespace), client.MatchingFields{index.BindingFlowName: f.Name}); err != nil {
		return fmt.Errorf("listing the bindings of ChatFlow %s: %w", f.Name, err)
	}
	s.binding = policy.InEffect(bindings.Items)
	s.obs.Rate, s.obs.Clamped = policy.CampaignRate(&c.Spec, s.binding)
	return nil
}

// checkSpec judges the spec against the flow: the inputs it names must
// be the flow's, and the schedule must read.
func (r *Reconciler) checkSpec(s *scope) {
	if s.flow == nil {
		return
	}
	s.obs.SpecProblem = SpecProblems(&s.campaign.Spec, s.flow.Name, &s.flow.Spec)
}

// SpecProblems says what in a campaign's spec does not fit its flow:
// input names the flow does not declare, quiet hours that do not read; ""
// when nothing. Admission refuses the same (policy).
func SpecProblems(spec *v1alpha1.CampaignSpec, flowName string, fs *v1alpha1.ChatFlowSpec) string {
	errs := policy.CampaignInputErrors(spec, flowName, fs)
	if spec.QuietHours != nil {
		if _, err := policy.ParseQuietHours(spec.QuietHours); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return ""
	}
	var parts []string
	for i, e := range errs {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(errs)-3))
			break
		}
		parts = append(parts, e.Error())
	}
	return strings.Join(parts, "; ")
}

// dispatch runs the campaign's goroutine when it may run, stops it when
// not, and takes its progress.
func (r *Reconciler) dispatch(ctx context.Context, s *scope) (ctrl.Result, error) {
	c := s.campaign
	key := types.NamespacedName{Namespace: c.Namespace, Name: c.Name}
	if !s.obs.FlowOK || s.obs.SpecProblem != "" || c.Spec.Suspend {
		if p, uid, ok := r.Dispatcher.Stop(key); ok && uid == string(c.UID) {
			if p.Phase != v1alpha1.ReasonCompleted {
				p.Phase = "" // what it was doing is over; its counts stand
			}
			s.obs.Progress = &p
		}
		return ctrl.Result{}, nil
	}
	job := r.job(s)
	p, uid, running := r.Dispatcher.Progress(key)
	if running && uid != string(c.UID) {
		running = false // a campaign of the same name, deleted and created again
	}
	switch {
	case running && p.Exited && p.Phase == v1alpha1.ReasonCompleted:
		// Complete: go on only when a source changed (contacts added).
		v, err := SourcesVersion(ctx, r.Reader, c.Namespace, &c.Spec)
		if err != nil {
			return ctrl.Result{}, err
		}
		r.Dispatcher.Ensure(job, v != p.Sources)
	case !running && meta.IsStatusConditionTrue(c.Status.Conditions, v1alpha1.ConditionComplete) &&
		c.Status.ObservedGeneration == c.Generation && c.Status.Checkpoint != nil:
		// Complete before this manager started: the same, from the status.
		v, err := SourcesVersion(ctx, r.Reader, c.Namespace, &c.Spec)
		if err != nil {
			return ctrl.Result{}, err
		}
		if v == c.Status.Checkpoint.Sources {
			return ctrl.Result{RequeueAfter: r.recheck()}, nil
		}
		r.Dispatcher.Ensure(job, true)
	default:
		r.Dispatcher.Ensure(job, false)
	}
	if p, uid, ok := r.Dispatcher.Progress(key); ok && uid == string(c.UID) {
		s.obs.Progress = &p
		if p.Exited && p.Phase == v1alpha1.ReasonCompleted {
			return ctrl.Result{RequeueAfter: r.recheck()}, nil
		}
	}
	// The dispatcher nudges on progress; this is a safety net.
	return ctrl.Result{RequeueAfter: 30 * time.Second}, nil
}

func (r *Reconciler) recheck() time.Duration {
	if r.RecheckCompleted > 0 {
		return r.RecheckCompleted
	}
	return 5 * time.Minute
}

// job is the dispatcher's job of a campaign whose flow can take runs.
func (r *Reconciler) job(s *scope) Job {
	c, f := s.campaign, s.flow
	j := Job{
		Key:         types.NamespacedName{Namespace: c.Namespace, Name: c.Name},
		UID:         string(c.UID),
		Spec:        *c.Spec.DeepCopy(),
		Service:     builders.ExecutorName(f.Name),
		TokenSecret: builders.CredentialsSecret(f, s.binding),
		Rate:        s.obs.Rate,
	}
	if s.binding != nil {
		j.Channel = message.Channel(s.binding.Spec.Channel)
	}
	for _, in := range f.Spec.Trigger.Inputs {
		j.Inputs = append(j.Inputs, input{name: in.Name, required: in.Required})
	}
	if cp := c.Status.Checkpoint; cp != nil {
		j.From = Checkpoint{Rows: cp.Rows, Digest: cp.Digest, Started: c.Status.Started, Skipped: c.Status.Skipped}
	}
	return j
}

// recordEvents records transitions for `kubectl describe`.
func (r *Reconciler) recordEvents(before, after *v1alpha1.Campaign) {
	if r.Recorder == nil {
		return
	}
	if before.Status.StartTime == nil && after.Status.StartTime != nil {
		r.Recorder.Eventf(after, nil, corev1.EventTypeNormal, "Started", "Dispatch", "started its first contact")
	}
	if !meta.IsStatusConditionTrue(before.Status.Conditions, v1alpha1.ConditionComplete) &&
		meta.IsStatusConditionTrue(after.Status.Conditions, v1alpha1.ConditionComplete) {
		r.Recorder.Eventf(after, nil, corev1.EventTypeNormal, v1alpha1.ReasonCompleted, "Dispatch",
			"completed: %d done, %d failed, %d skipped", after.Status.Done, after.Status.Failed, after.Status.Skipped.Total)
	}
	for _, t := range []string{v1alpha1.ConditionStalled, v1alpha1.ConditionRateClamped} {
		c := meta.FindStatusCondition(after.Status.Conditions, t)
		if c == nil || c.Status != "True" {
			continue
		}
		if old := meta.FindStatusCondition(before.Status.Conditions, t); old == nil || old.Reason != c.Reason || old.Status != c.Status {
			r.Recorder.Eventf(after, nil, corev1.EventTypeWarning, c.Reason, "Reconcile", "%s", c.Message)
		}
	}
}

// SetupWithManager registers the controller, its watches and the
// dispatcher with a manager whose indexes are set up.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	workers := r.MaxConcurrentReconciles
	if workers <= 0 {
		workers = 4
	}
	if err := mgr.Add(r.Dispatcher); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Campaign{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// A flow published, unpublished or edited: its campaigns go on, wait, or change.
		Watches(&v1alpha1.ChatFlow{}, handler.EnqueueRequestsFromMapFunc(r.campaignsOfFlow)).
		// A binding changes the channel and the rate.
		Watches(&v1alpha1.ChannelBinding{}, handler.EnqueueRequestsFromMapFunc(r.campaignsOfBinding)).
		// The dispatcher's progress.
		WatchesRawSource(source.Channel(r.Dispatcher.Events(), &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Named("campaign").
		Complete(r)
}

func (r *Reconciler) campaignsOfFlow(ctx context.Context, o client.Object) []reconcile.Request {
	return r.campaignsOf(ctx, o.GetNamespace(), o.GetName())
}

func (r *Reconciler) campaignsOfBinding(ctx context.Context, o client.Object) []reconcile.Request {
	b, ok := o.(*v1alpha1.ChannelBinding)
	if !ok {
		return nil
	}
	return r.campaignsOf(ctx, b.Namespace, b.Spec.FlowRef.Name)
}

func (r *Reconciler) campaignsOf(ctx context.Context, ns, flow string) []reconcile.Request {
	var list v1alpha1.CampaignList
	if err := r.Client.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{index.CampaignFlow: flow}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, c := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: c.Name}})
	}
	return reqs
}
