package operator

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

var _ = Describe("A ChannelBinding", func() {
	It("is Stalled until its Secret has every key its channel needs, and holds the flow back", func() {
		ns := newNamespace()
		f := flow("orders", ns, v1alpha1.StatePublished)
		b := binding("orders-whatsapp", ns, "orders", "1065-"+ns) // an account serves one flow in the cluster
		create(f, b)

		Eventually(condition(b, v1alpha1.ConditionStalled)).Should(Equal("True/SecretNotFound"))
		Expect(kstatusOf(b)).To(Equal(status.FailedStatus))
		Eventually(condition(f, v1alpha1.ConditionStalled)).Should(Equal("True/BindingNotReady"))
		Expect(gone(executorDeployment(f))()).To(BeTrue(), "no executor without credentials")

		s := credentials(b.Name, ns)
		delete(s.StringData, "appSecret")
		create(s)
		Eventually(condition(b, v1alpha1.ConditionStalled)).Should(Equal("True/SecretKeyMissing"))
		Expect(conditionMessage(b, v1alpha1.ConditionStalled)).To(Equal(
			`Secret "orders-whatsapp-credentials" lacks the key appSecret that WhatsApp needs: add key to the Secret`))
		Eventually(func() string { return conditionMessage(f, v1alpha1.ConditionBound) }).Should(ContainSubstring("lacks the key appSecret"))

		Expect(update(s, func(s *corev1.Secret) { s.Data["appSecret"] = []byte("s3cret") })).To(Succeed())
		Eventually(condition(b, v1alpha1.ConditionReady)).Should(Equal("True/Succeeded"))
		Expect(condition(b, v1alpha1.ConditionStalled)()).To(BeEmpty())
		Eventually(gone(executorDeployment(f))).Should(BeFalse(), "the flow rolls out")
	})

	It("is Stalled with reason Conflict when its account already serves another flow", func() {
		ns := newNamespace()
		create(flow("first", ns, v1alpha1.StateUnpublished), flow("second", ns, v1alpha1.StateUnpublished))
		a := binding("a", ns, "first", "shared-account")
		create(credentials("a", ns), a)
		Eventually(condition(a, v1alpha1.ConditionReady)).Should(Equal("True/Succeeded"))
		later := binding("b", ns, "second", "shared-account")
		create(credentials("b", ns), later)
		Eventually(condition(later, v1alpha1.ConditionStalled)).Should(Equal("True/Conflict"))
		Expect(conditionMessage(later, v1alpha1.ConditionStalled)).To(ContainSubstring(
			"WhatsApp account shared-account is already bound to ChatFlow " + ns + "/first by ChannelBinding " + ns + "/a, which holds it"))
		Expect(condition(a, v1alpha1.ConditionReady)()).To(Equal("True/Succeeded"), "the earlier one keeps it")

		Expect(k8s.Delete(ctx, a)).To(Succeed())
		Eventually(condition(later, v1alpha1.ConditionReady)).Should(Equal("True/Succeeded"), "the next in line takes over")
	})

	It("reports the webhook path of its channel; Viber's names the bot", func() {
		ns := newNamespace()
		f := flow("viber-flow", ns, v1alpha1.StateUnpublished)
		f.Spec.Trigger.Type = v1alpha1.TriggerViber
		b := binding("viber", ns, "viber-flow", "shopbot")
		b.Spec.Channel = v1alpha1.ChannelViber
		create(f, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "viber-credentials", Namespace: ns},
			StringData: map[string]string{"authToken": "t"}}, b)
		Eventually(condition(b, v1alpha1.ConditionReady)).Should(Equal("True/Succeeded"))
		Expect(get(b).Status.WebhookPath).To(Equal("/webhooks/viber/shopbot"))
	})
})
