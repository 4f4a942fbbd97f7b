package campaign

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// Conditions of a Campaign, with their polarity. Ready (positive) says the
// campaign does what its spec asks right now: it runs, or is suspended,
// scheduled or in quiet hours as declared, or is complete; it is False
// while the campaign waits for something (its flow, its audience, its
// executor) or is stuck. Complete (positive) is True once every contact
// has a final outcome. Reconciling and Stalled are kstatus's
// abnormal-true conditions: Reconciling while the campaign waits for
// something that time may bring, Stalled when only a change by the user
// helps; both are removed otherwise. RateClamped (negative) is True while
// spec.rate exceeds the account's send rate.
var ownedConditions = []string{
	v1alpha1.ConditionReady, v1alpha1.ConditionComplete, v1alpha1.ConditionReconciling,
	v1alpha1.ConditionStalled, v1alpha1.ConditionRateClamped,
}

// observation is what one reconcile of a campaign found; computeStatus
// turns it into the status.
type observation struct {
	// FlowOK says the flow can take runs; else FlowReason and FlowMessage
	// say why not, and FlowStalled whether only the user can change that.
	FlowOK                  bool
	FlowReason, FlowMessage string
	FlowStalled             bool
	// SpecProblem is what is wrong with the spec against the flow (inputs
	// it does not declare, a schedule that does not read).
	SpecProblem string
	// Rate is the effective rate; Clamped says why it is below spec.rate.
	Rate    int32
	Clamped string
	// Progress of the campaign's dispatcher; nil when none ran in this
	// manager.
	Progress *Progress
	// Err is the error the reconcile ended with.
	Err error
	// Now stamps start and finish times.
	Now time.Time
}

// computeStatus sets a campaign's status from an observation. It is pure:
// same campaign and observation, same status (transition times aside).
func computeStatus(c *v1alpha1.Campaign, o observation) {
	st := &c.Status
	if o.Rate > 0 {
		st.Rate = o.Rate
	}
	setCounts(c, o)
	setRateClampedCondition(c, o)
	complete := setCompleteCondition(c, o)
	setSummaryConditions(c, o, complete)
	if o.Err == nil {
		st.ObservedGeneration = c.Generation
	}
}

// setCounts copies the dispatcher's progress into the counts, checkpoint,
// progress percentage and start time. Without progress the status stays
// as it is (the counts are the dispatcher's; a restarted manager resumes
// from them).
func setCounts(c *v1alpha1.Campaign, o observation) {
	st, p := &c.Status, o.Progress
	if p == nil {
		return
	}
	if p.Loaded {
		st.Total = p.Total
		st.Started = p.Started
		st.Skipped = p.Skipped
		st.Checkpoint = &v1alpha1.CampaignCheckpoint{Rows: p.Rows, Digest: p.Digest, Sources: p.Sources}
	}
	if p.ExecutorKnown {
		// The executor's ledger may be younger than the campaign (a memory
		// store restarted): counts never go back.
		st.Done = max(st.Done, p.Executor.Done)
		st.Failed = max(st.Failed, p.Executor.Failed)
	}
	st.Pending = max(0, st.Total-st.Started-st.Skipped.Total)
	if st.StartTime == nil && st.Started > 0 {
		at := p.FirstStart
		if at.IsZero() {
			at = o.Now
		}
		st.StartTime = &metav1.Time{Time: at}
	}
	outcomes := min(st.Done+st.Failed+st.Skipped.Total, st.Total)
	switch {
	case st.Total > 0:
		st.Progress = int32(outcomes * 100 / st.Total)
	case p.Phase == v1alpha1.ReasonCompleted:
		st.Progress = 100
	default:
		st.Progress = 0
	}
}

// setRateClampedCondition owns RateClamped.
func setRateClampedCondition(c *v1alpha1.Campaign, o observation) {
	if !o.FlowOK {
		return // the account is not known
	}
	if o.Clamped != "" {
		setCondition(c, v1alpha1.ConditionRateClamped, metav1.ConditionTrue, v1alpha1.ReasonRateClamped, o.Clamped)
		return
	}
	setCondition(c, v1alpha1.ConditionRateClamped, metav1.ConditionFalse, v1alpha1.ReasonWithinRate,
		fmt.Sprintf("the campaign starts %d contacts per second, within the account's send rate", o.Rate))
}

// setCompleteCondition owns Complete and the finish time, and reports
// whether the campaign is complete.
func setCompleteCondition(c *v1alpha1.Campaign, o observation) bool {
	st, p := &c.Status, o.Progress
	complete := meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ConditionComplete) && st.ObservedGeneration == c.Generation
	if p != nil {
		complete = p.Phase == v1alpha1.ReasonCompleted
	}
	if complete {
		if st.FinishTime == nil {
			st.FinishTime = &metav1.Time{Time: o.Now}
		}
		setCondition(c, v1alpha1.ConditionComplete, metav1.ConditionTrue, v1alpha1.ReasonCompleted, fmt.Sprintf(
			"every contact has an outcome: %d done, %d failed, %d skipped of %d", st.Done, st.Failed, st.Skipped.Total, st.Total))
		return true
	}
	st.FinishTime = nil
	reason := v1alpha1.ReasonRunning
	if p != nil && p.Phase == v1alpha1.ReasonFinishing {
		reason = v1alpha1.ReasonFinishing
	}
	if c.Spec.Suspend {
		reason = v1alpha1.ReasonSuspended
	}
	setCondition(c, v1alpha1.ConditionComplete, metav1.ConditionFalse, reason, fmt.Sprintf(
		"%d of %d contacts have an outcome (%d%%)", st.Done+st.Failed+st.Skipped.Total, st.Total, st.Progress))
	return false
}

// setSummaryConditions owns Ready, Reconciling and Stalled.
func setSummaryConditions(c *v1alpha1.Campaign, o observation, complete bool) {
	st, p := &c.Status, o.Progress
	switch {
	case o.Err != nil:
		waiting(c, v1alpha1.ReasonReconcileFailed, fmt.Sprintf("reconcile failed, retrying: %v", o.Err))
	case !o.FlowOK && o.FlowStalled:
		stalled(c, o.FlowReason, o.FlowMessage)
	case !o.FlowOK:
		waiting(c, o.FlowReason, o.FlowMessage)
	case o.SpecProblem != "":
		stalled(c, v1alpha1.ReasonInvalidInputs, o.SpecProblem)
	case complete:
		ready(c, v1alpha1.ReasonCompleted, fmt.Sprintf("completed: %d done, %d failed, %d skipped of %d contacts",
			st.Done, st.Failed, st.Skipped.Total, st.Total))
	case c.Spec.Suspend:
		ready(c, v1alpha1.ReasonSuspended, fmt.Sprintf("suspended by spec.suspend: %d of %d contacts started or skipped; runs already started go on",
			st.Started+st.Skipped.Total, st.Total))
	case p == nil || p.Phase == "":
		waiting(c, v1alpha1.ReasonProgressing, "reading the audience")
	case p.Phase == v1alpha1.ReasonAudienceUnavailable && p.Stalled:
		stalled(c, p.Phase, p.Message)
	case p.Phase == v1alpha1.ReasonAudienceUnavailable || p.Phase == v1alpha1.ReasonExecutorUnavailable:
		waiting(c, p.Phase, p.Message)
	case p.Phase == v1alpha1.ReasonScheduled || p.Phase == v1alpha1.ReasonQuietHours:
		ready(c, p.Phase, p.Message)
	case p.Phase == v1alpha1.ReasonFinishing:
		ready(c, p.Phase, fmt.Sprintf("every contact was started or skipped; %d of %d runs have ended",
			st.Done+st.Failed, st.Started))
	default:
		msg := fmt.Sprintf("started %d of %d contacts at up to %d per second", st.Started, st.Total, st.Rate)
		if p.Message != "" {
			msg += ": " + p.Message
		}
		ready(c, v1alpha1.ReasonRunning, msg)
	}
}

// ready: the campaign does what its spec says.
func ready(c *v1alpha1.Campaign, reason, msg string) {
	setCondition(c, v1alpha1.ConditionReady, metav1.ConditionTrue, reason, msg)
	meta.RemoveStatusCondition(&c.Status.Conditions, v1alpha1.ConditionReconciling)
	meta.RemoveStatusCondition(&c.Status.Conditions, v1alpha1.ConditionStalled)
}

// waiting: the campaign waits for something time may bring.
func waiting(c *v1alpha1.Campaign, reason, msg string) {
	setCondition(c, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	setCondition(c, v1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, msg)
	meta.RemoveStatusCondition(&c.Status.Conditions, v1alpha1.ConditionStalled)
}

// stalled: nothing changes until the user does.
func stalled(c *v1alpha1.Campaign, reason, msg string) {
	setCondition(c, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	setCondition(c, v1alpha1.ConditionStalled, metav1.ConditionTrue, reason, msg)
	meta.RemoveStatusCondition(&c.Status.Conditions, v1alpha1.ConditionReconciling)
}

func setCondition(c *v1alpha1.Campaign, t string, s metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&c.Status.Conditions, metav1.Condition{
		Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: c.Generation,
	})
}
