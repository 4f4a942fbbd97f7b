// Package chatflow reconciles ChatFlows: it validates the graph, resolves
// the binding and the LanguageModels of its AI nodes, rolls a Published
// flow out as an executor (an immutable
// ConfigMap per revision, a Deployment and a Service, built by
// controllers/builders and applied with server-side apply), removes the
// executor of an Unpublished flow, deletes ConfigMaps no ReplicaSet uses any
// more, and reports it all in the flow's status.
//
// Reconcile is a pipeline of small steps that gather observations into a
// scope; the status is computed from them by pure functions (status.go)
// and patched once, in a defer. It must not import the webhooks.
package chatflow

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/controllers/index"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// FieldOwner is the server-side apply field manager of everything the
// operator writes.
const FieldOwner = "chatflow-operator"

// Reconciler reconciles ChatFlows.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// SecretReader reads the metadata of Secrets the cache does not hold
	// yet (not labelled builders.LabelReferenced), uncached: the manager's
	// API reader.
	SecretReader client.Reader
	// Recorder records events on flows.
	Recorder events.EventRecorder
	// Config holds the executor defaults.
	Config builders.Config
	// ContactHashKey is the installation's key of the contact id hash in
	// executor logs (builders.ContactHashKey derives each namespace's).
	ContactHashKey []byte
	// MaxConcurrentReconciles bounds parallel reconciles; default 4.
	MaxConcurrentReconciles int
}

// scope carries one reconcile's flow and what the steps found.
type scope struct {
	flow *v1alpha1.ChatFlow

	bindings       []v1alpha1.ChannelBinding
	binding        *v1alpha1.ChannelBinding
	graphErrs      field.ErrorList
	program        *flow.Program   // the compiled graph, nil when invalid
	channel        message.Channel // the channel it sends on
	subflows       subflowState    // the flows it forwards to (subflows.go)
	revision       string
	headerSecrets  []string
	missingSecrets []string
	// secretMetas are the mounted Secrets found (see reconcileSecrets).
	secretMetas []metav1.ObjectMeta
	// models are the LanguageModels the AI nodes name that exist;
	// missingModels and notReadyModels those that do not, or are not Ready.
	models         []v1alpha1.LanguageModel
	missingModels  []index.ModelRef
	notReadyModels []v1alpha1.LanguageModel
	secretsVersion string
	// keys is the flow's keys Secret (builders.KeysSecret), once it exists.
	keys           *metav1.ObjectMeta
	executor       *executorState
	service        string
	replicasCapped bool
	// deploymentApplied says this reconcile changed the Deployment.
	deploymentApplied bool
	checked           checked
}

func (s *scope) observation(err error) observation {
	return observation{
		Bindings:       int32(len(s.bindings)),
		Binding:        s.binding,
		GraphErrors:    s.graphErrs,
		Subflows:       s.subflows,
		Revision:       s.revision,
		MissingSecrets: s.missingSecrets,
		MissingModels:  s.missingModels,
		NotReadyModels: s.notReadyModels,
		Executor:       s.executor,
		Service:        s.service,
		ReplicasCapped: s.replicasCapped,
		Err:            err,
		Checked:        s.checked,
	}
}

// step is one stage of the reconcile pipeline.
type step func(ctx context.Context, s *scope) (ctrl.Result, error)

// +kubebuilder:rbac:groups=chatflow.dev,resources=chatflows,verbs=get;list;watch
// +kubebuilder:rbac:groups=chatflow.dev,resources=chatflows/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=chatflow.dev,resources=chatflows/finalizers,verbs=update
// +kubebuilder:rbac:groups=chatflow.dev,resources=channelbindings,verbs=get;list;watch
// +kubebuilder:rbac:groups=chatflow.dev,resources=languagemodels,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=services;configmaps,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one flow's executor in line with its spec and reports
// the outcome in its status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	f := &v1alpha1.ChatFlow{}
	if err := r.Client.Get(ctx, req.NamespacedName, f); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !f.DeletionTimestamp.IsZero() {
		// The owner references hand the executor objects to the garbage
		// collector; there is nothing to clean up by hand.
		return ctrl.Result{}, nil
	}
	before := f.DeepCopy()
	s := &scope{flow: f}
	defer func() {
		computeStatus(f, s.observation(retErr))
		r.recordEvents(before, f, s)
		if equality.Semantic.DeepEqual(before.Status, f.Status) {
			return
		}
		if err := r.Client.Status().Patch(ctx, f, client.MergeFrom(before)); err != nil {
			retErr = errors.Join(retErr, client.IgnoreNotFound(err))
		}
	}()
	return r.reconcile(ctx, s)
}

// reconcile runs the steps in order and stops at the first error. Every
// step runs on every reconcile: each is cheap when there is nothing to do.
func (r *Reconciler) reconcile(ctx context.Context, s *scope) (ctrl.Result, error) {
	steps := []step{
		r.reconcileBinding,
		r.reconcileGraph,
		r.reconcileKeys,
		r.reconcileSubflows,
		r.reconcileModels,
		r.reconcileSecrets,
		r.reconcileExecutor,
		r.reconcileConfigMaps,
	}
	var result ctrl.Result
	for _, st := range steps {
		res, err := st(ctx, s)
		if err != nil {
			return ctrl.Result{}, err
		}
		result = lowestRequeue(result, res)
	}
	return result, nil
}

func lowestRequeue(a, b ctrl.Result) ctrl.Result {
	switch {
	case a.RequeueAfter == 0:
		return b
	case b.RequeueAfter == 0:
		return a
	case b.RequeueAfter < a.RequeueAfter:
		return b
	}
	return a
}

// recordEvents records what changed, for people reading `kubectl describe`.
// Events mark transitions only, so a stalled flow does not repeat itself.
func (r *Reconciler) recordEvents(before, after *v1alpha1.ChatFlow, s *scope) {
	if r.Recorder == nil {
		return
	}
	if after.Status.Revision != "" && after.Status.Revision != before.Status.Revision {
		r.Recorder.Eventf(after, nil, corev1.EventTypeNormal, "RevisionLive", "RollOut",
			"revision %s is live", after.Status.Revision)
	}
	if before.Status.State == v1alpha1.StatePublished && after.Status.State == v1alpha1.StateUnpublished {
		r.Recorder.Eventf(after, nil, corev1.EventTypeNormal, "ExecutorRemoved", "Unpublish",
			"the executor was removed; sessions stay in the store")
	}
	if c := meta.FindStatusCondition(after.Status.Conditions, v1alpha1.ConditionStalled); c != nil {
		if old := meta.FindStatusCondition(before.Status.Conditions, v1alpha1.ConditionStalled); old == nil || old.Reason != c.Reason {
			r.Recorder.Eventf(after, nil, corev1.EventTypeWarning, c.Reason, "Reconcile", "%s", c.Message)
		}
	}
	if c := meta.FindStatusCondition(after.Status.Conditions, v1alpha1.ConditionReady); c != nil && c.Reason == v1alpha1.ReasonReconcileFailed {
		if old := meta.FindStatusCondition(before.Status.Conditions, v1alpha1.ConditionReady); old == nil || old.Reason != c.Reason {
			r.Recorder.Eventf(after, nil, corev1.EventTypeWarning, c.Reason, "Reconcile", "%s", c.Message)
		}
	}
	if s.deploymentApplied {
		r.Recorder.Eventf(after, nil, corev1.EventTypeNormal, "ExecutorApplied", "RollOut",
			"applied Deployment %s with revision %s", s.executor.Name, s.revision)
		if s.replicasCapped {
			r.Recorder.Eventf(after, nil, corev1.EventTypeWarning, "ReplicasCapped", "RollOut",
				"the memory session store runs one pod: configure a Redis store for more replicas")
		}
	}
}
