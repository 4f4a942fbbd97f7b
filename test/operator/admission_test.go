package operator

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

var _ = Describe("Deletion protection", Ordered, func() {
	var (
		ns string
		f  *v1alpha1.ChatFlow
	)
	BeforeAll(func() {
		ns = newNamespace()
		f, _ = publishedAndLive("protected", ns)
	})

	It("holds inside the API server while the webhook server is down", func() {
		stopHooks()
		DeferCleanup(func() { stopHooks = startWebhooks() })

		err := k8s.Delete(ctx, get(f))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(And(
			ContainSubstring("ValidatingAdmissionPolicy 'deny-delete-published-chatflow'"),
			ContainSubstring("ChatFlow protected is Published and serves its channel: set spec.state: Unpublished first, then delete it"),
		))
		Expect(gone(f)()).To(BeFalse())
		// Everything else fails closed (failurePolicy: Fail) until the
		// webhook is back: nothing invalid gets in meanwhile.
		err = update(f, func(f *v1alpha1.ChatFlow) { f.Spec.Remark = "while down" })
		Expect(err).To(MatchError(ContainSubstring(`failed calling webhook "vchatflow-v1alpha1.chatflow.dev"`)))
	})

	It("is also enforced by the webhook alone, with the same advice", func() {
		withoutPolicyBinding("deny-delete-published-chatflow")
		Eventually(func() string {
			err := k8s.Delete(ctx, get(f))
			Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
			return err.Error()
		}).Should(And(
			ContainSubstring(`admission webhook "vchatflow-v1alpha1.chatflow.dev" denied the request`),
			ContainSubstring(`chatflows.chatflow.dev "protected" is forbidden: spec.state: the flow is Published and serves its channel: set spec.state: Unpublished first, then delete it`),
		))
	})

	It("lets a namespace being deleted take its Published flows and bindings", func() {
		terminating := newNamespace()
		g, b := publishedAndLive("leaving", terminating)
		nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: terminating}}
		Expect(k8s.Delete(ctx, nsObj)).To(Succeed())
		// envtest runs no namespace controller: the namespace stays
		// Terminating, and we delete its content the way it would.
		Eventually(func() bool { return get(nsObj).DeletionTimestamp != nil }).Should(BeTrue())
		Expect(k8s.Delete(ctx, b)).To(Succeed())
		Expect(k8s.Delete(ctx, g)).To(Succeed())
		Eventually(gone(g)).Should(BeTrue())
	})

	It("lets an unpublished flow go", func() {
		Expect(update(f, func(f *v1alpha1.ChatFlow) { f.Spec.State = v1alpha1.StateUnpublished })).To(Succeed())
		Expect(k8s.DeleteAllOf(ctx, &v1alpha1.ChannelBinding{}, client.InNamespace(ns))).To(Succeed())
		Expect(k8s.Delete(ctx, f)).To(Succeed())
		Eventually(gone(f)).Should(BeTrue())
	})
})
