package webhooks

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/controllers/index"
	"github.com/chatflow-dev/chatflow/controllers/internal/testutil"
)

// reader is a fake API server with objs and the test namespace (unless
// objs has one).
func reader(objs ...client.Object) client.Reader {
	hasNamespace := false
	for _, o := range objs {
		_, isNS := o.(*corev1.Namespace)
		hasNamespace = hasNamespace || isNS
	}
	if !hasNamespace {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testutil.Namespace}})
	}
	b := fake.NewClientBuilder().WithScheme(testutil.Scheme()).WithObjects(objs...)
	for _, ix := range index.All() {
		b = b.WithIndex(ix.Object, ix.Field, ix.Extract)
	}
	return b.Build()
}

// authorizer allows each user to get the Secrets listed for them ("*":
// every Secret), and records what it was asked.
type authorizer struct {
	grants map[string][]string
	asked  []string
}

func (a *authorizer) Allowed(_ context.Context, u authenticationv1.UserInfo, attrs authorizationv1.ResourceAttributes) (bool, error) {
	a.asked = append(a.asked, fmt.Sprintf("%s %s %s/%s in %s", u.Username, attrs.Verb, attrs.Resource, attrs.Name, attrs.Namespace))
	if attrs.Verb != "get" || attrs.Resource != "secrets" || attrs.Group != "" {
		return false, nil
	}
	for _, s := range a.grants[u.Username] {
		if s == "*" || s == attrs.Name {
			return true, nil
		}
	}
	return false, nil
}

// asUser is a context of an admission request by user.
func asUser(user string) context.Context {
	return admission.NewContextWithRequest(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UserInfo: authenticationv1.UserInfo{Username: user, Groups: []string{"system:authenticated"}},
	}})
}

// everyone may read every Secret.
var everyone = &SecretAccess{Authorizer: &authorizer{grants: map[string][]string{"admin": {"*"}}}}

// terminating is the test namespace being deleted.
func terminating() *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: testutil.Namespace, DeletionTimestamp: ptrTo(metav1.Now()), Finalizers: []string{"kubernetes"},
	}}
}

func ptrTo[T any](v T) *T { return &v }

func at(b *v1alpha1.ChannelBinding, sec int64) *v1alpha1.ChannelBinding {
	b.CreationTimestamp = metav1.Unix(sec, 0)
	return b
}

// expectDenied checks a typed API error: its kind, and that its text holds
// every fragment (field paths, the fix).
func expectDenied(g Gomega, err error, is func(error) bool, fragments ...string) {
	g.Expect(err).To(HaveOccurred())
	g.Expect(is(err)).To(BeTrue(), "unexpected kind of error: %v", err)
	for _, f := range fragments {
		g.Expect(err.Error()).To(ContainSubstring(f))
	}
}

func TestChatFlowValidator(t *testing.T) {
	published := func() *v1alpha1.ChatFlow { return testutil.Flow("order-status", v1alpha1.StatePublished) }
	unpublished := func() *v1alpha1.ChatFlow { return testutil.Flow("order-status", v1alpha1.StateUnpublished) }
	invalid := func(f *v1alpha1.ChatFlow) *v1alpha1.ChatFlow {
		f.Spec.Nodes[1].Next = "nowhere"
		return f
	}
	ctx := asUser("admin")
	v := &ChatFlowValidator{Reader: reader(), Config: builders.DefaultConfig(), Access: everyone}

	t.Run("create: the full graph validation, with field paths", func(t *testing.T) {
		g := NewWithT(t)
		_, err := v.ValidateCreate(ctx, published())
		g.Expect(err).NotTo(HaveOccurred())
		_, err = v.ValidateCreate(ctx, invalid(published()))
		expectDenied(g, err, apierrors.IsInvalid, `ChatFlow.chatflow.dev "order-status" is invalid`, "spec.nodes[1].next", "nowhere")
	})

	t.Run("create: a Manual flow is checked against its binding's channel", func(t *testing.T) {
		g := NewWithT(t)
		f := testutil.Flow("campaign", v1alpha1.StateUnpublished)
		f.Spec.Trigger.Type = v1alpha1.TriggerManual
		f.Spec.Nodes[1].SendMessage = &v1alpha1.SendMessageNode{Template: &v1alpha1.WhatsAppTemplate{Name: "promo", Language: "en_US"}}
		_, err := v.ValidateCreate(ctx, f)
		g.Expect(err).NotTo(HaveOccurred(), "without a binding the channel is unknown")
		b := testutil.Binding("campaign-viber", "campaign")
		b.Spec.Channel = v1alpha1.ChannelViber
		withViber := &ChatFlowValidator{Reader: reader(b)}
		_, err = withViber.ValidateCreate(ctx, f)
		expectDenied(g, err, apierrors.IsInvalid, "spec.nodes[1].sendMessage.template", "WhatsApp only")
	})

	t.Run("create: more replicas than the memory store allows is a warning", func(t *testing.T) {
		g := NewWithT(t)
		w, err := v.ValidateCreate(ctx, testutil.Replicas(published(), 3))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(w).To(ConsistOf(ContainSubstring("runs 1 replica")))
	})

	updates := []struct {
		name     string
		old, new func() *v1alpha1.ChatFlow
		denied   []string // fragments of the error; nil: allowed
		warning  string
	}{
		{name: "Published: basic info", old: published, new: func() *v1alpha1.ChatFlow {
			f := published()
			f.Spec.DisplayName, f.Spec.Remark = "Order status", "Answers order questions"
			return f
		}},
		{name: "Published: logging", old: published, new: func() *v1alpha1.ChatFlow {
			f := published()
			f.Spec.Logging.Enabled = true
			return f
		}},
		{name: "Published: the graph", old: published, new: func() *v1alpha1.ChatFlow {
			f := published()
			f.Spec.Nodes[1].SendMessage.Text = "Hi there"
			return f
		}},
		{name: "Published: an invalid graph", old: published, new: func() *v1alpha1.ChatFlow { return invalid(published()) },
			denied: []string{"spec.nodes[1].next"}},
		{name: "Published: the trigger", old: published, new: func() *v1alpha1.ChatFlow {
			f := published()
			f.Spec.Trigger.Type = v1alpha1.TriggerViber
			return f
		}, denied: []string{"spec.trigger.type", "Forbidden", "set spec.state: Unpublished first"}},
		{name: "Unpublished: the trigger", old: unpublished, new: func() *v1alpha1.ChatFlow {
			f := unpublished()
			f.Spec.Trigger.Type = v1alpha1.TriggerViber
			return f
		}},
		{name: "Unpublished: the graph", old: unpublished, new: func() *v1alpha1.ChatFlow {
			f := unpublished()
			f.Spec.Nodes[1].SendMessage.Text = "Hi there"
			return f
		}},
		{name: "unpublishing a flow newer rules find invalid", old: func() *v1alpha1.ChatFlow { return invalid(published()) },
			new: func() *v1alpha1.ChatFlow { return invalid(unpublished()) }, warning: "the graph is invalid"},
		{name: "publishing an invalid graph", old: func() *v1alpha1.ChatFlow { return invalid(unpublished()) },
			new: func() *v1alpha1.ChatFlow { return invalid(published()) }, denied: []string{"spec.nodes[1].next"}},
		{name: "anything once deletion started", old: published, new: func() *v1alpha1.ChatFlow {
			f := invalid(published())
			f.Spec.Trigger.Type = v1alpha1.TriggerViber
			f.DeletionTimestamp = ptrTo(metav1.Now())
			return f
		}},
	}
	for _, tt := range updates {
		t.Run("update: "+tt.name, func(t *testing.T) {
			g := NewWithT(t)
			w, err := v.ValidateUpdate(ctx, tt.old(), tt.new())
			if tt.denied == nil {
				g.Expect(err).NotTo(HaveOccurred())
			} else {
				expectDenied(g, err, apierrors.IsInvalid, tt.denied...)
			}
			if tt.warning != "" {
				g.Expect(w).To(ContainElement(ContainSubstring(tt.warning)))
			}
		})
	}

	t.Run("delete", func(t *testing.T) {
		g := NewWithT(t)
		_, err := v.ValidateDelete(ctx, published())
		expectDenied(g, err, apierrors.IsForbidden, `chatflows.chatflow.dev "order-status" is forbidden`,
			"spec.state", "set spec.state: Unpublished first, then delete it")
		_, err = v.ValidateDelete(ctx, unpublished())
		g.Expect(err).NotTo(HaveOccurred())
		nsGone := &ChatFlowValidator{Reader: reader(terminating())}
		_, err = nsGone.ValidateDelete(ctx, published())
		g.Expect(err).NotTo(HaveOccurred(), "a terminating namespace takes its flows with it")
	})
}

func TestChannelBindingValidator(t *testing.T) {
	ctx := asUser("admin")
	published := testutil.Flow("order-status", v1alpha1.StatePublished)
	unpublished := testutil.Flow("draft", v1alpha1.StateUnpublished)
	inUse := at(testutil.Binding("shop-whatsapp", "order-status"), 100)
	later := at(testutil.Binding("extra", "order-status"), 200)
	later.Spec.Account.ID = "777"
	draftBinding := at(testutil.Binding("draft-whatsapp", "draft"), 100)
	draftBinding.Spec.Account.ID = "555"

	api := reader(published, unpublished, inUse, later, draftBinding)
	v := &ChannelBindingValidator{Reader: api, Cache: api, Access: everyone}

	t.Run("create", func(t *testing.T) {
		g := NewWithT(t)
		lonely := &ChannelBindingValidator{Reader: reader(published), Access: everyone}
		w, err := lonely.ValidateCreate(ctx, testutil.Binding("first", "order-status"))
		g.Expect(err).NotTo(HaveOccurred(), "the first binding of a Published flow is allowed")
		g.Expect(w).To(BeEmpty())

		second := testutil.Binding("second", "order-status")
		second.Spec.Account.ID = "888"
		_, err = v.ValidateCreate(ctx, second)
		expectDenied(g, err, apierrors.IsInvalid, "spec.flowRef.name", "Forbidden",
			"already bound by ChannelBinding shop-whatsapp", "set spec.state: Unpublished on ChatFlow order-status first")

		another := testutil.Binding("another", "draft")
		another.Spec.Account.ID = "888"
		_, err = v.ValidateCreate(ctx, another)
		g.Expect(err).NotTo(HaveOccurred(), "an Unpublished flow may be rebound")
	})

	t.Run("create: warnings for what will be Stalled", func(t *testing.T) {
		g := NewWithT(t)
		w, err := v.ValidateCreate(ctx, testutil.Binding("orphan", "missing"))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(w).To(ConsistOf(ContainSubstring(`ChatFlow "missing" does not exist`)))

		viber := testutil.Binding("viber", "draft")
		viber.Spec.Channel = v1alpha1.ChannelViber
		w, _ = v.ValidateCreate(ctx, viber)
		g.Expect(w).To(ConsistOf(ContainSubstring("does not match the trigger WhatsApp")))

		sameAccount := testutil.Binding("same-account", "draft")
		w, _ = v.ValidateCreate(ctx, sameAccount)
		g.Expect(w).To(ConsistOf(ContainSubstring("WhatsApp account 106540352242922 is already bound to ChatFlow shop/order-status by ChannelBinding shop/shop-whatsapp, which holds it")))
	})

	changed := func(b *v1alpha1.ChannelBinding, mutate func(*v1alpha1.ChannelBinding)) *v1alpha1.ChannelBinding {
		c := b.DeepCopy()
		mutate(c)
		return c
	}
	updates := []struct {
		name     string
		old, new *v1alpha1.ChannelBinding
		denied   []string
	}{
		{name: "Published: credentials rotate freely", old: inUse, new: changed(inUse, func(b *v1alpha1.ChannelBinding) {
			b.Spec.CredentialsRef.Name = "rotated"
			b.Spec.APIBaseURL = "https://proxy.example.com/v21.0"
		})},
		{name: "Published: rebind to another flow", old: inUse, new: changed(inUse, func(b *v1alpha1.ChannelBinding) {
			b.Spec.FlowRef.Name = "draft"
		}), denied: []string{"spec.flowRef.name", "ChatFlow order-status is Published and runs on this binding", "set spec.state: Unpublished on ChatFlow order-status first"}},
		{name: "Published: another account", old: inUse, new: changed(inUse, func(b *v1alpha1.ChannelBinding) {
			b.Spec.Account.ID = "999"
		}), denied: []string{"spec.account", "is a rebind"}},
		{name: "Published: another channel", old: inUse, new: changed(inUse, func(b *v1alpha1.ChannelBinding) {
			b.Spec.Channel = v1alpha1.ChannelMessenger
		}), denied: []string{"spec.channel"}},
		{name: "Published: a conflicting extra binding may move away", old: later, new: changed(later, func(b *v1alpha1.ChannelBinding) {
			b.Spec.FlowRef.Name = "missing"
		})},
		{name: "Unpublished: rebind", old: draftBinding, new: changed(draftBinding, func(b *v1alpha1.ChannelBinding) {
			b.Spec.Account.ID = "556"
		})},
		{name: "moving onto a Published flow that has a binding", old: draftBinding, new: changed(draftBinding, func(b *v1alpha1.ChannelBinding) {
			b.Spec.FlowRef.Name = "order-status"
		}), denied: []string{"spec.flowRef.name", "already bound by ChannelBinding shop-whatsapp"}},
		{name: "anything once deletion started", old: inUse, new: changed(inUse, func(b *v1alpha1.ChannelBinding) {
			b.Spec.FlowRef.Name = "draft"
			b.DeletionTimestamp = ptrTo(metav1.NewTime(time.Now()))
		})},
	}
	for _, tt := range updates {
		t.Run("update: "+tt.name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := v.ValidateUpdate(ctx, tt.old, tt.new)
			if tt.denied == nil {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			expectDenied(g, err, apierrors.IsInvalid, tt.denied...)
		})
	}

	t.Run("delete", func(t *testing.T) {
		g := NewWithT(t)
		_, err := v.ValidateDelete(ctx, inUse)
		expectDenied(g, err, apierrors.IsForbidden, `channelbindings.chatflow.dev "shop-whatsapp" is forbidden`,
			"ChatFlow order-status is Published and runs on this binding", "set spec.state: Unpublished on ChatFlow order-status first")
		_, err = v.ValidateDelete(ctx, later)
		g.Expect(err).NotTo(HaveOccurred(), "a conflicting extra binding may go")
		_, err = v.ValidateDelete(ctx, draftBinding)
		g.Expect(err).NotTo(HaveOccurred())
		nsGone := &ChannelBindingValidator{Reader: reader(published, inUse, terminating()), Access: everyone}
		_, err = nsGone.ValidateDelete(ctx, inUse)
		g.Expect(err).NotTo(HaveOccurred())
	})
}
