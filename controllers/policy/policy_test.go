package policy

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/internal/testutil"
)

var t0 = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

func created(b *v1alpha1.ChannelBinding, after time.Duration) v1alpha1.ChannelBinding {
	b.CreationTimestamp = metav1.NewTime(t0.Add(after))
	return *b
}

func TestWebhookPath(t *testing.T) {
	g := NewWithT(t)
	g.Expect(WebhookPath(v1alpha1.ChannelWhatsApp, "1065")).To(Equal("/webhooks/whatsapp"))
	g.Expect(WebhookPath(v1alpha1.ChannelMessenger, "1065")).To(Equal("/webhooks/messenger"))
	g.Expect(WebhookPath(v1alpha1.ChannelInstagram, "1065")).To(Equal("/webhooks/instagram"))
	g.Expect(WebhookPath(v1alpha1.ChannelViber, "shopbot")).To(Equal("/webhooks/viber/shopbot"))
}

func TestRequiredSecretKeys(t *testing.T) {
	g := NewWithT(t)
	for _, ch := range []v1alpha1.Channel{v1alpha1.ChannelWhatsApp, v1alpha1.ChannelMessenger, v1alpha1.ChannelInstagram} {
		g.Expect(RequiredSecretKeys(ch)).To(ConsistOf("accessToken", "appSecret", "verifyToken"))
	}
	g.Expect(RequiredSecretKeys(v1alpha1.ChannelViber)).To(ConsistOf("authToken"))
}

func TestInEffect(t *testing.T) {
	g := NewWithT(t)
	g.Expect(InEffect(nil)).To(BeNil())
	a := created(testutil.Binding("a", "f"), time.Minute)
	b := created(testutil.Binding("b", "f"), 0)
	c := created(testutil.Binding("c", "f"), 0)
	g.Expect(InEffect([]v1alpha1.ChannelBinding{a, c, b}).Name).To(Equal("b"), "oldest, then by name")
	b.DeletionTimestamp = &t0
	c.DeletionTimestamp = &t0
	g.Expect(InEffect([]v1alpha1.ChannelBinding{a, b, c}).Name).To(Equal("a"), "one being deleted never wins")

	serving := created(testutil.ReadyBinding("z-serving", "f"), 0)
	newcomer := created(testutil.Binding("a-newcomer", "f"), 0)
	g.Expect(InEffect([]v1alpha1.ChannelBinding{newcomer, serving}).Name).To(Equal("z-serving"),
		"a newcomer of the same second does not displace the binding in use")
	stale := serving
	stale.Generation = 2
	g.Expect(InEffect([]v1alpha1.ChannelBinding{newcomer, stale}).Name).To(Equal("a-newcomer"),
		"a Ready status of an older generation does not count")
}

func TestBindingChecks(t *testing.T) {
	flow := testutil.Flow("order-status", v1alpha1.StatePublished)
	manual := testutil.Flow("campaign", v1alpha1.StatePublished)
	manual.Spec.Trigger.Type = v1alpha1.TriggerManual
	me := created(testutil.Binding("me", "order-status"), time.Minute)
	older := created(testutil.Binding("older", "order-status"), 0)
	otherFlow := created(testutil.Binding("elsewhere", "other-flow"), 0)
	otherTeam := created(testutil.Binding("theirs", "their-flow"), 0)
	otherTeam.Namespace = "team-b"
	namesake := created(testutil.Binding("me", "their-flow"), 0)
	namesake.Namespace = "team-b"
	secret := testutil.Credentials("me-credentials")
	viber := me
	viber.Spec = *me.Spec.DeepCopy()
	viber.Spec.Channel = v1alpha1.ChannelViber

	tests := []struct {
		name       string
		in         BindingInput
		wantReason string
		wantMsg    []string
	}{
		{
			name: "ready",
			in:   BindingInput{Binding: &me, Flow: flow, FlowBindings: []v1alpha1.ChannelBinding{me}, AccountBindings: []v1alpha1.ChannelBinding{me}, Secret: secret},
		},
		{
			name:       "the flow does not exist",
			in:         BindingInput{Binding: &me},
			wantReason: v1alpha1.ReasonFlowNotFound,
			wantMsg:    []string{`ChatFlow "order-status" does not exist`},
		},
		{
			name:       "the channel is not the trigger",
			in:         BindingInput{Binding: &viber, Flow: flow, Secret: secret},
			wantReason: v1alpha1.ReasonChannelMismatch,
			wantMsg:    []string{"channel Viber does not match the trigger WhatsApp"},
		},
		{
			name: "any channel may be bound to a Manual flow",
			in: BindingInput{Binding: &viber, Flow: manual, FlowBindings: []v1alpha1.ChannelBinding{viber},
				AccountBindings: []v1alpha1.ChannelBinding{viber}, Secret: &corev1.Secret{Data: map[string][]byte{"authToken": []byte("x")}}},
		},
		{
			name:       "a later binding of the same flow conflicts",
			in:         BindingInput{Binding: &me, Flow: flow, FlowBindings: []v1alpha1.ChannelBinding{me, older}, Secret: secret},
			wantReason: v1alpha1.ReasonConflict,
			wantMsg:    []string{`already bound by ChannelBinding "older"`},
		},
		{
			name: "a later binding of the same account conflicts",
			in: BindingInput{Binding: &me, Flow: flow, FlowBindings: []v1alpha1.ChannelBinding{me},
				AccountBindings: []v1alpha1.ChannelBinding{me, otherFlow}, Secret: secret},
			wantReason: v1alpha1.ReasonConflict,
			wantMsg: []string{"WhatsApp account 106540352242922 is already bound", "ChatFlow shop/other-flow",
				"ChannelBinding shop/elsewhere, which holds it", "ChannelBinding shop/me cannot claim it"},
		},
		{
			name: "the same account bound earlier in another namespace conflicts, and the message names both",
			in: BindingInput{Binding: &me, Flow: flow, FlowBindings: []v1alpha1.ChannelBinding{me},
				AccountBindings: []v1alpha1.ChannelBinding{me, otherTeam}, Secret: secret},
			wantReason: v1alpha1.ReasonConflict,
			wantMsg: []string{"WhatsApp account 106540352242922 is already bound to ChatFlow team-b/their-flow by ChannelBinding team-b/theirs, which holds it",
				"ChannelBinding shop/me cannot claim it", "in the cluster"},
		},
		{
			name: "a binding of the same name in another namespace is another binding",
			in: BindingInput{Binding: &me, Flow: flow, FlowBindings: []v1alpha1.ChannelBinding{me},
				AccountBindings: []v1alpha1.ChannelBinding{me, namesake}, Secret: secret},
			wantReason: v1alpha1.ReasonConflict,
			wantMsg:    []string{"by ChannelBinding team-b/me, which holds it", "ChannelBinding shop/me cannot claim it"},
		},
		{
			name:       "the Secret does not exist",
			in:         BindingInput{Binding: &me, Flow: flow, FlowBindings: []v1alpha1.ChannelBinding{me}},
			wantReason: v1alpha1.ReasonSecretNotFound,
			wantMsg:    []string{`Secret "me-credentials" does not exist`, "accessToken, appSecret, verifyToken"},
		},
		{
			name: "the Secret lacks a key",
			in: BindingInput{Binding: &me, Flow: flow, FlowBindings: []v1alpha1.ChannelBinding{me},
				Secret: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "me-credentials"},
					Data: map[string][]byte{"accessToken": []byte("x"), "appSecret": []byte("y"), "verifyToken": {}}}},
			wantReason: v1alpha1.ReasonSecretKeyMissing,
			wantMsg:    []string{`Secret "me-credentials" lacks the key verifyToken that WhatsApp needs`},
		},
		{
			name: "the Secret lacks keys",
			in: BindingInput{Binding: &viber, Flow: manual, Secret: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "me-credentials"},
				Data: map[string][]byte{"accessToken": []byte("x")}}},
			wantReason: v1alpha1.ReasonSecretKeyMissing,
			wantMsg:    []string{"lacks the key authToken that Viber needs"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			reason, msg, ok := BindingChecks.Evaluate(tt.in)
			if tt.wantReason == "" {
				g.Expect(ok).To(BeTrue(), msg)
				return
			}
			g.Expect(ok).To(BeFalse())
			g.Expect(reason).To(Equal(tt.wantReason))
			for _, m := range tt.wantMsg {
				g.Expect(msg).To(ContainSubstring(m))
			}
		})
	}
}
