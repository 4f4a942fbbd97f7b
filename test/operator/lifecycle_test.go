package operator

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// The lifecycle table of DESIGN.md §1, row by row, through the API server
// with the CRD rules, the webhooks and the admission policy in place.
var _ = Describe("The lifecycle rules", func() {
	Describe("of a Published flow", Ordered, func() {
		var (
			ns string
			f  *v1alpha1.ChatFlow
			b  *v1alpha1.ChannelBinding
		)
		BeforeAll(func() {
			ns = newNamespace()
			f, b = publishedAndLive("live", ns)
		})

		It("allows updating the basic info, without restarting the executor", func() {
			d := get(executorDeployment(f))
			Expect(update(f, func(f *v1alpha1.ChatFlow) {
				f.Spec.DisplayName, f.Spec.Remark = "Live flow", "Answers everything"
			})).To(Succeed())
			Eventually(func() int64 { return get(f).Status.ObservedGeneration }).Should(Equal(f.Generation))
			Expect(get(executorDeployment(f)).Generation).To(Equal(d.Generation))
		})

		It("allows enabling and disabling logging, which rolls out to the executor", func() {
			d := executorDeployment(f)
			cm := templateConfigMap(get(d))
			Expect(update(f, func(f *v1alpha1.ChatFlow) { f.Spec.Logging.Enabled = true })).To(Succeed())
			Eventually(func() string { return templateConfigMap(get(d)) }).ShouldNot(Equal(cm))
			rollOut(d)
			Expect(update(f, func(f *v1alpha1.ChatFlow) { f.Spec.Logging.Enabled = false })).To(Succeed())
			Eventually(func() string { return templateConfigMap(get(d)) }).Should(Equal(cm))
			rollOut(d)
		})

		It("allows testing changes (server-side dry run)", func() {
			gen := get(f).Generation
			Expect(dryRun(f, func(f *v1alpha1.ChatFlow) { f.Spec.Nodes[1].SendMessage.Text = "Dry run" })).To(Succeed())
			Expect(get(f).Generation).To(Equal(gen))
			Expect(dryRun(f, func(f *v1alpha1.ChatFlow) { f.Spec.Nodes[1].Next = "nowhere" })).
				To(MatchError(ContainSubstring("spec.nodes[1].next")))
		})

		It("allows changing the graph", func() {
			Expect(update(f, func(f *v1alpha1.ChatFlow) { f.Spec.Nodes[1].SendMessage.Text = "Hello again" })).To(Succeed())
			Eventually(func() string { return get(executorDeployment(f)).Spec.Template.Labels["chatflow.dev/revision"] }).
				Should(Equal(revisionOf(f)))
		})

		It("denies binding another account", func() {
			second := binding("live-second", ns, "live", "another-account")
			err := k8s.Create(ctx, second)
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
			Expect(err.Error()).To(And(
				ContainSubstring(`admission webhook "vchannelbinding-v1alpha1.chatflow.dev" denied the request`),
				ContainSubstring("spec.flowRef.name: Forbidden: ChatFlow live is Published and already bound by ChannelBinding live-whatsapp"),
				ContainSubstring("set spec.state: Unpublished on ChatFlow live first"),
			))
		})

		It("denies rebinding: another account, another flow, or unbinding", func() {
			err := update(b, func(b *v1alpha1.ChannelBinding) { b.Spec.Account.ID = "another-account" })
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
			Expect(err.Error()).To(And(
				ContainSubstring("spec.account: Forbidden: ChatFlow live is Published and runs on this binding"),
				ContainSubstring("set spec.state: Unpublished on ChatFlow live first"),
			))
			err = update(b, func(b *v1alpha1.ChannelBinding) { b.Spec.FlowRef.Name = "other" })
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
			Expect(err.Error()).To(ContainSubstring("spec.flowRef.name: Forbidden: ChatFlow live is Published"))
			err = k8s.Delete(ctx, get(b))
			Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
			Expect(err.Error()).To(ContainSubstring(
				"ChatFlow live is Published and runs on this binding: set spec.state: Unpublished on ChatFlow live first, then delete the binding"))
		})

		It("allows rotating the credentials of the binding", func() {
			Expect(update(b, func(b *v1alpha1.ChannelBinding) { b.Spec.APIBaseURL = "https://sandbox.example.com" })).To(Succeed())
		})

		It("denies changing the trigger type", func() {
			err := update(f, func(f *v1alpha1.ChatFlow) { f.Spec.Trigger.Type = v1alpha1.TriggerViber })
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
			Expect(err.Error()).To(ContainSubstring(
				"spec.trigger.type: Forbidden: spec.trigger.type cannot change while the flow is Published: set spec.state: Unpublished first"))
		})

		It("denies deleting it", func() {
			err := k8s.Delete(ctx, get(f))
			Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
			Expect(err.Error()).To(ContainSubstring(
				"ChatFlow live is Published and serves its channel: set spec.state: Unpublished first, then delete it"))
			Expect(gone(f)()).To(BeFalse())
		})
	})

	Describe("of an Unpublished flow", Ordered, func() {
		var (
			ns string
			f  *v1alpha1.ChatFlow
			b  *v1alpha1.ChannelBinding
		)
		BeforeAll(func() {
			ns = newNamespace()
			f = flow("draft", ns, v1alpha1.StateUnpublished)
			b = binding("draft-whatsapp", ns, "draft", "draft-account")
			create(credentials(b.Name, ns), f, b)
			Eventually(condition(f, v1alpha1.ConditionReady)).Should(Equal("True/Unpublished"))
			Eventually(condition(b, v1alpha1.ConditionReady)).Should(Equal("True/Succeeded"))
		})

		It("allows updating the basic info and logging", func() {
			Expect(update(f, func(f *v1alpha1.ChatFlow) {
				f.Spec.DisplayName, f.Spec.Logging.Enabled = "Draft", true
			})).To(Succeed())
		})

		It("allows testing changes (server-side dry run)", func() {
			Expect(dryRun(f, func(f *v1alpha1.ChatFlow) { f.Spec.Nodes[1].SendMessage.Text = "Dry run" })).To(Succeed())
		})

		It("allows changing the graph", func() {
			Expect(update(f, func(f *v1alpha1.ChatFlow) { f.Spec.Nodes[1].SendMessage.Text = "Hi" })).To(Succeed())
		})

		It("allows binding another account and rebinding", func() {
			second := binding("draft-second", ns, "draft", "second-account")
			create(credentials(second.Name, ns), second)
			Eventually(condition(second, v1alpha1.ConditionStalled)).Should(Equal("True/Conflict"), "a flow has one binding")
			Expect(conditionMessage(second, v1alpha1.ConditionStalled)).To(ContainSubstring(`already bound by ChannelBinding "draft-whatsapp"`))
			Expect(update(b, func(b *v1alpha1.ChannelBinding) { b.Spec.Account.ID = "draft-account-2" })).To(Succeed())
			Expect(update(second, func(b *v1alpha1.ChannelBinding) { b.Spec.FlowRef.Name = "elsewhere" })).To(Succeed())
			Eventually(condition(second, v1alpha1.ConditionStalled)).Should(Equal("True/FlowNotFound"))
			Expect(k8s.Delete(ctx, second)).To(Succeed())
		})

		It("allows changing the trigger type", func() {
			Expect(update(f, func(f *v1alpha1.ChatFlow) { f.Spec.Trigger.Type = v1alpha1.TriggerViber })).To(Succeed())
			Eventually(condition(b, v1alpha1.ConditionStalled)).Should(Equal("True/ChannelMismatch"),
				"its WhatsApp binding no longer fits")
			Expect(update(f, func(f *v1alpha1.ChatFlow) { f.Spec.Trigger.Type = v1alpha1.TriggerWhatsApp })).To(Succeed())
			Eventually(condition(b, v1alpha1.ConditionReady)).Should(Equal("True/Succeeded"))
		})

		It("allows unbinding and deleting it", func() {
			Expect(k8s.Delete(ctx, b)).To(Succeed())
			Expect(k8s.Delete(ctx, f)).To(Succeed())
			Eventually(gone(f)).Should(BeTrue())
		})
	})
})

// dryRun sends an update with dryRun=All (kubectl apply --dry-run=server),
// retrying on conflicts with the controller's status writes.
func dryRun(f *v1alpha1.ChatFlow, mutate func(*v1alpha1.ChatFlow)) error {
	var err error
	for range 5 {
		dry := get(f.DeepCopy())
		mutate(dry)
		if err = k8s.Update(ctx, dry, client.DryRunAll); !apierrors.IsConflict(err) {
			return err
		}
	}
	return err
}
