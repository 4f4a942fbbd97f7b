package channelbinding

import (
	"context"
	"errors"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/index"
	"github.com/chatflow-dev/chatflow/controllers/internal/testutil"
	"github.com/chatflow-dev/chatflow/controllers/policy"
)

func TestComputeStatus(t *testing.T) {
	flow := testutil.Flow("order-status", v1alpha1.StatePublished)
	tests := []struct {
		name       string
		in         func(b *v1alpha1.ChannelBinding) policy.BindingInput
		err        error
		wantReady  string
		wantStall  string
		wantObsGen int64
	}{
		{
			name: "ready",
			in: func(b *v1alpha1.ChannelBinding) policy.BindingInput {
				return policy.BindingInput{Binding: b, Flow: flow, Secret: testutil.Credentials("c")}
			},
			wantReady: "True/Succeeded", wantObsGen: 1,
		},
		{
			name: "a missing key stalls it",
			in: func(b *v1alpha1.ChannelBinding) policy.BindingInput {
				s := testutil.Credentials("c")
				delete(s.Data, "appSecret")
				return policy.BindingInput{Binding: b, Flow: flow, Secret: s}
			},
			wantReady: "False/SecretKeyMissing", wantStall: "True/SecretKeyMissing", wantObsGen: 1,
		},
		{
			name:      "an API error is retried, not stalled",
			in:        func(b *v1alpha1.ChannelBinding) policy.BindingInput { return policy.BindingInput{Binding: b} },
			err:       errors.New("timeout"),
			wantReady: "False/ReconcileFailed", wantObsGen: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			b := testutil.Binding("shop-whatsapp", "order-status")
			b.Status.ObservedGeneration = -1
			computeStatus(b, tt.in(b), "https://chat.example.com/", tt.err)
			g.Expect(b.Status.WebhookPath).To(Equal("/webhooks/whatsapp"))
			g.Expect(b.Status.WebhookURL).To(Equal("https://chat.example.com/webhooks/whatsapp"))
			g.Expect(b.Status.ObservedGeneration).To(Equal(tt.wantObsGen))
			ready := meta.FindStatusCondition(b.Status.Conditions, v1alpha1.ConditionReady)
			g.Expect(string(ready.Status) + "/" + ready.Reason).To(Equal(tt.wantReady))
			if ready.Status == metav1.ConditionTrue {
				g.Expect(ready.Message).To(Equal("bound to ChatFlow order-status: the WhatsApp callback URL is https://chat.example.com/webhooks/whatsapp"))
			}
			stalled := meta.FindStatusCondition(b.Status.Conditions, v1alpha1.ConditionStalled)
			if tt.wantStall == "" {
				g.Expect(stalled).To(BeNil())
			} else {
				g.Expect(string(stalled.Status) + "/" + stalled.Reason).To(Equal(tt.wantStall))
			}
		})
	}
}

func TestWebhookURLWithoutPublicURL(t *testing.T) {
	g := NewWithT(t)
	b := testutil.Binding("shop-viber", "bot")
	b.Spec.Channel, b.Spec.Account.ID = v1alpha1.ChannelViber, "pa-1"
	g.Expect(WebhookURL("", b)).To(BeEmpty())
	g.Expect(WebhookURL("https://h.example/chat", b)).To(Equal("https://h.example/chat/webhooks/viber/pa-1"))
	computeStatus(b, policy.BindingInput{Binding: b, Flow: testutil.Flow("bot", v1alpha1.StatePublished),
		Secret: testutil.Credentials("c")}, "", nil)
	g.Expect(b.Status.WebhookURL).To(BeEmpty())
}

// TestReconcile runs the reconciler on a fake client: the verdict, the
// webhook path, and that no Secret value ends up in the status.
func TestReconcile(t *testing.T) {
	g := NewWithT(t)
	flow := testutil.Flow("order-status", v1alpha1.StatePublished)
	first := testutil.Binding("first", "order-status")
	first.CreationTimestamp = metav1.Unix(100, 0)
	second := testutil.Binding("second", "order-status")
	second.CreationTimestamp = metav1.Unix(200, 0)
	second.Spec.Account.ID = "999"
	builder := fake.NewClientBuilder().WithScheme(testutil.Scheme()).
		WithObjects(flow, first, second, testutil.Credentials("first-credentials"), testutil.Credentials("second-credentials")).
		WithStatusSubresource(&v1alpha1.ChannelBinding{})
	for _, ix := range index.All() {
		builder = builder.WithIndex(ix.Object, ix.Field, ix.Extract)
	}
	c := builder.Build()
	r := &Reconciler{Client: c, SecretReader: c}
	for _, name := range []string{"first", "second"} {
		_, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: testutil.Namespace, Name: name}})
		g.Expect(err).NotTo(HaveOccurred())
	}
	get := func(name string) *v1alpha1.ChannelBinding {
		b := &v1alpha1.ChannelBinding{}
		g.Expect(c.Get(context.Background(), client.ObjectKey{Namespace: testutil.Namespace, Name: name}, b)).To(Succeed())
		return b
	}
	g.Expect(meta.IsStatusConditionTrue(get("first").Status.Conditions, v1alpha1.ConditionReady)).To(BeTrue())
	s := get("second")
	g.Expect(meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionStalled).Reason).To(Equal(v1alpha1.ReasonConflict))
	g.Expect(meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionStalled).Message).
		To(ContainSubstring(`already bound by ChannelBinding "first"`))
	g.Expect(s.Status.WebhookPath).To(Equal("/webhooks/whatsapp"))
	for _, c := range append(s.Status.Conditions, get("first").Status.Conditions...) {
		g.Expect(c.Message).NotTo(ContainSubstring("EAAG"))
		g.Expect(c.Message).NotTo(ContainSubstring("s3cret"))
	}
}
