package builders

import (
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSecretsVersion(t *testing.T) {
	g := NewWithT(t)
	a := metav1.ObjectMeta{Name: "a", UID: "1", ResourceVersion: "10"}
	b := metav1.ObjectMeta{Name: "b", UID: "2", ResourceVersion: "20"}
	g.Expect(SecretsVersion(nil)).To(BeEmpty())
	g.Expect(SecretsVersion([]metav1.ObjectMeta{a, b})).To(Equal(SecretsVersion([]metav1.ObjectMeta{b, a})), "order does not matter")
	updated := b
	updated.ResourceVersion = "21"
	g.Expect(SecretsVersion([]metav1.ObjectMeta{a, updated})).NotTo(Equal(SecretsVersion([]metav1.ObjectMeta{a, b})), "an update changes it")
	recreated := b
	recreated.UID = "3"
	g.Expect(SecretsVersion([]metav1.ObjectMeta{a, recreated})).NotTo(Equal(SecretsVersion([]metav1.ObjectMeta{a, b})), "a new Secret changes it")
}
