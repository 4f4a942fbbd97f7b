package builders

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// StoreSecretName is the name of a flow's store Secret: the executor's
// name (a Secret may share it with the Deployment and the Service).
func StoreSecretName(flow string) string { return ExecutorName(flow) }

// StoreSecret builds the Secret that hands the session store's password to
// a flow's executor pods, in the flow's namespace (a pod reads Secrets of
// its own namespace only), owned by the flow. It is nil when the store has
// no password. It carries LabelReferenced so the manager's cache, which
// holds only labelled Secrets, sees it.
func StoreSecret(f *v1alpha1.ChatFlow, c Config) *corev1.Secret {
	if c = c.WithStorePassword(""); c.StorePassword == "" {
		return nil
	}
	labels := Labels(f.Name)
	labels[LabelReferenced] = "true"
	return &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            StoreSecretName(f.Name),
			Namespace:       f.Namespace,
			Labels:          labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(f, ChatFlowKind)},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{StorePasswordKey: []byte(c.StorePassword)},
	}
}
