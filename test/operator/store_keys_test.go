package operator

import (
	"encoding/hex"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
)

// keysSecret is a flow's keys Secret.
func keysSecret(f *v1alpha1.ChatFlow) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: builders.KeysSecretName(f.Name), Namespace: f.Namespace}}
}

var _ = Describe("A Published flow's session store keys", func() {
	It("are generated once into a Secret the flow owns and its executor mounts", func() {
		ns := newNamespace()
		f, _ := publishedAndLive("sealed", ns)
		s := get(keysSecret(f))
		Expect(metav1.IsControlledBy(s, get(f))).To(BeTrue(), "owned by the flow, so it goes with it")
		item := string(s.Data["itemKey"])
		_, err := hex.DecodeString(item)
		Expect(err).NotTo(HaveOccurred())
		Expect(item).To(HaveLen(64), "256 random bits")
		Expect(string(s.Data["contactHashKey"])).To(Equal(builders.ContactHashKey(contactHashKey, ns)),
			"the installation's contact hash key, derived for the namespace")

		d := get(executorDeployment(f))
		Expect(d.Spec.Template.Spec.Volumes).To(ContainElement(And(HaveField("Name", "keys"),
			HaveField("VolumeSource.Secret.SecretName", s.Name))))
		Expect(d.Spec.Template.Spec.Containers[0].Args).To(ContainElements("--keys", builders.KeysDir))

		By("the flow's retention reaches the executor with the manifest it reads")
		var cm corev1.ConfigMap
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: templateConfigMap(d)}, &cm)).To(Succeed())
		var live v1alpha1.ChatFlow
		Expect(yaml.Unmarshal([]byte(cm.Data[builders.FlowKey]), &live)).To(Succeed())
		Expect(live.Spec.Retention.SessionIdleTimeout).To(BeNil(), "no default is written into the object")
		Expect(live.Spec.Retention.IdleTimeout().String()).To(Equal("720h0m0s"), "the executor's default")

		By("unpublishing and publishing again keeps the key: items queued under it must still verify")
		Expect(update(f, func(f *v1alpha1.ChatFlow) { f.Spec.State = v1alpha1.StateUnpublished })).To(Succeed())
		Eventually(gone(executorDeployment(f))).Should(BeTrue())
		Expect(update(f, func(f *v1alpha1.ChatFlow) { f.Spec.State = v1alpha1.StatePublished })).To(Succeed())
		Eventually(gone(executorDeployment(f))).Should(BeFalse())
		again := get(keysSecret(f))
		Expect(string(again.Data["itemKey"])).To(Equal(item))
		Expect(again.UID).To(Equal(s.UID))

		By("a stale contact hash key is replaced, the item key kept, and the pods roll")
		version := get(executorDeployment(f)).Spec.Template.Annotations[builders.AnnotationSecretsVersion]
		Expect(update(again, func(s *corev1.Secret) {
			s.Annotations[builders.AnnotationContactHashKey] = builders.KeyFingerprint("an older installation key")
			s.Data["contactHashKey"] = []byte("an older installation key")
		})).To(Succeed())
		Eventually(func() string { return string(get(keysSecret(f)).Data["contactHashKey"]) }).
			Should(Equal(builders.ContactHashKey(contactHashKey, ns)))
		Expect(string(get(keysSecret(f)).Data["itemKey"])).To(Equal(item))
		Eventually(func() string {
			return get(executorDeployment(f)).Spec.Template.Annotations[builders.AnnotationSecretsVersion]
		}).ShouldNot(Equal(version))

		By("deleted, it is generated again")
		Expect(k8s.Delete(ctx, get(keysSecret(f)))).To(Succeed())
		Eventually(func() bool {
			s := &corev1.Secret{}
			err := k8s.Get(ctx, client.ObjectKeyFromObject(keysSecret(f)), s)
			return err == nil && s.UID != again.UID && len(s.Data["itemKey"]) == 64
		}).Should(BeTrue())
	})

	It("are not taken from a Secret of that name the flow does not own", func() {
		ns := newNamespace()
		f := flow("squatted", ns, v1alpha1.StatePublished)
		create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: builders.KeysSecretName(f.Name), Namespace: ns},
			StringData: map[string]string{"itemKey": "a key someone else chose"}})
		b := binding(f.Name+"-whatsapp", ns, f.Name, "acct-"+ns)
		create(credentials(b.Name, ns), f, b)
		Eventually(func() string { return conditionMessage(f, v1alpha1.ConditionReady) }).Should(ContainSubstring(
			"Secret squatted-executor-keys exists and is not ChatFlow squatted's"))
		Expect(gone(executorDeployment(f))()).To(BeTrue(), "no executor on keys someone else holds")
		Expect(string(get(keysSecret(f)).Data["itemKey"])).To(Equal("a key someone else chose"), "left alone")
	})
})

var _ = Describe("A channel account", func() {
	It("serves one flow in the cluster: a second namespace cannot claim it, and the conflict names both", func() {
		teamA, teamB := newNamespace(), newNamespace()
		account := "acct-shared-" + teamA
		fa, fb := flow("orders", teamA, v1alpha1.StatePublished), flow("orders", teamB, v1alpha1.StatePublished)
		a, b := binding("shop", teamA, "orders", account), binding("shop", teamB, "orders", account)
		create(credentials(a.Name, teamA), fa, a)
		Eventually(condition(a, v1alpha1.ConditionReady)).Should(Equal("True/Succeeded"))
		// The binding is Ready before the flow's reconciler has made its
		// Deployment, possibly: wait for it rather than reading it once.
		da := executorDeployment(fa)
		Eventually(gone(da)).Should(BeFalse(), "the executor Deployment is created")
		rollOut(da)

		create(credentials(b.Name, teamB), fb, b)
		Eventually(condition(b, v1alpha1.ConditionStalled)).Should(Equal("True/Conflict"))
		Expect(conditionMessage(b, v1alpha1.ConditionStalled)).To(Equal(
			"WhatsApp account " + account + " is already bound to ChatFlow " + teamA + "/orders by ChannelBinding " + teamA +
				"/shop, which holds it; ChannelBinding " + teamB + "/shop cannot claim it: an account serves one flow in the cluster, so unbind it there first"))
		Eventually(condition(fb, v1alpha1.ConditionStalled)).Should(Equal("True/BindingNotReady"))
		Expect(gone(executorDeployment(fb))()).To(BeTrue(), "no executor sends for the account in the second namespace")
		Expect(condition(a, v1alpha1.ConditionReady)()).To(Equal("True/Succeeded"), "the holder keeps it")

		By("once the holder lets go, the next in line takes the account")
		Expect(update(fa, func(f *v1alpha1.ChatFlow) { f.Spec.State = v1alpha1.StateUnpublished })).To(Succeed())
		Eventually(gone(executorDeployment(fa))).Should(BeTrue())
		Expect(k8s.Delete(ctx, get(a))).To(Succeed())
		Eventually(condition(b, v1alpha1.ConditionReady)).Should(Equal("True/Succeeded"))
		Eventually(gone(executorDeployment(fb))).Should(BeFalse())
	})
})
