package builders

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/internal/testutil"
	executorruntime "github.com/chatflow-dev/chatflow/runtime/executor"
)

func TestKeysSecret(t *testing.T) {
	g := NewWithT(t)
	f := testutil.Flow("order-status", v1alpha1.StatePublished)
	s := KeysSecret(f, "0123456789abcdef0123456789abcdef", "ck")
	g.Expect(s.Name).To(Equal("order-status-executor-keys"))
	g.Expect(s.Namespace).To(Equal(f.Namespace))
	g.Expect(s.Type).To(Equal(corev1.SecretTypeOpaque))
	g.Expect(s.Data).To(Equal(map[string][]byte{"itemKey": []byte("0123456789abcdef0123456789abcdef"), "contactHashKey": []byte("ck")}))
	g.Expect(metav1.IsControlledBy(s, f)).To(BeTrue(), "owned by the flow, so it goes with it")
	g.Expect(OwnedByFlow(s.Labels, f.Name)).To(BeTrue(), "carries the operator's labels")
	g.Expect(s.Annotations).To(HaveKeyWithValue(AnnotationContactHashKey, KeyFingerprint("ck")))
	g.Expect(s.Annotations[AnnotationContactHashKey]).NotTo(ContainSubstring("ck"))

	// Without an installation key: no contact hash key (the unkeyed default).
	dev := KeysSecret(f, "0123456789abcdef0123456789abcdef", "")
	g.Expect(dev.Data).NotTo(HaveKey("contactHashKey"))
	g.Expect(dev.Annotations).To(HaveKeyWithValue(AnnotationContactHashKey, "none"))

	// A long flow name still makes a valid Secret name.
	g.Expect(len(KeysSecretName(strings.Repeat("b", 253)))).To(BeNumerically("<=", 253))
}

// The Secret holds the keys under the names the executor reads.
func TestKeysSecretNamesAreTheExecutors(t *testing.T) {
	g := NewWithT(t)
	g.Expect(KeyItem).To(Equal(executorruntime.KeyItem))
	g.Expect(KeyContactHash).To(Equal(executorruntime.KeyContactHash))
}

func TestContactHashKey(t *testing.T) {
	g := NewWithT(t)
	install := []byte("the installation's key")
	a, b := ContactHashKey(install, "team-a"), ContactHashKey(install, "team-b")
	g.Expect(a).To(HaveLen(64))
	g.Expect(a).NotTo(Equal(b), "each namespace has its own key")
	g.Expect(ContactHashKey(install, "team-a")).To(Equal(a), "and always the same one")
	g.Expect(ContactHashKey([]byte("another installation"), "team-a")).NotTo(Equal(a))
	g.Expect(ContactHashKey(nil, "team-a")).To(BeEmpty(), "no installation key: the unkeyed development hash")
}
