package languagemodel

import (
	"context"
	"errors"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/index"
	"github.com/chatflow-dev/chatflow/controllers/internal/secretkeys"
	"github.com/chatflow-dev/chatflow/controllers/internal/testutil"
)

func secretWith(keys ...string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "openai", Namespace: testutil.Namespace}, Data: map[string][]byte{}}
	for _, k := range keys {
		s.Data[k] = []byte{1}
	}
	return s
}

func TestComputeStatus(t *testing.T) {
	noKey := testutil.Model("local", "")
	noKey.Spec.APIKeyRef = nil
	tests := []struct {
		name   string
		m      *v1alpha1.LanguageModel
		o      observation
		ready  metav1.ConditionStatus
		reason string
		msg    string
	}{
		{"ready", testutil.Model("m", "openai"), observation{Secret: secretWith("apiKey")}, metav1.ConditionTrue, v1alpha1.ReasonSucceeded,
			"gpt-4o-mini at https://api.openai.com/v1, with the API key from Secret openai, key apiKey"},
		{"ready without a key", noKey, observation{}, metav1.ConditionTrue, v1alpha1.ReasonSucceeded, "with no API key"},
		{"the Secret is missing", testutil.Model("m", "openai"), observation{}, metav1.ConditionFalse, v1alpha1.ReasonSecretNotFound,
			"Secret openai of spec.apiKeyRef does not exist: create it in namespace shop with the API key under key apiKey"},
		{"the key is missing", testutil.Model("m", "openai"), observation{Secret: secretWith("token")}, metav1.ConditionFalse, v1alpha1.ReasonSecretKeyMissing,
			"Secret openai has no value under key apiKey"},
		{"an invalid spec", testutil.Model("m", "openai"), observation{SpecErrors: field.ErrorList{field.Invalid(field.NewPath("spec", "baseURL"), "x", "bad")}},
			metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec, "spec.baseURL: Invalid value: \"x\": bad"},
		{"an error", testutil.Model("m", "openai"), observation{Err: errors.New("boom")}, metav1.ConditionFalse, v1alpha1.ReasonReconcileFailed, "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			computeStatus(tt.m, tt.o)
			ready := meta.FindStatusCondition(tt.m.Status.Conditions, v1alpha1.ConditionReady)
			g.Expect(ready.Status).To(Equal(tt.ready))
			g.Expect(ready.Reason).To(Equal(tt.reason))
			g.Expect(ready.Message).To(ContainSubstring(tt.msg))
			stalled := meta.IsStatusConditionTrue(tt.m.Status.Conditions, v1alpha1.ConditionStalled)
			g.Expect(stalled).To(Equal(tt.ready == metav1.ConditionFalse && tt.o.Err == nil), "Stalled only when the user must act")
			if tt.o.Err == nil {
				g.Expect(tt.m.Status.ObservedGeneration).To(Equal(tt.m.Generation))
			}
		})
	}
}

// Reconcile reads the key's Secret and patches the status.
func TestReconcile(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	m := testutil.Model("support-llm", "openai")
	b := fake.NewClientBuilder().WithScheme(testutil.Scheme()).WithObjects(m).WithStatusSubresource(m)
	for _, ix := range index.All() {
		b = b.WithIndex(ix.Object, ix.Field, ix.Extract)
	}
	c := b.Build()
	r := &Reconciler{Client: c, SecretReader: c, keys: secretkeys.New(c, c)}
	key := types.NamespacedName{Namespace: testutil.Namespace, Name: "support-llm"}
	_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.Get(ctx, key, m)).To(Succeed())
	g.Expect(meta.FindStatusCondition(m.Status.Conditions, v1alpha1.ConditionReady).Reason).To(Equal(v1alpha1.ReasonSecretNotFound))

	g.Expect(c.Create(ctx, secretWith("apiKey"))).To(Succeed())
	g.Expect(r.modelsOfSecret(ctx, secretWith())).To(HaveLen(1), "the Secret maps to its model")
	_, err = r.Reconcile(ctx, ctrl.Request{NamespacedName: key})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.Get(ctx, key, m)).To(Succeed())
	g.Expect(meta.IsStatusConditionTrue(m.Status.Conditions, v1alpha1.ConditionReady)).To(BeTrue())
	g.Expect(meta.FindStatusCondition(m.Status.Conditions, v1alpha1.ConditionStalled)).To(BeNil())
}
