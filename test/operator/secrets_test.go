package operator

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/internal/testenv"
)

// withHeaderSecret adds an HTTPRequest node whose Authorization header
// reads Secret name, between hello and end.
func withHeaderSecret(f *v1alpha1.ChatFlow, name string) *v1alpha1.ChatFlow {
	f.Spec.Nodes[1].Next = "call"
	f.Spec.Nodes = append(f.Spec.Nodes, v1alpha1.Node{
		ID: "call", Type: v1alpha1.NodeHTTPRequest, Next: "end", OnError: "end",
		HTTPRequest: &v1alpha1.HTTPRequestNode{URL: "https://orders.example.com/v1/orders", Headers: []v1alpha1.HTTPHeader{{
			Name: "Authorization", ValueFrom: &v1alpha1.HeaderSource{SecretKeyRef: v1alpha1.SecretKeySelector{Name: name, Key: "token"}},
		}}},
	})
	return f
}

func secret(name, ns string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, StringData: map[string]string{"token": "t0ken"}}
}

// referenced says whether a Secret carries the label that lets the manager
// see it.
func referenced(s *corev1.Secret) func() bool {
	return func() bool { return get(s).Labels[builders.LabelReferenced] == "true" }
}

var _ = Describe("The Secrets Chatflow objects reference", func() {
	It("are labelled while referenced, and only then; the others the manager never reads", func() {
		ns := newNamespace()
		orders, crm, unrelated := secret("orders-api", ns), secret("crm", ns), secret("unrelated", ns)
		create(orders, crm, unrelated)
		f := withHeaderSecret(flow("orders", ns, v1alpha1.StateUnpublished), "orders-api")
		b := binding("orders-whatsapp", ns, "orders", "acct-labels")
		b.Spec.CredentialsRef.Name = "crm"
		create(f, b)
		Eventually(referenced(orders)).Should(BeTrue(), "a flow's header Secret")
		Eventually(referenced(crm)).Should(BeTrue(), "a binding's credentials")

		By("a Secret the flow stops reading, still the binding's, keeps the label")
		Expect(update(f, func(f *v1alpha1.ChatFlow) {
			f.Spec.Nodes[3].HTTPRequest.Headers[0].ValueFrom.SecretKeyRef.Name = "crm"
		})).To(Succeed())
		Eventually(referenced(orders)).Should(BeFalse(), "nothing references orders-api any more")
		Consistently(referenced(crm), "1s").Should(BeTrue())

		By("a deleted flow frees its Secrets, unless a binding still holds them")
		Expect(update(f, func(f *v1alpha1.ChatFlow) {
			f.Spec.Nodes[3].HTTPRequest.Headers[0].ValueFrom.SecretKeyRef.Name = "orders-api"
		})).To(Succeed())
		Eventually(referenced(orders)).Should(BeTrue())
		Expect(k8s.Delete(ctx, f)).To(Succeed())
		Eventually(referenced(orders)).Should(BeFalse())
		Expect(get(orders).Labels).To(BeEmpty(), "the label is all the manager ever changed")
		Expect(get(orders).Data).To(HaveKeyWithValue("token", []byte("t0ken")))
		Consistently(referenced(crm), "1s").Should(BeTrue())

		Expect(referenced(unrelated)()).To(BeFalse())
		Expect(managerRequests.Matching(func(r testenv.Request) bool {
			return r.Resource == "secrets" && r.Namespace == ns && r.Name == "unrelated"
		})).To(BeEmpty(), "the manager never asked for a Secret no object references")
	})

	It("holds a flow back while missing, and lets it go once created, labelled, unwatched before", func() {
		ns := newNamespace()
		f := withHeaderSecret(flow("later", ns, v1alpha1.StatePublished), "created-later")
		b := binding("later-whatsapp", ns, "later", "acct-later")
		create(credentials(b.Name, ns), f, b)
		Eventually(condition(f, v1alpha1.ConditionStalled)).Should(Equal("True/SecretNotFound"))
		Expect(gone(executorDeployment(f))()).To(BeTrue())

		s := secret("created-later", ns)
		create(s)
		Eventually(gone(executorDeployment(f)), "30s").Should(BeFalse(), "the flow rolls out once the Secret exists")
		Expect(referenced(s)()).To(BeTrue())
		Eventually(condition(f, v1alpha1.ConditionStalled)).Should(BeEmpty(), "the status follows the rollout")
	})
})

var _ = Describe("The session store password", func() {
	It("reaches the executor from a Secret of the flow's namespace, never in its arguments", func() {
		ns := newNamespace()
		f, _ := publishedAndLive("with-store", ns)
		d := get(executorDeployment(f))
		c := d.Spec.Template.Spec.Containers[0]
		for _, a := range c.Args {
			Expect(a).NotTo(ContainSubstring(storePassword))
		}
		Expect(c.Args).To(ContainElements("--store", "redis://redis.chatflow:6379/0"))
		Expect(c.Env).To(ContainElement(corev1.EnvVar{Name: builders.StorePasswordEnv, ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "with-store-executor"}, Key: builders.StorePasswordKey},
		}}))

		s := get(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "with-store-executor", Namespace: ns}})
		Expect(s.Data).To(Equal(map[string][]byte{builders.StorePasswordKey: []byte(storePassword)}))
		Expect(metav1.IsControlledBy(s, get(f))).To(BeTrue())
		Expect(s.Labels).To(HaveKeyWithValue(builders.LabelReferenced, "true"))

		By("deleted by hand, it comes back")
		Expect(k8s.Delete(ctx, s)).To(Succeed())
		Eventually(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(s), &corev1.Secret{}) }).Should(Succeed())

		By("unpublished, the flow keeps no copy of the password")
		Expect(update(f, func(f *v1alpha1.ChatFlow) { f.Spec.State = v1alpha1.StateUnpublished })).To(Succeed())
		Eventually(gone(s)).Should(BeTrue())
	})

	It("is not written into a Secret that is not the flow's", func() {
		ns := newNamespace()
		mine := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "taken-executor", Namespace: ns}, StringData: map[string]string{"mine": "yes"}}
		create(mine)
		f := flow("taken", ns, v1alpha1.StatePublished)
		b := binding("taken-whatsapp", ns, "taken", "acct-taken")
		create(credentials(b.Name, ns), f, b)
		Eventually(func() string { return conditionMessage(f, v1alpha1.ConditionReady) }).Should(
			ContainSubstring("the store Secret taken-executor exists and is not this flow's"))
		Expect(get(mine).Data).To(Equal(map[string][]byte{"mine": []byte("yes")}))
		Expect(gone(executorDeployment(f))()).To(BeTrue())
	})
})
