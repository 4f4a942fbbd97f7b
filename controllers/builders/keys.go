package builders

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// The keys of a flow's keys Secret, as the executor reads them from its
// --keys directory (runtime/executor.KeyItem and KeyContactHash; a test
// holds them equal: the builders must not link the executor runtime).
const (
	KeyItem        = "itemKey"
	KeyContactHash = "contactHashKey"
)

// AnnotationContactHashKey on a flow's keys Secret fingerprints the contact
// hash key it holds, so the operator tells a stale one from its metadata
// alone, without reading Secret data.
const AnnotationContactHashKey = "chatflow.dev/contact-hash-key"

// KeysSecretName is the Secret of a flow's keys: <flow>-executor-keys.
func KeysSecretName(flow string) string {
	return trimName(flow, 253-len("-executor-keys")) + "-executor-keys"
}

// KeysSecret builds the Secret the operator generates for each flow and
// mounts into its executor (--keys): itemKey, the flow's own key that
// seals its items in the session store (generated once and never changed:
// items queued under it must still verify), and, when the installation has
// one, contactHashKey, the key of the contact id hash in its logs. It is
// owned by the flow, so it goes with it.
func KeysSecret(f *v1alpha1.ChatFlow, itemKey, contactHashKey string) *corev1.Secret {
	data := map[string][]byte{KeyItem: []byte(itemKey)}
	if contactHashKey != "" {
		data[KeyContactHash] = []byte(contactHashKey)
	}
	labels := Labels(f.Name)
	// The executor Deployment references it: the manager's cache of Secret
	// metadata selects such Secrets.
	labels[LabelReferenced] = "true"
	return &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            KeysSecretName(f.Name),
			Namespace:       f.Namespace,
			Labels:          labels,
			Annotations:     map[string]string{AnnotationContactHashKey: KeyFingerprint(contactHashKey)},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(f, ChatFlowKind)},
		},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
}

// ContactHashKey is the key of the contact id hash for the executors of
// one namespace: derived from the installation's key, so that the teams'
// executors, which can read their own namespace's Secrets, each hold a key
// that tells nothing of another namespace's hashes, while whoever holds the
// installation's key can compute any of them. Empty without an
// installation key (development: an unkeyed hash).
func ContactHashKey(installKey []byte, namespace string) string {
	if len(installKey) == 0 {
		return ""
	}
	m := hmac.New(sha256.New, installKey)
	m.Write([]byte("chatflow-contact-hash\x00" + namespace))
	return hex.EncodeToString(m.Sum(nil))
}

// KeyFingerprint identifies a key without revealing it.
func KeyFingerprint(key string) string {
	if key == "" {
		return "none"
	}
	sum := sha256.Sum256([]byte("chatflow-key-fingerprint\x00" + key))
	return hex.EncodeToString(sum[:8])
}
