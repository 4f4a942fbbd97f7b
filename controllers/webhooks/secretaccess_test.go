package webhooks

import (
	"context"
	"errors"
	"testing"

	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/controllers/internal/testutil"
)

func TestChatFlowValidator_secretAccess(t *testing.T) {
	grants := &authorizer{grants: map[string][]string{"admin": {"*"}, "alice": {"orders-api"}, "bob": {}}}
	v := &ChatFlowValidator{Reader: reader(), Config: builders.DefaultConfig(), Access: &SecretAccess{Authorizer: grants}}
	withSecret := func(name string) *v1alpha1.ChatFlow {
		return testutil.WithHTTPSecret(testutil.Flow("order-status", v1alpha1.StatePublished), name)
	}

	t.Run("create: the requester may get the Secret", func(t *testing.T) {
		g := NewWithT(t)
		grants.asked = nil
		_, err := v.ValidateCreate(asUser("alice"), withSecret("orders-api"))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(grants.asked).To(Equal([]string{"alice get secrets/orders-api in shop"}))
	})

	t.Run("create: denied with the field path and the missing permission", func(t *testing.T) {
		g := NewWithT(t)
		_, err := v.ValidateCreate(asUser("alice"), withSecret("payments"))
		expectDenied(g, err, apierrors.IsInvalid,
			"spec.nodes[3].httpRequest.headers[0].valueFrom.secretKeyRef.name", "Forbidden",
			"alice may not get Secret payments in namespace shop", "ask for get on secrets/payments in shop")
	})

	t.Run("create: every reference to a Secret the requester may not read, the executor's env too", func(t *testing.T) {
		g := NewWithT(t)
		f := withSecret("payments")
		f.Spec.Executor = &v1alpha1.ExecutorSpec{Template: &v1alpha1.ExecutorPodTemplate{Spec: v1alpha1.ExecutorPodSpec{
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "registry"}},
		}}}
		grants.asked = nil
		_, err := v.ValidateCreate(asUser("bob"), f)
		expectDenied(g, err, apierrors.IsInvalid,
			"spec.nodes[3].httpRequest.headers[0].valueFrom.secretKeyRef.name",
			"spec.executor.template.spec.imagePullSecrets[0].name", "bob may not get Secret registry")
		g.Expect(grants.asked).To(ConsistOf("bob get secrets/payments in shop", "bob get secrets/registry in shop"))
	})

	t.Run("create: a flow without Secrets needs no review", func(t *testing.T) {
		g := NewWithT(t)
		grants.asked = nil
		_, err := v.ValidateCreate(context.Background(), testutil.Flow("plain", v1alpha1.StatePublished))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(grants.asked).To(BeEmpty())
	})

	t.Run("create: no admission request, no answer but no", func(t *testing.T) {
		g := NewWithT(t)
		_, err := v.ValidateCreate(context.Background(), withSecret("orders-api"))
		expectDenied(g, err, apierrors.IsInternalError, "no admission request")
	})

	t.Run("update: only changes that decide where the Secret goes are checked", func(t *testing.T) {
		g := NewWithT(t)
		old := withSecret("payments") // set up by someone who may read it
		unpublish := old.DeepCopy()
		unpublish.Spec.State = v1alpha1.StateUnpublished
		unpublish.Spec.DisplayName = "Orders"
		unpublish.Spec.Logging.Enabled = true
		_, err := v.ValidateUpdate(asUser("alice"), old, unpublish)
		g.Expect(err).NotTo(HaveOccurred(), "unpublishing, renaming or logging moves no Secret")

		redirect := old.DeepCopy()
		redirect.Spec.Nodes[3].HTTPRequest.URL = "https://attacker.example.com/collect"
		_, err = v.ValidateUpdate(asUser("alice"), old, redirect)
		expectDenied(g, err, apierrors.IsInvalid, "spec.nodes[3].httpRequest.headers[0].valueFrom.secretKeyRef.name",
			"alice may not get Secret payments")
		_, err = v.ValidateUpdate(asUser("admin"), old, redirect)
		g.Expect(err).NotTo(HaveOccurred())
	})

	t.Run("a failing review fails the request", func(t *testing.T) {
		g := NewWithT(t)
		broken := &ChatFlowValidator{Reader: reader(), Access: &SecretAccess{Authorizer: failing{}}}
		_, err := broken.ValidateCreate(asUser("admin"), withSecret("orders-api"))
		expectDenied(g, err, apierrors.IsInternalError, "the API server is down")
	})
}

type failing struct{}

func (failing) Allowed(context.Context, authenticationv1.UserInfo, authorizationv1.ResourceAttributes) (bool, error) {
	return false, errors.New("the API server is down")
}

func TestChannelBindingValidator_secretAccessAndAPIBaseURL(t *testing.T) {
	grants := &authorizer{grants: map[string][]string{"alice": {"shop-whatsapp-credentials"}}}
	flow := testutil.Flow("order-status", v1alpha1.StateUnpublished)
	v := &ChannelBindingValidator{Reader: reader(flow), Access: &SecretAccess{Authorizer: grants},
		APIBaseURLHosts: []string{"graph.facebook.com", "*.proxy.example.com"}}
	b := testutil.Binding("shop-whatsapp", "order-status")

	t.Run("create", func(t *testing.T) {
		g := NewWithT(t)
		_, err := v.ValidateCreate(asUser("alice"), b)
		g.Expect(err).NotTo(HaveOccurred())
		_, err = v.ValidateCreate(asUser("mallory"), b)
		expectDenied(g, err, apierrors.IsInvalid, "spec.credentialsRef.name", "mallory may not get Secret shop-whatsapp-credentials")

		viaProxy := b.DeepCopy()
		viaProxy.Spec.APIBaseURL = "https://eu.proxy.example.com/v21.0"
		_, err = v.ValidateCreate(asUser("alice"), viaProxy)
		g.Expect(err).NotTo(HaveOccurred())
		elsewhere := b.DeepCopy()
		elsewhere.Spec.APIBaseURL = "https://collector.example.org/v21.0"
		_, err = v.ValidateCreate(asUser("alice"), elsewhere)
		expectDenied(g, err, apierrors.IsInvalid, "spec.apiBaseURL", "host collector.example.org is not one the operator allows")
	})

	t.Run("update: moving the credentials elsewhere needs them", func(t *testing.T) {
		g := NewWithT(t)
		http := b.DeepCopy()
		http.Spec.APIBaseURL = "http://sandbox.proxy.example.com"
		_, err := v.ValidateUpdate(asUser("alice"), b, http)
		expectDenied(g, err, apierrors.IsInvalid, "spec.apiBaseURL", "must be https")

		rotated := b.DeepCopy()
		rotated.Spec.CredentialsRef.Name = "someone-elses"
		_, err = v.ValidateUpdate(asUser("alice"), b, rotated)
		expectDenied(g, err, apierrors.IsInvalid, "spec.credentialsRef.name", "alice may not get Secret someone-elses")

		labelled := b.DeepCopy()
		labelled.Labels = map[string]string{"team": "shop"}
		_, err = v.ValidateUpdate(asUser("mallory"), b, labelled)
		g.Expect(err).NotTo(HaveOccurred(), "metadata alone moves no credentials")
	})
}
