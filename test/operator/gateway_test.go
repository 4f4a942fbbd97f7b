package operator

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/controllers/channelbinding"
	"github.com/chatflow-dev/chatflow/internal/sandbox"
)

// secretLabels returns a Secret's two labels the manager manages, as
// "credentials/referenced".
func secretLabels(s *corev1.Secret) func() string {
	return func() string {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
			return err.Error()
		}
		return s.Labels[builders.LabelCredentials] + "/" + s.Labels[builders.LabelReferenced]
	}
}

// overrideBinding creates an Unpublished flow and a WhatsApp binding for
// account that asks for an override callback, against a sandbox Graph API
// that knows the account's token; it returns the sandbox, its URL, the
// binding and its Secret.
func overrideBinding(account string) (*sandbox.Server, string, *v1alpha1.ChannelBinding, *corev1.Secret) {
	box := sandbox.New(sandbox.Options{Tokens: map[string]string{account: "EAAG"}})
	api := httptest.NewServer(box)
	DeferCleanup(api.Close)
	ns := newNamespace()
	b := binding("orders-wa", ns, "orders", account)
	b.Spec.APIBaseURL = api.URL
	b.Spec.WebhookOverride = true
	s := credentials("orders-wa", ns)
	create(flow("orders", ns, v1alpha1.StateUnpublished), s, b)
	return box, api.URL, b, s
}

// graphFault makes the sandbox Graph API answer the account's calls with
// a Graph error code.
func graphFault(api, account string, code int) {
	req, _ := http.NewRequest(http.MethodPost, api+"/sandbox/faults",
		strings.NewReader(fmt.Sprintf(`{"channel":"whatsapp","to":%q,"code":%d,"times":100}`, account, code)))
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
}

// bindingGone says whether the binding was deleted for good.
func bindingGone(b *v1alpha1.ChannelBinding) func() bool {
	return func() bool {
		return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(b), &v1alpha1.ChannelBinding{}))
	}
}

var _ = Describe("For the gateway, a ChannelBinding", func() {
	It("gets its Secret labelled as credentials, and unlabelled when no binding names it", func() {
		ns := newNamespace()
		b := binding("orders-wa", ns, "orders", "1065-"+ns) // an account serves one flow in the cluster
		first, second := credentials("orders-wa", ns), credentials("other", ns)
		create(flow("orders", ns, v1alpha1.StateUnpublished), first, second, b)
		Eventually(secretLabels(first)).Should(Equal("true/true"))
		Consistently(secretLabels(second), "300ms").Should(Equal("/"), "a Secret no binding names is left alone")

		// Another Secret (the flow is Unpublished, so this is allowed).
		Expect(update(b, func(b *v1alpha1.ChannelBinding) { b.Spec.CredentialsRef.Name = second.Name })).To(Succeed())
		Eventually(secretLabels(second)).Should(Equal("true/true"))
		Eventually(secretLabels(first)).Should(Equal("/"), "both labels go: nothing references it")

		// A label taken away by hand comes back.
		Expect(update(second, func(s *corev1.Secret) { delete(s.Labels, builders.LabelCredentials) })).To(Succeed())
		Eventually(secretLabels(second)).Should(Equal("true/true"))

		Expect(k8s.Delete(ctx, b)).To(Succeed())
		Eventually(secretLabels(second)).Should(Equal("/"))
	})

	It("shows the URL to register, under the gateway's public URL, at -o wide too", func() {
		ns := newNamespace()
		b := binding("orders-wa", ns, "orders", "1065-"+ns)
		create(flow("orders", ns, v1alpha1.StateUnpublished), credentials("orders-wa", ns), b)
		Eventually(condition(b, v1alpha1.ConditionReady)).Should(Equal("True/Succeeded"))
		Expect(get(b).Status.WebhookURL).To(Equal(gatewayPublicURL + "/webhooks/whatsapp"))
		Expect(conditionMessage(b, v1alpha1.ConditionReady)).To(ContainSubstring("the WhatsApp callback URL is " + gatewayPublicURL + "/webhooks/whatsapp"))
		Expect(condition(b, v1alpha1.ConditionWebhookOverride)()).To(BeEmpty(), "no override asked")
	})

	It("registers a WhatsApp number's override callback with the Graph API, again on rotation, and removes it", func() {
		box, api, b, s := overrideBinding("1066")
		url := gatewayPublicURL + "/webhooks/whatsapp"
		Eventually(condition(b, v1alpha1.ConditionWebhookOverride)).Should(Equal("True/Registered"))
		Expect(conditionMessage(b, v1alpha1.ConditionWebhookOverride)).To(Equal("Meta sends phone number 1066's webhooks to " + url))
		Expect(get(b).Status.WebhookOverride.URL).To(Equal(url))
		hooks := box.Webhooks()
		Expect(hooks).To(HaveLen(1))
		Expect(hooks[0].Channel + " " + hooks[0].Account + " " + hooks[0].URL).To(Equal("whatsapp 1066 " + url))

		// A label on the Secret: Meta was given nothing that changed, so
		// nothing is registered again; status follows the Secret's version.
		Expect(update(s, func(s *corev1.Secret) { s.Labels["team"] = "orders" })).To(Succeed())
		Eventually(func() string { return get(b).Status.WebhookOverride.CredentialsVersion }).Should(Equal(get(s).ResourceVersion))
		Consistently(func() int { return len(box.Webhooks()) }, "500ms").Should(Equal(1))

		// A new verify token: Meta must check the URL with it, so register again.
		Expect(update(s, func(s *corev1.Secret) { s.Data["verifyToken"] = []byte("rotated") })).To(Succeed())
		Eventually(func() int { return len(box.Webhooks()) }).Should(BeNumerically(">=", 2))

		// The Graph API refuses: the condition says why, with Graph's words.
		graphFault(api, "1066", 190)
		Expect(update(s, func(s *corev1.Secret) { s.Data["verifyToken"] = []byte("rotated-again") })).To(Succeed())
		Eventually(condition(b, v1alpha1.ConditionWebhookOverride)).Should(Equal("False/RegistrationFailed"))
		Expect(conditionMessage(b, v1alpha1.ConditionWebhookOverride)).To(ContainSubstring("Invalid OAuth access token"))
		Expect(condition(b, v1alpha1.ConditionReady)()).To(Equal("True/Succeeded"), "the binding still serves")

		// Turned off: the override is removed and the condition goes.
		req, _ := http.NewRequest(http.MethodDelete, api+"/sandbox/faults", nil)
		resp, err := http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(update(b, func(b *v1alpha1.ChannelBinding) { b.Spec.WebhookOverride = false })).To(Succeed())
		Eventually(condition(b, v1alpha1.ConditionWebhookOverride)).Should(BeEmpty())
		Expect(get(b).Status.WebhookOverride).To(BeNil())
		hooks = box.Webhooks()
		Expect(hooks[len(hooks)-1].URL).To(BeEmpty(), "the last registration removes the override")
		Expect(get(b).Finalizers).To(BeEmpty(), "nothing to remove from Meta, nothing holds the binding")
	})

	It("removes the override from Meta when the binding is deleted, before the binding goes", func() {
		box, _, b, _ := overrideBinding("1067")
		Eventually(condition(b, v1alpha1.ConditionWebhookOverride)).Should(Equal("True/Registered"))
		Expect(get(b).Finalizers).To(ConsistOf(channelbinding.FinalizerWebhookOverride))

		Expect(k8s.Delete(ctx, b)).To(Succeed())
		Eventually(bindingGone(b)).Should(BeTrue())
		hooks := box.Webhooks()
		Expect(hooks).To(HaveLen(2))
		Expect(hooks[1].Account+" "+hooks[1].URL).To(Equal("1067 "), "the override is removed before the binding goes")
	})

	It("lets a deleted binding go with a warning when Meta refuses to remove its override", func() {
		_, api, b, _ := overrideBinding("1068")
		Eventually(condition(b, v1alpha1.ConditionWebhookOverride)).Should(Equal("True/Registered"))

		// The token was revoked: Graph answers 190, which no retry mends.
		graphFault(api, "1068", 190)
		Expect(k8s.Delete(ctx, b)).To(Succeed())
		Eventually(bindingGone(b)).Should(BeTrue())
		Eventually(func() string {
			var list eventsv1.EventList
			if err := k8s.List(ctx, &list, client.InNamespace(b.Namespace)); err != nil {
				return err.Error()
			}
			for _, e := range list.Items {
				if e.Reason == v1alpha1.ReasonOverrideNotRemoved {
					return e.Note
				}
			}
			return ""
		}).Should(And(ContainSubstring("Invalid OAuth access token"), ContainSubstring("remove it in the Meta app's WhatsApp settings")))
	})

	It("gives a Viber binding that registers its webhook the gateway's public URL", func() {
		ns := newNamespace()
		f := flow("bot", ns, v1alpha1.StatePublished)
		f.Spec.Trigger.Type = v1alpha1.TriggerViber
		b := binding("bot-viber", ns, "bot", "pa-"+ns)
		b.Spec.Channel = v1alpha1.ChannelViber
		b.Spec.Webhook.Register = true
		create(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: b.Spec.CredentialsRef.Name, Namespace: ns},
			StringData: map[string]string{"authToken": "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9"},
		}, f, b)
		d := executorDeployment(f)
		Eventually(gone(d)).Should(BeFalse())
		cm := get(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: templateConfigMap(get(d)), Namespace: ns}})
		var doc v1alpha1.ChannelBinding
		Expect(yaml.UnmarshalStrict([]byte(cm.Data["binding.yaml"]), &doc)).To(Succeed())
		Expect(doc.Spec.Webhook.PublicURL).To(Equal(gatewayPublicURL), "set_webhook registers <gateway>/webhooks/viber/<account>")
	})

	It("refuses spec.webhookOverride on another channel than WhatsApp", func() {
		ns := newNamespace()
		b := binding("page", ns, "orders", "p1")
		b.Spec.Channel = v1alpha1.ChannelMessenger
		b.Spec.WebhookOverride = true
		err := k8s.Create(ctx, b)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("spec.webhookOverride is for WhatsApp bindings"))
	})
})
