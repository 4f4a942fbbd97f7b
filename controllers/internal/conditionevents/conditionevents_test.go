package conditionevents

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

func TestRecord(t *testing.T) {
	stalled := func(reason, msg string) metav1.Condition {
		return metav1.Condition{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: reason, Message: msg}
	}
	ready := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonSucceeded, Message: "ok"}
	notReady := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: "SecretNotFound"}
	obj := &v1alpha1.LanguageModel{}
	for _, tc := range []struct {
		name          string
		before, after []metav1.Condition
		want          []string
	}{
		{"stalled appears", nil, []metav1.Condition{notReady, stalled("SecretNotFound", "no Secret")}, []string{"Warning SecretNotFound no Secret"}},
		{"the same stall again", []metav1.Condition{stalled("SecretNotFound", "no Secret")}, []metav1.Condition{stalled("SecretNotFound", "no Secret")}, nil},
		{"the stall's message changes", []metav1.Condition{stalled("SecretNotFound", "a")}, []metav1.Condition{stalled("SecretNotFound", "b")}, []string{"Warning SecretNotFound b"}},
		{"ready", []metav1.Condition{notReady}, []metav1.Condition{ready}, []string{"Normal Ready ok"}},
		{"still ready", []metav1.Condition{ready}, []metav1.Condition{ready}, nil},
	} {
		rec := events.NewFakeRecorder(4)
		Record(rec, obj, tc.before, tc.after, "Ready", "Check")
		close(rec.Events)
		var got []string
		for e := range rec.Events {
			got = append(got, e)
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: events %q, want %q", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: event %q, want %q", tc.name, got[i], tc.want[i])
			}
		}
	}
	Record(nil, obj, nil, []metav1.Condition{ready}, "Ready", "Check") // no recorder: nothing, no panic
}
