package dev

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestDeploymentStatus(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "f-executor", Generation: 4},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), ProgressDeadlineSeconds: ptr.To[int32](300)},
	}
	cases := []struct {
		name                                string
		pods                                []podView
		since                               time.Time
		replicas, updated, ready, available int32
		availableCond                       corev1.ConditionStatus
		progressReason                      string
	}{
		{"nothing yet", nil, now, 0, 0, 0, 0, corev1.ConditionFalse, "ReplicaSetUpdated"},
		{"starting", []podView{{current: true}, {current: true}}, now, 2, 2, 0, 0, corev1.ConditionFalse, "ReplicaSetUpdated"},
		{"rolled out", []podView{{current: true, ready: true}, {current: true, ready: true}}, now, 2, 2, 2, 2, corev1.ConditionTrue, "NewReplicaSetAvailable"},
		{"rolling: old pods serve, new start",
			[]podView{{ready: true}, {ready: true}, {current: true}}, now, 3, 1, 2, 2, corev1.ConditionTrue, "ReplicaSetUpdated"},
		{"stuck past the deadline", []podView{{current: true}, {current: true}}, now.Add(-10 * time.Minute), 2, 2, 0, 0,
			corev1.ConditionFalse, "ProgressDeadlineExceeded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := deploymentStatus(d, c.pods, c.since, now)
			if st.ObservedGeneration != 4 {
				t.Errorf("observedGeneration %d", st.ObservedGeneration)
			}
			if st.Replicas != c.replicas || st.UpdatedReplicas != c.updated || st.ReadyReplicas != c.ready || st.AvailableReplicas != c.available {
				t.Errorf("replicas %d updated %d ready %d available %d", st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas)
			}
			if got := cond(st, appsv1.DeploymentAvailable); got.Status != c.availableCond {
				t.Errorf("Available %s (%s)", got.Status, got.Reason)
			}
			if got := cond(st, appsv1.DeploymentProgressing); got.Reason != c.progressReason {
				t.Errorf("Progressing reason %s, want %s", got.Reason, c.progressReason)
			}
		})
	}
}

func TestDeploymentStatusKeepsTransitionTimes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1)}}
	d.Status = deploymentStatus(d, []podView{{current: true, ready: true}}, t0, t0)
	again := deploymentStatus(d, []podView{{current: true, ready: true}}, t0, t0.Add(time.Minute))
	if got := cond(again, appsv1.DeploymentAvailable); !got.LastTransitionTime.Time.Equal(t0) || !got.LastUpdateTime.Time.Equal(t0) {
		t.Errorf("an unchanged condition moved its times: %+v", got)
	}
}

func cond(st appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) appsv1.DeploymentCondition {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c
		}
	}
	return appsv1.DeploymentCondition{}
}
