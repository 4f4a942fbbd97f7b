package secretlabels

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/controllers/index"
	"github.com/chatflow-dev/chatflow/controllers/internal/testutil"
)

func TestDecide(t *testing.T) {
	for _, tt := range []struct {
		inUse, labelled, operators bool
		want                       action
	}{
		{inUse: true, labelled: false, want: addLabel},
		{inUse: true, labelled: true, want: keep},
		{inUse: false, labelled: true, want: removeLabel},
		{inUse: false, labelled: false, want: keep},
		{inUse: false, labelled: true, operators: true, want: keep},
	} {
		NewWithT(t).Expect(decide(tt.inUse, tt.labelled, tt.operators)).To(Equal(tt.want), "%+v", tt)
	}
}

func secret(name string, labels map[string]string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testutil.Namespace, Labels: labels},
		Data: map[string][]byte{"token": []byte("s3cret")}}
}

func TestReconcile(t *testing.T) {
	ctx := context.Background()
	referenced := map[string]string{builders.LabelReferenced: "true"}
	flow := testutil.WithHTTPSecret(testutil.Flow("order-status", v1alpha1.StatePublished), "orders-api")
	objs := []client.Object{
		flow,
		testutil.Binding("shop-whatsapp", "order-status"),
		secret("orders-api", map[string]string{"team": "shop"}),
		secret("shop-whatsapp-credentials", referenced),
		secret("stale", map[string]string{builders.LabelReferenced: "true", "team": "shop"}),
		secret("order-status-executor", map[string]string{builders.LabelReferenced: "true", builders.LabelManagedBy: builders.ManagedBy}),
	}
	b := fake.NewClientBuilder().WithScheme(testutil.Scheme()).WithObjects(objs...)
	for _, ix := range index.All() {
		b = b.WithIndex(ix.Object, ix.Field, ix.Extract)
	}
	c := b.Build()
	r := &Reconciler{Client: c}
	reconcile := func(name string) ctrl.Result {
		res, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: testutil.Namespace, Name: name}})
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		return res
	}
	labels := func(name string) map[string]string {
		s := &corev1.Secret{}
		NewWithT(t).Expect(c.Get(ctx, types.NamespacedName{Namespace: testutil.Namespace, Name: name}, s)).To(Succeed())
		NewWithT(t).Expect(s.Data).To(HaveKeyWithValue("token", []byte("s3cret")), "the data is left alone")
		return s.Labels
	}

	t.Run("a referenced Secret gets the label, and keeps its other labels", func(t *testing.T) {
		reconcile("orders-api")
		NewWithT(t).Expect(labels("orders-api")).To(Equal(map[string]string{builders.LabelReferenced: "true", "team": "shop"}))
		reconcile("shop-whatsapp-credentials")
		NewWithT(t).Expect(labels("shop-whatsapp-credentials")).To(Equal(map[string]string{
			builders.LabelReferenced: "true", builders.LabelCredentials: "true"}), "a binding's credentials are labelled for the gateway too")
	})

	t.Run("a Secret nothing references loses the label, not the operator's own", func(t *testing.T) {
		reconcile("stale")
		NewWithT(t).Expect(labels("stale")).To(Equal(map[string]string{"team": "shop"}))
		reconcile("order-status-executor")
		NewWithT(t).Expect(labels("order-status-executor")).To(HaveKeyWithValue(builders.LabelReferenced, "true"))
	})

	t.Run("credentials no binding names any more lose the gateway's label", func(t *testing.T) {
		g := NewWithT(t)
		b := testutil.Binding("shop-whatsapp", "order-status")
		g.Expect(c.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
		g.Expect(c.Delete(ctx, b)).To(Succeed())
		reconcile("shop-whatsapp-credentials")
		g.Expect(labels("shop-whatsapp-credentials")).To(BeEmpty())
	})

	t.Run("a referenced Secret that does not exist yet is retried, later and later", func(t *testing.T) {
		g := NewWithT(t)
		f := flow.DeepCopy()
		f.Spec.Nodes[3].HTTPRequest.Headers[0].ValueFrom.SecretKeyRef.Name = "later"
		g.Expect(c.Update(ctx, f)).To(Succeed())
		g.Expect(reconcile("later").RequeueAfter).To(Equal(time.Second))
		g.Expect(reconcile("later").RequeueAfter).To(Equal(2 * time.Second))
		g.Expect(c.Create(ctx, secret("later", nil))).To(Succeed())
		g.Expect(reconcile("later").RequeueAfter).To(BeZero())
		g.Expect(labels("later")).To(Equal(referenced))
		g.Expect(reconcile("orders-api").RequeueAfter).To(BeZero())
		g.Expect(labels("orders-api")).To(Equal(map[string]string{"team": "shop"}), "the flow now reads later instead")
	})
}
