package webhooks

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/internal/testutil"
)

func TestLanguageModelValidator(t *testing.T) {
	ctx := asUser("admin")
	g := NewWithT(t)
	v := &LanguageModelValidator{Reader: reader(), Access: everyone}

	m := testutil.Model("support-llm", "openai")
	warnings, err := v.ValidateCreate(ctx, m)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(warnings).To(BeEmpty())

	bad := m.DeepCopy()
	bad.Spec.BaseURL, bad.Spec.Temperature = "https://api.example.com/v1?key=1", "3"
	_, err = v.ValidateUpdate(ctx, m, bad)
	expectDenied(g, err, apierrors.IsInvalid, "spec.baseURL", "must not have a query or fragment", "spec.temperature", "from 0 to 2")

	open := m.DeepCopy()
	open.Spec.APIKeyRef, open.Spec.BaseURL = nil, "http://vllm.models:8000/v1"
	warnings, err = v.ValidateCreate(ctx, open)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(warnings).To(HaveLen(2), "no key, plain http")

	// The key goes where baseURL says: whoever sets it must be able to
	// read the key's Secret.
	team := &authorizer{grants: map[string][]string{"dev": {"other"}}}
	v = &LanguageModelValidator{Reader: reader(), Access: &SecretAccess{Authorizer: team}}
	_, err = v.ValidateCreate(asUser("dev"), m)
	expectDenied(g, err, apierrors.IsInvalid, "spec.apiKeyRef.name: Forbidden: dev may not get Secret openai")
	_, err = v.ValidateUpdate(asUser("dev"), m, m.DeepCopy())
	g.Expect(err).NotTo(HaveOccurred(), "an update that leaves the spec alone is not checked")
	moved := m.DeepCopy()
	moved.Spec.BaseURL = "https://elsewhere.example.com/v1"
	_, err = v.ValidateUpdate(asUser("dev"), m, moved)
	expectDenied(g, err, apierrors.IsInvalid, "spec.apiKeyRef.name: Forbidden")
}

func TestLanguageModelDelete(t *testing.T) {
	ctx := context.Background()
	m := testutil.Model("support-llm", "openai")
	live := testutil.WithAIReply(testutil.Flow("support", v1alpha1.StatePublished), "support-llm")
	draft := testutil.WithAIReply(testutil.Flow("draft", v1alpha1.StateUnpublished), "support-llm")
	other := testutil.WithAIReply(testutil.Flow("other", v1alpha1.StatePublished), "another-llm")

	g := NewWithT(t)
	_, err := (&LanguageModelValidator{Reader: reader(live, draft, other)}).ValidateDelete(ctx, m)
	expectDenied(g, err, apierrors.IsForbidden, "the Published ChatFlows support use this model", "spec.state: Unpublished")

	_, err = (&LanguageModelValidator{Reader: reader(draft, other)}).ValidateDelete(ctx, m)
	g.Expect(err).NotTo(HaveOccurred(), "only Published flows hold a model")

	_, err = (&LanguageModelValidator{Reader: reader(live, terminating())}).ValidateDelete(ctx, m)
	g.Expect(err).NotTo(HaveOccurred(), "a namespace being deleted takes its models")
}
