package dev

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// podView is what the Deployment status needs of one local pod.
type podView struct {
	// current says the pod runs the Deployment's current template.
	current bool
	ready   bool
}

// deploymentStatus computes a Deployment's status from its local pods the
// way the Deployment controller does from its ReplicaSets and the kubelet
// from its containers: replicas counts the pods that are not terminating,
// updatedReplicas those of the current template, ready and available the
// ready ones (minReadySeconds is not modelled), and the Available and
// Progressing conditions follow the controller's reasons. A rollout that
// is not complete within progressDeadlineSeconds of progressSince reports
// ProgressDeadlineExceeded.
func deploymentStatus(d *appsv1.Deployment, pods []podView, progressSince, now time.Time) appsv1.DeploymentStatus {
	desired := ptr.Deref(d.Spec.Replicas, 1)
	st := appsv1.DeploymentStatus{ObservedGeneration: d.Generation}
	for _, p := range pods {
		st.Replicas++
		if p.current {
			st.UpdatedReplicas++
		}
		if p.ready {
			st.ReadyReplicas++
			st.AvailableReplicas++
		}
	}
	st.UnavailableReplicas = max(0, desired-st.AvailableReplicas)

	old := d.Status.Conditions
	ts := metav1.NewTime(now)
	available := corev1.ConditionFalse
	availReason, availMsg := "MinimumReplicasUnavailable", "Deployment does not have minimum availability."
	// maxUnavailable is 0 for executors: every desired pod must be available.
	if st.AvailableReplicas >= desired-maxUnavailable(d) {
		available = corev1.ConditionTrue
		availReason, availMsg = "MinimumReplicasAvailable", "Deployment has minimum availability."
	}
	complete := st.UpdatedReplicas == desired && st.Replicas == desired && st.AvailableReplicas == desired
	progressing := corev1.ConditionTrue
	progReason := "ReplicaSetUpdated"
	progMsg := fmt.Sprintf("ReplicaSet %q is progressing.", d.Name+"-local")
	switch {
	case complete:
		progReason = "NewReplicaSetAvailable"
		progMsg = fmt.Sprintf("ReplicaSet %q has successfully progressed.", d.Name+"-local")
	case d.Spec.ProgressDeadlineSeconds != nil &&
		now.Sub(progressSince) > time.Duration(*d.Spec.ProgressDeadlineSeconds)*time.Second:
		progressing = corev1.ConditionFalse
		progReason = "ProgressDeadlineExceeded"
		progMsg = fmt.Sprintf("ReplicaSet %q has timed out progressing.", d.Name+"-local")
	}
	st.Conditions = []appsv1.DeploymentCondition{
		condition(old, appsv1.DeploymentAvailable, available, availReason, availMsg, ts),
		condition(old, appsv1.DeploymentProgressing, progressing, progReason, progMsg, ts),
	}
	return st
}

// maxUnavailable is the absolute maxUnavailable of a rolling update (0
// when unset or a percentage: the dev runner keeps it strict).
func maxUnavailable(d *appsv1.Deployment) int32 {
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil && ru.MaxUnavailable.Type == 0 {
		return ru.MaxUnavailable.IntVal
	}
	return 0
}

// condition builds a condition, keeping the transition time of an
// unchanged status and the update time of an unchanged reason.
func condition(old []appsv1.DeploymentCondition, t appsv1.DeploymentConditionType, status corev1.ConditionStatus,
	reason, msg string, now metav1.Time) appsv1.DeploymentCondition {
	c := appsv1.DeploymentCondition{Type: t, Status: status, Reason: reason, Message: msg, LastUpdateTime: now, LastTransitionTime: now}
	for _, o := range old {
		if o.Type != t {
			continue
		}
		if o.Status == status {
			c.LastTransitionTime = o.LastTransitionTime
			if o.Reason == reason && o.Message == msg {
				c.LastUpdateTime = o.LastUpdateTime
			}
		}
	}
	return c
}
