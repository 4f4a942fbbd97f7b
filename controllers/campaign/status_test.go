package campaign

import (
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/runapi"
)

var now = time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)

// conds renders the summary conditions: type=status/reason, absent ones out.
func conds(c *v1alpha1.Campaign) map[string]string {
	out := map[string]string{}
	for _, t := range ownedConditions {
		if x := meta.FindStatusCondition(c.Status.Conditions, t); x != nil {
			out[t] = string(x.Status) + "/" + x.Reason
		}
	}
	return out
}

func running(started, total int64) *Progress {
	return &Progress{Phase: v1alpha1.ReasonRunning, Loaded: true, Total: total,
		Checkpoint: Checkpoint{Rows: started, Digest: "d", Started: started},
		Executor:   runapi.Counts{Accepted: started, Started: started, Done: started / 2}, ExecutorKnown: true}
}

func TestComputeStatus(t *testing.T) {
	ok := observation{FlowOK: true, Rate: 50, Now: now}
	cases := []struct {
		name    string
		suspend bool
		obs     observation
		want    map[string]string
		check   func(t *testing.T, st *v1alpha1.CampaignStatus)
	}{
		{name: "running", obs: with(ok, running(400, 1000)), want: map[string]string{
			"Ready": "True/Running", "Complete": "False/Running", "RateClamped": "False/WithinRate",
		}, check: func(t *testing.T, st *v1alpha1.CampaignStatus) {
			if st.Started != 400 || st.Pending != 600 || st.Done != 200 || st.Progress != 20 || st.StartTime == nil || st.Rate != 50 {
				t.Errorf("status %+v", st)
			}
			if st.Checkpoint == nil || st.Checkpoint.Rows != 400 {
				t.Errorf("checkpoint %+v", st.Checkpoint)
			}
		}},
		{name: "the flow is unpublished: waits", obs: observation{FlowReason: v1alpha1.ReasonFlowUnpublished, FlowMessage: "m", Now: now}, want: map[string]string{
			"Ready": "False/FlowUnpublished", "Reconciling": "True/FlowUnpublished", "Complete": "False/Running",
		}},
		{name: "the flow is not Manual: stalled", obs: observation{FlowReason: v1alpha1.ReasonFlowNotManual, FlowStalled: true, Now: now}, want: map[string]string{
			"Ready": "False/FlowNotManual", "Stalled": "True/FlowNotManual", "Complete": "False/Running",
		}},
		{name: "inputs the flow does not declare", obs: observation{FlowOK: true, SpecProblem: "spec.inputs[0].name", Rate: 10, Now: now}, want: map[string]string{
			"Ready": "False/InvalidInputs", "Stalled": "True/InvalidInputs", "Complete": "False/Running", "RateClamped": "False/WithinRate",
		}},
		{name: "suspended", suspend: true, obs: with(ok, running(10, 100)), want: map[string]string{
			"Ready": "True/Suspended", "Complete": "False/Suspended", "RateClamped": "False/WithinRate",
		}},
		{name: "quiet hours", obs: with(ok, &Progress{Phase: v1alpha1.ReasonQuietHours, Loaded: true, Total: 5}), want: map[string]string{
			"Ready": "True/QuietHours", "Complete": "False/Running", "RateClamped": "False/WithinRate",
		}},
		{name: "the executor does not answer", obs: with(ok, &Progress{Phase: v1alpha1.ReasonExecutorUnavailable}), want: map[string]string{
			"Ready": "False/ExecutorUnavailable", "Reconciling": "True/ExecutorUnavailable", "Complete": "False/Running", "RateClamped": "False/WithinRate",
		}},
		{name: "a source without the contact column", obs: with(ok, &Progress{Phase: v1alpha1.ReasonAudienceUnavailable, Stalled: true}), want: map[string]string{
			"Ready": "False/AudienceUnavailable", "Stalled": "True/AudienceUnavailable", "Complete": "False/Running", "RateClamped": "False/WithinRate",
		}},
		{name: "clamped", obs: observation{FlowOK: true, Rate: 80, Clamped: "spec.rate 500 exceeds", Now: now, Progress: running(1, 2)}, want: map[string]string{
			"Ready": "True/Running", "Complete": "False/Running", "RateClamped": "True/RateClamped",
		}},
		{name: "finishing", obs: with(ok, &Progress{Phase: v1alpha1.ReasonFinishing, Loaded: true, Total: 10,
			Checkpoint: Checkpoint{Rows: 10, Started: 8, Skipped: v1alpha1.SkippedCounts{Total: 2, OptedOut: 2}},
			Executor:   runapi.Counts{Accepted: 8, Started: 8, Done: 5}, ExecutorKnown: true}), want: map[string]string{
			"Ready": "True/Finishing", "Complete": "False/Finishing", "RateClamped": "False/WithinRate",
		}, check: func(t *testing.T, st *v1alpha1.CampaignStatus) {
			if st.Pending != 0 || st.Progress != 70 || st.FinishTime != nil {
				t.Errorf("status %+v", st)
			}
		}},
		{name: "completed", obs: with(ok, &Progress{Phase: v1alpha1.ReasonCompleted, Loaded: true, Total: 10,
			Checkpoint: Checkpoint{Rows: 10, Started: 8, Skipped: v1alpha1.SkippedCounts{Total: 2, Duplicate: 2}},
			Executor:   runapi.Counts{Accepted: 8, Started: 8, Done: 7, Failed: 1}, ExecutorKnown: true}), want: map[string]string{
			"Ready": "True/Completed", "Complete": "True/Completed", "RateClamped": "False/WithinRate",
		}, check: func(t *testing.T, st *v1alpha1.CampaignStatus) {
			if st.Progress != 100 || st.FinishTime == nil || !st.FinishTime.Time.Equal(now) || st.Failed != 1 {
				t.Errorf("status %+v", st)
			}
		}},
		{name: "an empty audience completes", obs: with(ok, &Progress{Phase: v1alpha1.ReasonCompleted, Loaded: true}), want: map[string]string{
			"Ready": "True/Completed", "Complete": "True/Completed", "RateClamped": "False/WithinRate",
		}, check: func(t *testing.T, st *v1alpha1.CampaignStatus) {
			if st.Progress != 100 {
				t.Errorf("progress %d", st.Progress)
			}
		}},
		{name: "a failed reconcile", obs: observation{FlowOK: true, Rate: 10, Err: errors.New("boom"), Now: now}, want: map[string]string{
			"Ready": "False/ReconcileFailed", "Reconciling": "True/ReconcileFailed", "Complete": "False/Running", "RateClamped": "False/WithinRate",
		}, check: func(t *testing.T, st *v1alpha1.CampaignStatus) {
			if st.ObservedGeneration == 3 {
				t.Error("observedGeneration moved on a failed reconcile")
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &v1alpha1.Campaign{ObjectMeta: metav1.ObjectMeta{Generation: 3}, Spec: v1alpha1.CampaignSpec{Suspend: tc.suspend}}
			c.Status.ObservedGeneration = -1
			computeStatus(c, tc.obs)
			if got := conds(c); !equalMaps(got, tc.want) {
				t.Errorf("conditions %v, want %v", got, tc.want)
			}
			if tc.check != nil {
				tc.check(t, &c.Status)
			}
		})
	}
}

// TestComputeStatusKeepsCountsWithoutProgress: a restarted manager that has
// not read the audience yet keeps the counts; the executor's counts never
// go back (a memory store restarted).
func TestComputeStatusKeepsCounts(t *testing.T) {
	c := &v1alpha1.Campaign{ObjectMeta: metav1.ObjectMeta{Generation: 1}}
	c.Status = v1alpha1.CampaignStatus{Total: 100, Started: 40, Done: 30, Pending: 60, StartTime: &metav1.Time{Time: now.Add(-time.Hour)}}
	computeStatus(c, observation{FlowOK: true, Rate: 10, Now: now})
	if c.Status.Started != 40 || c.Status.Done != 30 || c.Status.Total != 100 || !c.Status.StartTime.Time.Equal(now.Add(-time.Hour)) {
		t.Errorf("status %+v", c.Status)
	}
	computeStatus(c, observation{FlowOK: true, Rate: 10, Now: now, Progress: &Progress{Phase: v1alpha1.ReasonRunning, Loaded: true, Total: 100,
		Checkpoint: Checkpoint{Rows: 45, Started: 45}, Executor: runapi.Counts{Accepted: 5, Done: 2}, ExecutorKnown: true}})
	if c.Status.Started != 45 || c.Status.Done != 30 {
		t.Errorf("status %+v: done must not go back", c.Status)
	}
}

func with(o observation, p *Progress) observation {
	o.Progress = p
	return o
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
