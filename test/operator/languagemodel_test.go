package operator

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

func languageModel(name, ns string) *v1alpha1.LanguageModel {
	return &v1alpha1.LanguageModel{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.LanguageModelSpec{
			BaseURL: "https://api.openai.com/v1", Model: "gpt-4o-mini",
			APIKeyRef: &v1alpha1.SecretKeySelector{Name: "openai", Key: "apiKey"},
		},
	}
}

// aiFlow is a Published WhatsApp flow whose reply comes from a model.
func aiFlow(name, ns, model string) *v1alpha1.ChatFlow {
	f := flow(name, ns, v1alpha1.StatePublished)
	f.Spec.Nodes[1].Next = "answer"
	f.Spec.Nodes = append(f.Spec.Nodes, v1alpha1.Node{
		ID: "answer", Type: v1alpha1.NodeAIReply, Next: "end",
		AIReply: &v1alpha1.AIReplyNode{Model: model, SystemPrompt: "You help customers of Shop."},
	})
	return f
}

var _ = Describe("A LanguageModel", func() {
	It("is checked by admission with field paths", func() {
		ns := newNamespace()
		m := languageModel("bad", ns)
		m.Spec.BaseURL = "https://user:sk-1@api.example.com/v1"
		m.Spec.Temperature = "1.5"
		err := k8s.Create(ctx, m)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("spec.baseURL: Invalid value"))
		m = languageModel("bad2", ns)
		m.Spec.BaseURL = "https://api.example.com/v1/chat/completions"
		err = k8s.Create(ctx, m)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring(`admission webhook "vlanguagemodel-v1alpha1.chatflow.dev" denied the request`))
		Expect(err.Error()).To(ContainSubstring("spec.baseURL: Invalid value: \"https://api.example.com/v1/chat/completions\": is the base URL, without /chat/completions"))

		By("a key travels over https only, to anything but localhost (a CEL rule of the CRD)")
		m = languageModel("plain", ns)
		m.Spec.BaseURL = "http://llm.example.com/v1"
		err = k8s.Create(ctx, m)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("spec.baseURL: Invalid value: baseURL must be https when apiKeyRef is set"))
		m.Spec.BaseURL = "http://127.0.0.1:9090/v1"
		Expect(k8s.Create(ctx, m, client.DryRunAll)).To(Succeed(), "the sandbox on loopback")
		m.Spec.BaseURL, m.Spec.APIKeyRef = "http://vllm.models:8000/v1", nil
		Expect(k8s.Create(ctx, m, client.DryRunAll)).To(Succeed(), "an endpoint without a key")
	})

	It("holds back a flow whose called flow names a model that does not exist", func() {
		ns := newNamespace()
		billing := aiFlow("billing", ns, "billing-llm")
		billing.Spec.Trigger = v1alpha1.Trigger{Type: v1alpha1.TriggerManual}
		menu := flow("menu", ns, v1alpha1.StatePublished)
		menu.Spec.Nodes[1].Next = "call"
		menu.Spec.Nodes = append(menu.Spec.Nodes, v1alpha1.Node{ID: "call", Type: v1alpha1.NodeForwardToFlow, Next: "end",
			ForwardToFlow: &v1alpha1.ForwardToFlowNode{FlowRef: v1alpha1.FlowReference{Name: "billing"}, Return: true}})
		b := binding("menu-whatsapp", ns, "menu", "acct-menu-"+ns)
		create(credentials(b.Name, ns), billing, menu, b)

		// The called flow runs in the caller's executor: without its model
		// the executor could not answer there.
		Eventually(condition(menu, v1alpha1.ConditionReady)).Should(Equal("False/ModelNotFound"))
		Expect(conditionMessage(menu, v1alpha1.ConditionReady)).To(ContainSubstring(
			"LanguageModel billing-llm (ChatFlow billing spec.nodes[3].aiReply.model) does not exist"))
		Expect(gone(executorDeployment(menu))()).To(BeTrue(), "no executor without the called flow's model")

		By("the model's arrival wakes the caller, and its executor gets the model")
		create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "openai", Namespace: ns},
			StringData: map[string]string{"apiKey": "sk-test"}}, languageModel("billing-llm", ns))
		d := executorDeployment(menu)
		Eventually(gone(d)).Should(BeFalse())
		cm := get(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: templateConfigMap(d), Namespace: ns}})
		Expect(cm.Data["models.yaml"]).To(ContainSubstring("name: billing-llm"))
	})

	It("holds a flow back until it exists and is Ready, then reaches the executor", func() {
		ns := newNamespace()
		f := aiFlow("support", ns, "support-llm")
		b := binding("support-whatsapp", ns, "support", "acct-support")
		create(credentials(b.Name, ns), f, b)

		By("a flow whose model is missing is not Ready, and says which")
		Eventually(condition(f, v1alpha1.ConditionReady)).Should(Equal("False/ModelNotFound"))
		Expect(conditionMessage(f, v1alpha1.ConditionReady)).To(ContainSubstring(
			"LanguageModel support-llm (spec.nodes[3].aiReply.model) does not exist"))
		Expect(condition(f, v1alpha1.ConditionStalled)()).To(Equal("True/ModelNotFound"))
		Expect(kstatusOf(f)).To(Equal(status.FailedStatus))
		Expect(gone(executorDeployment(f))()).To(BeTrue(), "no executor without its model")

		By("a model without its key's Secret is Stalled, and so is the flow")
		m := languageModel("support-llm", ns)
		create(m)
		Eventually(condition(m, v1alpha1.ConditionReady)).Should(Equal("False/SecretNotFound"))
		Expect(kstatusOf(m)).To(Equal(status.FailedStatus))
		Eventually(condition(f, v1alpha1.ConditionReady)).Should(Equal("False/ModelNotReady"))
		Expect(conditionMessage(f, v1alpha1.ConditionReady)).To(ContainSubstring("LanguageModel support-llm is not Ready: Secret openai of spec.apiKeyRef does not exist"))

		By("with the key, the model is Ready and the flow rolls out with it")
		create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "openai", Namespace: ns},
			StringData: map[string]string{"apiKey": "sk-test"}})
		Eventually(condition(m, v1alpha1.ConditionReady)).Should(Equal("True/Succeeded"))
		Expect(kstatusOf(m)).To(Equal(status.CurrentStatus))
		d := executorDeployment(f)
		Eventually(gone(d)).Should(BeFalse())
		c := d.Spec.Template.Spec.Containers[0]
		Expect(strings.Join(c.Args, " ")).To(ContainSubstring("--models /etc/chatflow/revision/models.yaml --model-keys /etc/chatflow/model-keys"))
		Expect(strings.Join(c.Args, " ")).NotTo(ContainSubstring("sk-test"))
		Expect(c.VolumeMounts).To(ContainElement(HaveField("MountPath", "/etc/chatflow/model-keys/openai")))
		Expect(d.Spec.Template.Spec.Volumes).To(ContainElement(And(HaveField("VolumeSource.Secret.SecretName", "openai"),
			HaveField("VolumeSource.Secret.Items", []corev1.KeyToPath{{Key: "apiKey", Path: "apiKey"}}))))
		cm := get(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: templateConfigMap(d), Namespace: ns}})
		Expect(cm.Data).To(HaveKey("models.yaml"))
		Expect(cm.Data["models.yaml"]).To(ContainSubstring("baseURL: https://api.openai.com/v1"))
		rollOut(d)
		Eventually(condition(f, v1alpha1.ConditionReady)).Should(Equal("True/Succeeded"))

		By("a change of the model rolls the executor")
		Expect(update(m, func(m *v1alpha1.LanguageModel) { m.Spec.Model = "gpt-4.1-mini" })).To(Succeed())
		Eventually(func() string { return templateConfigMap(executorDeployment(f)) }).ShouldNot(Equal(cm.Name))

		By("a model a Published flow uses cannot be deleted")
		err := k8s.Delete(ctx, get(m))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("the Published ChatFlows support use this model"))
		Expect(update(f, func(f *v1alpha1.ChatFlow) { f.Spec.State = v1alpha1.StateUnpublished })).To(Succeed())
		Eventually(func() error { return k8s.Delete(ctx, get(m)) }).Should(Succeed())
		Eventually(gone(m)).Should(BeTrue())
		Eventually(condition(f, v1alpha1.ConditionReady)).Should(Equal("True/Unpublished"))
	})
})
