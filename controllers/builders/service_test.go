package builders

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/internal/testutil"
)

func TestService(t *testing.T) {
	g := NewWithT(t)
	f := testutil.Flow("order-status", v1alpha1.StatePublished)
	s := Service(f)
	g.Expect(s.Name).To(Equal("order-status-executor"))
	g.Expect(s.Namespace).To(Equal(testutil.Namespace))
	g.Expect(metav1.IsControlledBy(s, f)).To(BeTrue())
	g.Expect(s.Labels).To(HaveKeyWithValue(LabelManagedBy, ManagedBy))
	g.Expect(s.Spec.Type).To(Equal(corev1.ServiceTypeClusterIP))
	g.Expect(s.Spec.Selector).To(Equal(SelectorLabels("order-status")))
	g.Expect(s.Spec.Ports).To(Equal([]corev1.ServicePort{{
		Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP,
	}}))
	d := Deployment(input(f, nil))
	for k, v := range s.Spec.Selector {
		g.Expect(d.Spec.Template.Labels).To(HaveKeyWithValue(k, v), "the Service selects the executor pods")
	}
}
