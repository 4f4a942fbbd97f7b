// Package conditionevents records the status transitions of a reconciled
// object as Kubernetes events, for `kubectl describe`: the ChannelBinding
// and LanguageModel reconcilers share it.
package conditionevents

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// Record compares obj's conditions before and after a reconcile. A
// Stalled condition that appeared or changed reason or message is a
// Warning event with that reason and message; Ready turning True is a
// Normal event with reason ready and Ready's message. action names what
// the reconciler did (Bind, Check). A nil recorder records nothing.
func Record(rec events.EventRecorder, obj runtime.Object, before, after []metav1.Condition, ready, action string) {
	if rec == nil {
		return
	}
	c := meta.FindStatusCondition(after, v1alpha1.ConditionStalled)
	old := meta.FindStatusCondition(before, v1alpha1.ConditionStalled)
	if c != nil && (old == nil || old.Reason != c.Reason || old.Message != c.Message) {
		rec.Eventf(obj, nil, corev1.EventTypeWarning, c.Reason, action, "%s", c.Message)
	}
	if r := meta.FindStatusCondition(after, v1alpha1.ConditionReady); r != nil && r.Status == metav1.ConditionTrue &&
		!meta.IsStatusConditionTrue(before, v1alpha1.ConditionReady) {
		rec.Eventf(obj, nil, corev1.EventTypeNormal, ready, action, "%s", r.Message)
	}
}
