package chatflow

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/controllers/internal/testutil"
)

// live simulates what the API server returns for an applied object: the
// hash annotation plus defaulted and assigned fields.
func live(t *testing.T, desired client.Object, into client.Object) {
	u, err := applyConfiguration(desired)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	NewWithT(t).Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into)).To(Succeed())
}

func TestApplyConfiguration(t *testing.T) {
	g := NewWithT(t)
	f := testutil.Flow("order-status", v1alpha1.StatePublished)
	d := builders.Deployment(builders.ExecutorInput{Flow: f, Revision: rev, ConfigMap: "cm", Config: builders.DefaultConfig()})
	u, err := applyConfiguration(d)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(u.GetKind()).To(Equal("Deployment"))
	g.Expect(u.Object).NotTo(HaveKey("status"))
	_, found, _ := unstructured.NestedFieldNoCopy(u.Object, "metadata", "creationTimestamp")
	g.Expect(found).To(BeFalse())
	_, found, _ = unstructured.NestedFieldNoCopy(u.Object, "spec", "template", "metadata", "creationTimestamp")
	g.Expect(found).To(BeFalse())
	g.Expect(u.GetAnnotations()).To(HaveKey(AnnotationAppliedHash))
	g.Expect(d.Annotations).NotTo(HaveKey(AnnotationAppliedHash), "the built object is not changed")
}

func TestUpToDate(t *testing.T) {
	f := testutil.Flow("order-status", v1alpha1.StatePublished)
	build := func(mutate func(*builders.ExecutorInput)) *appsv1.Deployment {
		in := builders.ExecutorInput{Flow: f.DeepCopy(), Revision: rev, ConfigMap: "cm", Config: builders.DefaultConfig()}
		if mutate != nil {
			mutate(&in)
		}
		return builders.Deployment(in)
	}
	tests := []struct {
		name   string
		live   func(l *appsv1.Deployment)
		wanted func(*builders.ExecutorInput)
		want   bool
	}{
		{name: "as applied, with server defaults", want: true, live: func(l *appsv1.Deployment) {
			c := &l.Spec.Template.Spec.Containers[0]
			c.TerminationMessagePath = "/dev/termination-log"
			c.LivenessProbe.SuccessThreshold, c.ReadinessProbe.SuccessThreshold, c.StartupProbe.SuccessThreshold = 1, 1, 1
			c.LivenessProbe.HTTPGet.Scheme = corev1.URISchemeHTTP
			l.Spec.Template.Spec.Volumes[0].ConfigMap.DefaultMode = ptr.To[int32](420)
			l.Spec.Template.Spec.SchedulerName = "default-scheduler"
			l.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
			l.Spec.Template.Spec.DNSPolicy = corev1.DNSClusterFirst
			l.Annotations["deployment.kubernetes.io/revision"] = "3"
		}},
		{name: "someone changed the image", live: func(l *appsv1.Deployment) {
			l.Spec.Template.Spec.Containers[0].Image = "evil:latest"
		}},
		{name: "someone scaled it", live: func(l *appsv1.Deployment) {
			*l.Spec.Replicas = 5
		}},
		{name: "a new revision", wanted: func(in *builders.ExecutorInput) { in.Revision, in.ConfigMap = "next", "cm2" }},
		{name: "an override removed (hash differs)", wanted: func(in *builders.ExecutorInput) {
			in.Config.Template.Spec.NodeSelector = nil
		}, live: func(*appsv1.Deployment) {}},
		{name: "another controller", live: func(l *appsv1.Deployment) { l.OwnerReferences[0].UID = "someone-else" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var appliedFrom *appsv1.Deployment
			if tt.name == "an override removed (hash differs)" {
				appliedFrom = build(func(in *builders.ExecutorInput) {
					in.Config.Template.Spec.NodeSelector = map[string]string{"pool": "chat"}
				})
			} else {
				appliedFrom = build(nil)
			}
			l := &appsv1.Deployment{}
			live(t, appliedFrom, l)
			if tt.live != nil {
				tt.live(l)
			}
			NewWithT(t).Expect(upToDate(build(tt.wanted), l)).To(Equal(tt.want))
		})
	}

	svc := builders.Service(f)
	l := &corev1.Service{}
	live(t, svc, l)
	l.Spec.ClusterIP = "10.0.0.12"
	l.Spec.SessionAffinity = corev1.ServiceAffinityNone
	NewWithT(t).Expect(upToDate(svc, l)).To(BeTrue(), "assigned and defaulted Service fields are not drift")
}
