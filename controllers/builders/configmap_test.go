package builders

import (
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/internal/testutil"
)

const gateway = "https://chat.example.com"

func TestConfigMap(t *testing.T) {
	g := NewWithT(t)
	f := testutil.Flow("order-status", v1alpha1.StatePublished)
	f.ResourceVersion = "42"
	f.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	f.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}"}
	f.Status.Revision = "old"
	testutil.Replicas(f, 2)
	b := testutil.Binding("shop-whatsapp", "order-status")

	cm, err := ConfigMap(f, b, "5f1c2a9e01", gateway, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cm.Name).To(HavePrefix("order-status-5f1c2a9e01-"))
	g.Expect(cm.Namespace).To(Equal(testutil.Namespace))
	g.Expect(*cm.Immutable).To(BeTrue())
	g.Expect(cm.Labels).To(HaveKeyWithValue(LabelRevision, "5f1c2a9e01"))
	g.Expect(cm.Labels).To(HaveKeyWithValue(LabelManagedBy, ManagedBy))
	g.Expect(metav1.IsControlledBy(cm, f)).To(BeTrue())
	g.Expect(cm.Data).To(HaveKey(FlowKey))
	g.Expect(cm.Data).To(HaveKey(BindingKey))

	var flowDoc map[string]any
	g.Expect(yaml.Unmarshal([]byte(cm.Data[FlowKey]), &flowDoc)).To(Succeed())
	g.Expect(flowDoc).To(HaveKeyWithValue("apiVersion", "chatflow.dev/v1alpha1"))
	g.Expect(flowDoc).To(HaveKeyWithValue("kind", "ChatFlow"))
	g.Expect(flowDoc).NotTo(HaveKey("status"))
	g.Expect(flowDoc["metadata"]).To(Equal(map[string]any{"name": "order-status", "namespace": testutil.Namespace}),
		"no resourceVersion, managed fields or annotations")
	g.Expect(flowDoc["spec"]).NotTo(HaveKey("executor"))
	var back v1alpha1.ChatFlow
	g.Expect(yaml.UnmarshalStrict([]byte(cm.Data[FlowKey]), &back)).To(Succeed())
	g.Expect(back.Spec.Nodes).To(Equal(f.Spec.Nodes))

	var bindingDoc v1alpha1.ChannelBinding
	g.Expect(yaml.UnmarshalStrict([]byte(cm.Data[BindingKey]), &bindingDoc)).To(Succeed())
	g.Expect(bindingDoc.Kind).To(Equal("ChannelBinding"))
	g.Expect(bindingDoc.Spec).To(Equal(b.Spec))
}

func TestConfigMapName_followsContent(t *testing.T) {
	base := testutil.Flow("order-status", v1alpha1.StatePublished)
	b := testutil.Binding("shop-whatsapp", "order-status")
	name := func(f *v1alpha1.ChatFlow, b *v1alpha1.ChannelBinding) string {
		cm, err := ConfigMap(f, b, "5f1c2a9e01", gateway, nil)
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		return cm.Name
	}
	tests := []struct {
		name   string
		change func(f *v1alpha1.ChatFlow, b *v1alpha1.ChannelBinding) *v1alpha1.ChannelBinding
		same   bool
	}{
		{name: "metadata and status do not count", same: true, change: func(f *v1alpha1.ChatFlow, b *v1alpha1.ChannelBinding) *v1alpha1.ChannelBinding {
			f.ResourceVersion, f.Generation, f.Labels = "7", 9, map[string]string{"team": "a"}
			f.Status.ObservedGeneration = 9
			return b
		}},
		{name: "basic info does not count", same: true, change: func(f *v1alpha1.ChatFlow, b *v1alpha1.ChannelBinding) *v1alpha1.ChannelBinding {
			f.Spec.DisplayName, f.Spec.Remark = "Order status", "Answers order questions"
			return b
		}},
		{name: "executor overrides do not count", same: true, change: func(f *v1alpha1.ChatFlow, b *v1alpha1.ChannelBinding) *v1alpha1.ChannelBinding {
			testutil.Replicas(f, 3)
			return b
		}},
		{name: "logging reaches the executor", change: func(f *v1alpha1.ChatFlow, b *v1alpha1.ChannelBinding) *v1alpha1.ChannelBinding {
			f.Spec.Logging.Enabled = true
			return b
		}},
		{name: "the override Meta callback is the operator's, not the executor's", same: true, change: func(f *v1alpha1.ChatFlow, b *v1alpha1.ChannelBinding) *v1alpha1.ChannelBinding {
			b.Spec.WebhookOverride = true
			return b
		}},
		{name: "the binding reaches the executor", change: func(f *v1alpha1.ChatFlow, b *v1alpha1.ChannelBinding) *v1alpha1.ChannelBinding {
			b.Spec.APIBaseURL = "http://sandbox:8090"
			return b
		}},
		{name: "an unbound flow has no binding.yaml", change: func(*v1alpha1.ChatFlow, *v1alpha1.ChannelBinding) *v1alpha1.ChannelBinding {
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			f, b2 := base.DeepCopy(), b.DeepCopy()
			b2 = tt.change(f, b2)
			if tt.same {
				g.Expect(name(f, b2)).To(Equal(name(base, b)))
			} else {
				g.Expect(name(f, b2)).NotTo(Equal(name(base, b)))
			}
		})
	}
	cm, _ := ConfigMap(base, nil, "5f1c2a9e01", gateway, nil)
	NewWithT(t).Expect(cm.Data).NotTo(HaveKey(BindingKey))
}

func TestBindingManifest_registersTheGatewayURL(t *testing.T) {
	viber := func(publicURL string) *v1alpha1.ChannelBinding {
		b := testutil.Binding("shop-viber", "order-status")
		b.Spec.Channel = v1alpha1.ChannelViber
		b.Spec.Webhook = v1alpha1.WebhookSettings{Register: true, PublicURL: publicURL}
		return b
	}
	tests := []struct {
		name    string
		binding *v1alpha1.ChannelBinding
		gateway string
		want    string
	}{
		{"register without a URL: the gateway's", viber(""), gateway, gateway},
		{"the binding's own URL wins", viber("https://bots.example.com"), gateway, "https://bots.example.com"},
		{"no gateway URL known: left empty, the executor says what to set", viber(""), "", ""},
		{"no registration asked: nothing filled in", func() *v1alpha1.ChannelBinding {
			b := viber("")
			b.Spec.Webhook.Register = false
			return b
		}(), gateway, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			data, err := BindingManifest(tt.binding, tt.gateway)
			g.Expect(err).NotTo(HaveOccurred())
			var back v1alpha1.ChannelBinding
			g.Expect(yaml.UnmarshalStrict(data, &back)).To(Succeed())
			g.Expect(back.Spec.Webhook.PublicURL).To(Equal(tt.want))
		})
	}
}
