package secretrefs_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/index"
	"github.com/chatflow-dev/chatflow/controllers/internal/testutil"
	"github.com/chatflow-dev/chatflow/controllers/secretrefs"
)

// paths renders refs as "name@path" for comparison.
func paths(refs []secretrefs.Ref) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Name+"@"+r.Path.String())
	}
	return out
}

func TestOfChatFlow(t *testing.T) {
	g := NewWithT(t)
	f := testutil.WithHTTPSecret(testutil.Flow("order-status", v1alpha1.StatePublished), "orders-api")
	// A second header of another Secret, and the first Secret again.
	h := &f.Spec.Nodes[3].HTTPRequest.Headers
	*h = append(*h,
		v1alpha1.HTTPHeader{Name: "X-Trace", Value: ptr("{{ contact.id }}")},
		v1alpha1.HTTPHeader{Name: "X-Key", ValueFrom: &v1alpha1.HeaderSource{SecretKeyRef: v1alpha1.SecretKeySelector{Name: "crm", Key: "k"}}},
		v1alpha1.HTTPHeader{Name: "X-Again", ValueFrom: &v1alpha1.HeaderSource{SecretKeyRef: v1alpha1.SecretKeySelector{Name: "orders-api", Key: "other"}}},
	)
	f.Spec.Trigger = v1alpha1.Trigger{Type: v1alpha1.TriggerManual, CredentialsRef: &v1alpha1.SecretReference{Name: "run-credentials"}}
	f.Spec.Executor = &v1alpha1.ExecutorSpec{Template: &v1alpha1.ExecutorPodTemplate{Spec: v1alpha1.ExecutorPodSpec{
		Env: []corev1.EnvVar{
			{Name: "PLAIN", Value: "x"},
			{Name: "FROM_CM", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, Key: "k"}}},
			{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "env-secret"}, Key: "k"}}},
		},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "registry"}},
	}}}

	g.Expect(paths(secretrefs.Of(f))).To(Equal([]string{
		"orders-api@spec.nodes[3].httpRequest.headers[0].valueFrom.secretKeyRef.name",
		"crm@spec.nodes[3].httpRequest.headers[2].valueFrom.secretKeyRef.name",
		"orders-api@spec.nodes[3].httpRequest.headers[3].valueFrom.secretKeyRef.name",
		"run-credentials@spec.trigger.credentialsRef.name",
		"env-secret@spec.executor.template.spec.env[2].valueFrom.secretKeyRef.name",
		"registry@spec.executor.template.spec.imagePullSecrets[0].name",
	}))
	g.Expect(secretrefs.Names(secretrefs.Of(f))).To(Equal([]string{"orders-api", "crm", "run-credentials", "env-secret", "registry"}))
	g.Expect(index.HeaderSecrets(&f.Spec)).To(Equal([]string{"orders-api", "crm"}),
		"the executor mounts the header Secrets only")
	g.Expect(secretrefs.Of(testutil.Flow("plain", v1alpha1.StateUnpublished))).To(BeEmpty())
}

func TestOfChannelBinding(t *testing.T) {
	g := NewWithT(t)
	b := testutil.Binding("shop-whatsapp", "order-status")
	g.Expect(paths(secretrefs.Of(b))).To(Equal([]string{"shop-whatsapp-credentials@spec.credentialsRef.name"}))
	g.Expect(secretrefs.Of(&corev1.Secret{})).To(BeNil(), "a kind that is not listed references nothing")
}

func TestOfLanguageModel(t *testing.T) {
	g := NewWithT(t)
	m := testutil.Model("support-llm", "openai")
	g.Expect(paths(secretrefs.Of(m))).To(Equal([]string{"openai@spec.apiKeyRef.name"}))
	m.Spec.APIKeyRef = nil
	g.Expect(secretrefs.Of(m)).To(BeEmpty(), "a model without a key references no Secret")
}

func TestInUse(t *testing.T) {
	ctx := context.Background()
	flow := testutil.WithHTTPSecret(testutil.Flow("order-status", v1alpha1.StatePublished), "orders-api")
	binding := testutil.Binding("shop-whatsapp", "order-status")
	other := testutil.WithHTTPSecret(testutil.Flow("elsewhere", v1alpha1.StatePublished), "crm")
	other.Namespace = "support"
	model := testutil.Model("support-llm", "openai")
	b := fake.NewClientBuilder().WithScheme(testutil.Scheme()).WithObjects(flow, binding, other, model)
	for _, ix := range index.All() {
		b = b.WithIndex(ix.Object, ix.Field, ix.Extract)
	}
	c := b.Build()
	for _, tt := range []struct {
		secret string
		want   bool
	}{
		{"orders-api", true},                // a flow's header
		{"shop-whatsapp-credentials", true}, // a binding's credentials
		{"openai", true},                    // a model's key
		{"crm", false},                      // referenced in another namespace only
		{"unrelated", false},
	} {
		got, err := secretrefs.InUse(ctx, c, testutil.Namespace, tt.secret)
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		NewWithT(t).Expect(got).To(Equal(tt.want), tt.secret)
	}
}

func ptr[T any](v T) *T { return &v }

func TestOfCampaign(t *testing.T) {
	g := NewWithT(t)
	c := &v1alpha1.Campaign{Spec: v1alpha1.CampaignSpec{
		Audience: v1alpha1.Audience{Sources: []v1alpha1.AudienceSource{
			{ConfigMapKeyRef: &v1alpha1.ConfigMapKeySelector{Name: "public-list", Key: "a.csv"}},
			{SecretKeyRef: &v1alpha1.SecretKeySelector{Name: "vip-list", Key: "b.csv"}},
		}},
		OptOut: &v1alpha1.AudienceSource{SecretKeyRef: &v1alpha1.SecretKeySelector{Name: "opt-outs", Key: "ids"}},
	}}
	g.Expect(paths(secretrefs.Of(c))).To(Equal([]string{
		"vip-list@spec.audience.sources[1].secretKeyRef.name",
		"opt-outs@spec.optOut.secretKeyRef.name",
	}), "ConfigMaps are not Secrets")
}
