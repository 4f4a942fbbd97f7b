package index

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/internal/testutil"
)

func TestExtractors(t *testing.T) {
	g := NewWithT(t)
	b := testutil.Binding("shop-whatsapp", "order-status")
	f := testutil.WithHTTPSecret(testutil.Flow("order-status", v1alpha1.StatePublished), "orders-api")
	f.Spec.Nodes = append(f.Spec.Nodes, *f.Spec.Nodes[3].DeepCopy())
	f.Spec.Nodes[4].ID = "call-again"
	f = testutil.WithAIReply(f, "support-llm")
	m := testutil.Model("support-llm", "openai")

	got := map[string][]string{}
	for _, ix := range All() {
		switch ix.Object.(type) {
		case *v1alpha1.ChannelBinding:
			got[ix.Field] = ix.Extract(b)
			g.Expect(ix.Extract(f)).To(BeNil(), "a flow is not a binding")
		case *v1alpha1.ChatFlow:
			got[ix.Field] = ix.Extract(f)
		case *v1alpha1.LanguageModel:
			got[ix.Field] = ix.Extract(m)
			g.Expect(ix.Extract(f)).To(BeNil(), "a flow is not a model")
		}
	}
	g.Expect(got).To(Equal(map[string][]string{
		BindingFlowName:    {"order-status"},
		BindingCredentials: {"shop-whatsapp-credentials"},
		BindingAccount:     {"WhatsApp/106540352242922"},
		FlowSecrets:        {"orders-api"},
		FlowModels:         {"support-llm"},
		ModelKeySecret:     {"openai"},
	}))
}

func TestModelRefs(t *testing.T) {
	g := NewWithT(t)
	f := testutil.WithAIReply(testutil.Flow("f", v1alpha1.StateUnpublished), "writer")
	f.Spec.Nodes = append(f.Spec.Nodes,
		v1alpha1.Node{ID: "route", Type: v1alpha1.NodeAIClassify, AIClassify: &v1alpha1.AIClassifyNode{Model: "cheap"}},
		v1alpha1.Node{ID: "read", Type: v1alpha1.NodeAIExtract, AIExtract: &v1alpha1.AIExtractNode{Model: "writer"}})
	refs := ModelRefs(&f.Spec)
	var paths []string
	for _, r := range refs {
		paths = append(paths, r.Name+"@"+r.Path.String())
	}
	g.Expect(paths).To(Equal([]string{"writer@spec.nodes[3].aiReply.model", "cheap@spec.nodes[4].aiClassify.model", "writer@spec.nodes[5].aiExtract.model"}))
	g.Expect(ModelNames(refs)).To(Equal([]string{"writer", "cheap"}))
}

type recordingIndexer map[string]bool

func (r recordingIndexer) IndexField(_ context.Context, _ client.Object, field string, _ client.IndexerFunc) error {
	r[field] = true
	return nil
}

func TestAdd(t *testing.T) {
	g := NewWithT(t)
	r := recordingIndexer{}
	g.Expect(Add(context.Background(), r)).To(Succeed())
	g.Expect(r).To(HaveLen(len(All())))
}
