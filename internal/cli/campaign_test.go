package cli

import (
	"bytes"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

func TestWriteCampaignStatus(t *testing.T) {
	now := time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)
	c := &v1alpha1.Campaign{
		ObjectMeta: metav1.ObjectMeta{Name: "spring", Namespace: "shop", Generation: 2},
		Spec:       v1alpha1.CampaignSpec{FlowRef: v1alpha1.FlowReference{Name: "promo"}},
		Status: v1alpha1.CampaignStatus{
			ObservedGeneration: 2, Total: 10000, Pending: 5988, Started: 4000, Done: 3990, Failed: 2, Progress: 40, Rate: 80,
			Skipped:   v1alpha1.SkippedCounts{Total: 12, OptedOut: 10, InvalidInput: 1, Duplicate: 1},
			StartTime: &metav1.Time{Time: now.Add(-50 * time.Second)},
			Conditions: []metav1.Condition{
				{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonRunning, Message: "started 4000 of 10000 contacts at up to 80 per second"},
				{Type: v1alpha1.ConditionComplete, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonRunning, Message: "4002 of 10000 contacts have an outcome (40%)"},
				{Type: v1alpha1.ConditionRateClamped, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonRateClamped, Message: "spec.rate 500 exceeds the send rate"},
			},
		},
	}
	var out bytes.Buffer
	if err := writeCampaignStatus(&out, c, now); err != nil {
		t.Fatal(err)
	}
	want := `Campaign shop/spring of flow promo, 80 contacts per second
  Ready        True   Running: started 4000 of 10000 contacts at up to 80 per second
  Complete     False  Running: 4002 of 10000 contacts have an outcome (40%)
  RateClamped  True   RateClamped: spec.rate 500 exceeds the send rate

    TOTAL  PENDING  STARTED  DONE  FAILED  OPTED OUT  INVALID  DUPLICATE  PROGRESS
    10000     5988     4000  3990       2         10        1          1       40%

  started: 2026-03-10T13:59:10Z (50s ago)
  finished: -
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}
