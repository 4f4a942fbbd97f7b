package chatflow

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/controllers/internal/testutil"
)

func deployment(gen, observed int64, replicas, updated, available, total int32) *appsv1.Deployment {
	d := builders.Deployment(builders.ExecutorInput{
		Flow: testutil.Flow("order-status", v1alpha1.StatePublished), Revision: rev,
		ConfigMap: "order-status-" + rev + "-abcdef", Config: builders.DefaultConfig(),
	})
	d.Generation = gen
	d.Spec.Replicas = ptr.To(replicas)
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: total, UpdatedReplicas: updated,
		ReadyReplicas: available, AvailableReplicas: available}
	return d
}

func TestObserveDeployment(t *testing.T) {
	stuck := deployment(2, 2, 2, 1, 2, 3)
	stuck.Status.Conditions = []appsv1.DeploymentCondition{{
		Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: "timed out",
	}}
	staleStuck := stuck.DeepCopy()
	staleStuck.Generation = 3
	tests := []struct {
		name                       string
		d                          *appsv1.Deployment
		available, rolledOut, dead bool
	}{
		{name: "not observed yet", d: deployment(2, 1, 2, 2, 2, 2)},
		{name: "no pod available", d: deployment(1, 1, 2, 2, 0, 2)},
		{name: "rolling: old pods serve", d: deployment(2, 2, 2, 1, 2, 3), available: true},
		{name: "rolling: new pods not yet available", d: deployment(2, 2, 2, 2, 1, 2)},
		{name: "old pods still terminating", d: deployment(2, 2, 2, 2, 2, 3), available: true},
		{name: "rolled out", d: deployment(2, 2, 2, 2, 2, 2), available: true, rolledOut: true},
		{name: "scaled to zero", d: deployment(2, 2, 0, 0, 0, 0), available: true, rolledOut: true},
		{name: "stuck", d: stuck, available: true, dead: true},
		{name: "a stuck condition of the previous spec", d: staleStuck},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			e := observeDeployment(tt.d)
			g.Expect(e.available()).To(Equal(tt.available), "available")
			g.Expect(e.rolledOut()).To(Equal(tt.rolledOut), "rolled out")
			g.Expect(e.ProgressDeadlineExceeded).To(Equal(tt.dead), "stuck")
			g.Expect(e.Revision).To(Equal(rev))
			g.Expect(e.ConfigMap).To(Equal("order-status-" + rev + "-abcdef"))
		})
	}
	g := NewWithT(t)
	g.Expect(observeDeployment(nil)).To(BeNil())
	deleting := deployment(1, 1, 1, 1, 1, 1)
	deleting.DeletionTimestamp = ptr.To(metav1.Now())
	g.Expect(observeDeployment(deleting).available()).To(BeFalse())
}

func TestUnusedConfigMaps(t *testing.T) {
	f := testutil.Flow("order-status", v1alpha1.StatePublished)
	other := testutil.Flow("other", v1alpha1.StatePublished)
	cm := func(name string, owner *v1alpha1.ChatFlow) corev1.ConfigMap {
		return corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.Namespace,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, builders.ChatFlowKind)}}}
	}
	rs := func(cmName string, replicas, running int32) appsv1.ReplicaSet {
		return appsv1.ReplicaSet{
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Volumes: []corev1.Volume{{Name: "revision", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: cmName}}}}}}}},
			Status: appsv1.ReplicaSetStatus{Replicas: running},
		}
	}
	cms := []corev1.ConfigMap{cm("v1", f), cm("v2", f), cm("v3", f), cm("foreign", other)}
	names := func(cms []corev1.ConfigMap) []string {
		var n []string
		for _, c := range cms {
			n = append(n, c.Name)
		}
		return n
	}
	tests := []struct {
		name string
		rss  []appsv1.ReplicaSet
		ex   *executorState
		want []string
	}{
		{name: "the template's ConfigMap stays", ex: &executorState{ConfigMap: "v3"}, want: []string{"v1", "v2"}},
		{name: "a draining ReplicaSet keeps its ConfigMap", ex: &executorState{ConfigMap: "v3"},
			rss: []appsv1.ReplicaSet{rs("v1", 0, 0), rs("v2", 0, 1), rs("v3", 2, 1)}, want: []string{"v1"}},
		{name: "a ReplicaSet scaled up but without pods yet keeps it", ex: &executorState{ConfigMap: "v3"},
			rss: []appsv1.ReplicaSet{rs("v2", 1, 0)}, want: []string{"v1"}},
		{name: "unpublished: all go once no ReplicaSet runs", want: []string{"v1", "v2", "v3"}},
		{name: "unpublished: a ReplicaSet still running keeps its ConfigMap",
			rss: []appsv1.ReplicaSet{rs("v3", 1, 1)}, want: []string{"v1", "v2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(names(unusedConfigMaps(f, cms, tt.rss, tt.ex))).To(Equal(tt.want))
		})
	}
}
