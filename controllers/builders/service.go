package builders

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// Service builds the ClusterIP Service in front of a flow's executor pods:
// port 80 to the executor's http port, where the channel webhooks, the run
// API and the metrics are served. Users point their ingress or gateway at
// it.
func Service(f *v1alpha1.ChatFlow) *corev1.Service {
	return &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            ExecutorName(f.Name),
			Namespace:       f.Namespace,
			Labels:          Labels(f.Name),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(f, ChatFlowKind)},
		},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: SelectorLabels(f.Name),
			Ports: []corev1.ServicePort{{
				Name:       PortName,
				Port:       ServicePort,
				TargetPort: intstr.FromString(PortName),
				Protocol:   corev1.ProtocolTCP,
			}},
		},
	}
}
