package chatflow

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// Conditions of a ChatFlow, with their polarity. Ready is the summary that
// kubectl wait, Flux and Argo CD read; Reconciling and Stalled are the
// kstatus "abnormal-true" conditions and are removed when they do not hold.
var (
	// ownedConditions are every condition type this controller sets. Ready,
	// Valid, Bound and ExecutorAvailable are positive (True is good);
	// Reconciling and Stalled negative (True is bad, absent is normal).
	ownedConditions = []string{
		v1alpha1.ConditionReady, v1alpha1.ConditionValid, v1alpha1.ConditionBound,
		v1alpha1.ConditionExecutorAvailable, v1alpha1.ConditionReconciling, v1alpha1.ConditionStalled,
	}
)

// maxListedErrors bounds the graph errors a condition message lists.
const maxListedErrors = 10

// computeStatus sets the whole status of a flow from an observation: the
// conditions, the live state, revision and executor, and observedGeneration
// when the reconcile succeeded. It is pure: same flow and observation, same
// status (transition times aside).
func computeStatus(f *v1alpha1.ChatFlow, o observation) {
	if o.Checked.Graph {
		setValidCondition(f, o.GraphErrors, o.Revision)
	}
	if o.Checked.Binding {
		setBoundCondition(f, o)
	}
	if o.Checked.Executor {
		setExecutorAvailableCondition(f, o)
		setLiveStatus(f, o)
	}
	setSummaryConditions(f, o)
	if o.Err == nil {
		f.Status.ObservedGeneration = f.Generation
	}
}

// setValidCondition owns Valid: True when the graph compiles, else False
// with the list of errors and their field paths.
func setValidCondition(f *v1alpha1.ChatFlow, errs field.ErrorList, revision string) {
	if len(errs) == 0 {
		setCondition(f, v1alpha1.ConditionValid, metav1.ConditionTrue, v1alpha1.ReasonSucceeded,
			fmt.Sprintf("the graph is valid (revision %s)", revision))
		return
	}
	setCondition(f, v1alpha1.ConditionValid, metav1.ConditionFalse, v1alpha1.ReasonInvalidGraph, describeErrors(errs))
}

// setBoundCondition owns Bound: True when the binding in effect is ready
// (or a Manual flow has none), else False saying what is missing.
func setBoundCondition(f *v1alpha1.ChatFlow, o observation) {
	g := bindingGate(f, o)
	if g.ok {
		setCondition(f, v1alpha1.ConditionBound, metav1.ConditionTrue, g.reason, g.message)
		return
	}
	setCondition(f, v1alpha1.ConditionBound, metav1.ConditionFalse, g.reason, g.message)
}

// setExecutorAvailableCondition owns ExecutorAvailable: True when the
// Deployment controller has observed the executor Deployment and enough of
// its pods are available.
func setExecutorAvailableCondition(f *v1alpha1.ChatFlow, o observation) {
	ex := o.Executor
	capped := ""
	if o.ReplicasCapped {
		capped = "; replicas capped at 1: the memory session store keeps sessions in one pod (configure a Redis store for more)"
	}
	switch {
	case f.Spec.State != v1alpha1.StatePublished && ex != nil:
		setCondition(f, v1alpha1.ConditionExecutorAvailable, metav1.ConditionFalse, v1alpha1.ReasonRemovingExecutor,
			fmt.Sprintf("the flow is Unpublished: removing Deployment %s", ex.Name))
	case f.Spec.State != v1alpha1.StatePublished:
		setCondition(f, v1alpha1.ConditionExecutorAvailable, metav1.ConditionFalse, v1alpha1.ReasonUnpublished,
			"the flow is Unpublished: no executor runs")
	case ex == nil:
		setCondition(f, v1alpha1.ConditionExecutorAvailable, metav1.ConditionFalse, v1alpha1.ReasonDeploymentUnavailable,
			"no executor Deployment yet")
	case ex.ProgressDeadlineExceeded:
		setCondition(f, v1alpha1.ConditionExecutorAvailable, boolStatus(ex.available()), v1alpha1.ReasonProgressDeadlineExceeded,
			fmt.Sprintf("Deployment %s stopped progressing: %s", ex.Name, ex.ProgressMessage))
	case ex.available():
		setCondition(f, v1alpha1.ConditionExecutorAvailable, metav1.ConditionTrue, v1alpha1.ReasonDeploymentAvailable,
			fmt.Sprintf("%d of %d pods of Deployment %s available%s", ex.Available, ex.Desired, ex.Name, capped))
	case !ex.Observed:
		setCondition(f, v1alpha1.ConditionExecutorAvailable, metav1.ConditionFalse, v1alpha1.ReasonDeploymentProgressing,
			ex.progress()+capped)
	default:
		setCondition(f, v1alpha1.ConditionExecutorAvailable, metav1.ConditionFalse, v1alpha1.ReasonDeploymentUnavailable,
			fmt.Sprintf("%d of %d pods of Deployment %s available%s", ex.Available, ex.Desired, ex.Name, capped))
	}
}

// setLiveStatus sets what is live: the state, the revision whose rollout
// completed (kept while a newer one rolls out or is refused), the executor
// objects and the binding count.
func setLiveStatus(f *v1alpha1.ChatFlow, o observation) {
	s := &f.Status
	s.Bindings = o.Bindings
	ex := o.Executor
	if ex == nil || ex.Deleting {
		s.State = v1alpha1.StateUnpublished
		s.Revision = ""
		s.Executor = nil
		return
	}
	s.State = v1alpha1.StatePublished
	liveConfigMap := ""
	if s.Executor != nil {
		liveConfigMap = s.Executor.ConfigMap
	}
	if ex.rolledOut() && ex.Revision != "" {
		s.Revision, liveConfigMap = ex.Revision, ex.ConfigMap
	}
	s.Executor = &v1alpha1.ExecutorStatus{
		Deployment:      ex.Name,
		Service:         o.Service,
		ConfigMap:       liveConfigMap,
		Replicas:        ex.Desired,
		ReadyReplicas:   ex.Ready,
		UpdatedReplicas: ex.Updated,
	}
}

// setSummaryConditions owns Ready, Reconciling and Stalled. Stalled says
// the user must change something; Reconciling that the operator is still
// working; Ready that the declared state is served.
func setSummaryConditions(f *v1alpha1.ChatFlow, o observation) {
	published := f.Spec.State == v1alpha1.StatePublished
	live := f.Status.Revision
	ex := o.Executor
	g := firstFailedGate(f, o)
	switch {
	case o.Err != nil:
		msg := fmt.Sprintf("reconcile failed, retrying: %v", o.Err)
		progressing(f, v1alpha1.ReasonReconcileFailed, msg)
	case g != nil && g.stalled:
		readyReason, readyMsg := g.reason, g.message
		if published && live != "" {
			if g.reason == v1alpha1.ReasonInvalidGraph {
				readyReason = v1alpha1.ReasonLastGoodRevisionLive
				readyMsg = fmt.Sprintf("revision %s stays live: the new graph is invalid: %s", live, g.message)
			} else {
				readyMsg = fmt.Sprintf("%s; revision %s stays live", g.message, live)
			}
		}
		stalled(f, g.reason, g.message, readyReason, readyMsg)
	case !published && ex != nil:
		progressing(f, v1alpha1.ReasonRemovingExecutor, fmt.Sprintf("the flow is Unpublished: removing Deployment %s", ex.Name))
	case !published:
		ready(f, v1alpha1.ReasonUnpublished, "the flow is saved and not live: publish it with spec.state: Published")
	case g != nil:
		progressing(f, g.reason, g.message)
	case ex == nil || ex.Deleting:
		progressing(f, v1alpha1.ReasonDeploymentProgressing, "creating the executor")
	case ex.ProgressDeadlineExceeded:
		msg := fmt.Sprintf("the rollout of revision %s stopped progressing: %s", ex.Revision, ex.ProgressMessage)
		if live != "" && live != ex.Revision {
			msg += fmt.Sprintf("; revision %s stays live", live)
		}
		stalled(f, v1alpha1.ReasonProgressDeadlineExceeded, msg, v1alpha1.ReasonProgressDeadlineExceeded, msg)
	case ex.Revision != o.Revision || !ex.rolledOut():
		progressing(f, v1alpha1.ReasonDeploymentProgressing, ex.progress())
	default:
		ready(f, v1alpha1.ReasonSucceeded,
			fmt.Sprintf("revision %s is live: %d of %d pods available", ex.Revision, ex.Available, ex.Desired))
	}
}

// ready: the declared state is served.
func ready(f *v1alpha1.ChatFlow, reason, msg string) {
	setCondition(f, v1alpha1.ConditionReady, metav1.ConditionTrue, reason, msg)
	meta.RemoveStatusCondition(&f.Status.Conditions, v1alpha1.ConditionReconciling)
	meta.RemoveStatusCondition(&f.Status.Conditions, v1alpha1.ConditionStalled)
}

// progressing: the operator works towards the declared state.
func progressing(f *v1alpha1.ChatFlow, reason, msg string) {
	setCondition(f, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	setCondition(f, v1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, msg)
	meta.RemoveStatusCondition(&f.Status.Conditions, v1alpha1.ConditionStalled)
}

// stalled: nothing changes until the user does.
func stalled(f *v1alpha1.ChatFlow, reason, msg, readyReason, readyMsg string) {
	setCondition(f, v1alpha1.ConditionReady, metav1.ConditionFalse, readyReason, readyMsg)
	setCondition(f, v1alpha1.ConditionStalled, metav1.ConditionTrue, reason, msg)
	meta.RemoveStatusCondition(&f.Status.Conditions, v1alpha1.ConditionReconciling)
}

// gate is the outcome of one rollout precondition.
type gate struct {
	ok      bool
	stalled bool // only the user can fix it
	reason  string
	message string
}

// rolloutGates are the preconditions of rolling out a revision, in order:
// a valid graph, the flows it forwards to, a ready binding, the Secrets the
// headers read, the LanguageModels the AI nodes use.
var rolloutGates = []func(*v1alpha1.ChatFlow, observation) gate{graphGate, subflowsGate, bindingGate, secretsGate, modelsGate}

// firstFailedGate returns the first unmet precondition, nil when the flow
// can roll out.
func firstFailedGate(f *v1alpha1.ChatFlow, o observation) *gate {
	for _, check := range rolloutGates {
		if g := check(f, o); !g.ok {
			return &g
		}
	}
	return nil
}

// graphGate: the graph compiles.
func graphGate(_ *v1alpha1.ChatFlow, o observation) gate {
	if len(o.GraphErrors) == 0 {
		return gate{ok: true}
	}
	return gate{stalled: true, reason: v1alpha1.ReasonInvalidGraph, message: describeErrors(o.GraphErrors)}
}

// bindingGate: the binding in effect matches the trigger and is ready, or
// the flow is Manual and has none.
func bindingGate(f *v1alpha1.ChatFlow, o observation) gate {
	trigger := f.Spec.Trigger.Type
	b := o.Binding
	if b == nil {
		if trigger == v1alpha1.TriggerManual {
			// Without a binding the run API's runToken comes from the
			// flow's own Secret: without that, every run would be refused.
			r := f.Spec.Trigger.CredentialsRef
			if r == nil || r.Name == "" {
				return gate{stalled: f.Spec.State == v1alpha1.StatePublished, reason: v1alpha1.ReasonCredentialsMissing,
					message: "a Manual flow without a ChannelBinding takes its run API's runToken from spec.trigger.credentialsRef: " +
						"name a Secret with a runToken key there, or bind an account to send through"}
			}
			return gate{ok: true, reason: v1alpha1.ReasonNotNeeded, message: fmt.Sprintf(
				"a Manual flow needs no binding: runs start through the executor's run API with the runToken of Secret %s, "+
					"and without a channel to send through the flow can only call HTTP APIs", r.Name)}
		}
		return gate{stalled: f.Spec.State == v1alpha1.StatePublished, reason: v1alpha1.ReasonBindingMissing,
			message: fmt.Sprintf("no ChannelBinding names this flow: create one that binds a %s account to it", trigger)}
	}
	published := f.Spec.State == v1alpha1.StatePublished
	if trigger != v1alpha1.TriggerManual && string(b.Spec.Channel) != string(trigger) {
		return gate{stalled: published, reason: v1alpha1.ReasonChannelMismatch,
			message: fmt.Sprintf("ChannelBinding %s binds a %s account but the flow's trigger is %s", b.Name, b.Spec.Channel, trigger)}
	}
	if b.Status.ObservedGeneration != b.Generation {
		return gate{reason: v1alpha1.ReasonBindingNotReady,
			message: fmt.Sprintf("waiting for ChannelBinding %s to be reconciled", b.Name)}
	}
	ready := meta.FindStatusCondition(b.Status.Conditions, v1alpha1.ConditionReady)
	if ready != nil && ready.Status == metav1.ConditionTrue {
		return gate{ok: true, reason: v1alpha1.ReasonSucceeded,
			message: fmt.Sprintf("bound to %s account %s by ChannelBinding %s", b.Spec.Channel, accountName(b), b.Name)}
	}
	msg := fmt.Sprintf("ChannelBinding %s is not ready", b.Name)
	if ready != nil && ready.Message != "" {
		msg += ": " + ready.Message
	}
	return gate{stalled: published && meta.IsStatusConditionTrue(b.Status.Conditions, v1alpha1.ConditionStalled),
		reason: v1alpha1.ReasonBindingNotReady, message: msg}
}

// secretsGate: every Secret an HTTPRequest header reads exists.
func secretsGate(f *v1alpha1.ChatFlow, o observation) gate {
	if len(o.MissingSecrets) == 0 {
		return gate{ok: true}
	}
	noun := "Secret"
	if len(o.MissingSecrets) > 1 {
		noun = "Secrets"
	}
	return gate{stalled: f.Spec.State == v1alpha1.StatePublished, reason: v1alpha1.ReasonSecretNotFound,
		message: fmt.Sprintf("%s %s read by HTTPRequest headers do not exist: create them in the flow's namespace",
			noun, strings.Join(o.MissingSecrets, ", "))}
}

// modelsGate: every LanguageModel the AI nodes name exists and is Ready.
// A missing model stalls a Published flow (GitOps may apply it later, which
// unblocks the flow); one that is not Ready stalls it when the model is
// Stalled, and otherwise waits for it.
func modelsGate(f *v1alpha1.ChatFlow, o observation) gate {
	published := f.Spec.State == v1alpha1.StatePublished
	if len(o.MissingModels) > 0 {
		var parts []string
		for _, m := range o.MissingModels {
			parts = append(parts, fmt.Sprintf("LanguageModel %s (%s)", m.Name, m))
		}
		verb := "does"
		if len(parts) > 1 {
			verb = "do"
		}
		return gate{stalled: published, reason: v1alpha1.ReasonModelNotFound,
			message: fmt.Sprintf("%s %s not exist: create it in the flow's namespace, or name another model", strings.Join(parts, ", "), verb)}
	}
	if len(o.NotReadyModels) > 0 {
		m := &o.NotReadyModels[0]
		msg := fmt.Sprintf("LanguageModel %s is not Ready", m.Name)
		if m.Status.ObservedGeneration != m.Generation {
			msg = fmt.Sprintf("waiting for LanguageModel %s to be reconciled", m.Name)
		} else if c := meta.FindStatusCondition(m.Status.Conditions, v1alpha1.ConditionReady); c != nil && c.Message != "" {
			msg += ": " + c.Message
		}
		return gate{stalled: published && meta.IsStatusConditionTrue(m.Status.Conditions, v1alpha1.ConditionStalled),
			reason: v1alpha1.ReasonModelNotReady, message: msg}
	}
	return gate{ok: true}
}

func accountName(b *v1alpha1.ChannelBinding) string {
	if b.Spec.Account.Name != "" {
		return fmt.Sprintf("%q (%s)", b.Spec.Account.Name, b.Spec.Account.ID)
	}
	return b.Spec.Account.ID
}

// describeErrors lists graph errors in one message, each with its field
// path, at most maxListedErrors of them.
func describeErrors(errs field.ErrorList) string {
	var parts []string
	for i, e := range errs {
		if i == maxListedErrors {
			parts = append(parts, fmt.Sprintf("and %d more (run `chatflow lint` for all)", len(errs)-maxListedErrors))
			break
		}
		parts = append(parts, e.Error())
	}
	noun := "error"
	if len(errs) > 1 {
		noun = "errors"
	}
	return fmt.Sprintf("%d graph %s: %s", len(errs), noun, strings.Join(parts, "; "))
}

func setCondition(f *v1alpha1.ChatFlow, t string, s metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&f.Status.Conditions, metav1.Condition{
		Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: f.Generation,
	})
}

func boolStatus(b bool) metav1.ConditionStatus {
	if b {
		return metav1.ConditionTrue
	}
	return metav1.ConditionFalse
}
