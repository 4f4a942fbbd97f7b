package index

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/internal/testutil"
	"github.com/chatflow-dev/chatflow/controllers/secretrefs"
)

func TestExtractors(t *testing.T) {
	g := NewWithT(t)
	b := testutil.Binding("shop-whatsapp", "order-status")
	f := testutil.WithHTTPSecret(testutil.Flow("order-status", v1alpha1.StatePublished), "orders-api")
	f.Spec.Nodes = append(f.Spec.Nodes, *f.Spec.Nodes[3].DeepCopy())
	f.Spec.Nodes[4].ID = "call-again"
	f = testutil.WithAIReply(f, "support-llm")
	for _, target := range []string{"billing", "support", "billing"} {
		f.Spec.Nodes = append(f.Spec.Nodes, v1alpha1.Node{ID: "to-" + target, Type: v1alpha1.NodeForwardToFlow,
			ForwardToFlow: &v1alpha1.ForwardToFlowNode{FlowRef: v1alpha1.FlowReference{Name: target}}})
	}
	m := testutil.Model("support-llm", "openai")
	c := &v1alpha1.Campaign{Spec: v1alpha1.CampaignSpec{
		FlowRef: v1alpha1.FlowReference{Name: "promo"},
		Audience: v1alpha1.Audience{Sources: []v1alpha1.AudienceSource{
			{ConfigMapKeyRef: &v1alpha1.ConfigMapKeySelector{Name: "list", Key: "a.csv"}},
			{SecretKeyRef: &v1alpha1.SecretKeySelector{Name: "vip", Key: "b.csv"}},
			{ConfigMapKeyRef: &v1alpha1.ConfigMapKeySelector{Name: "list", Key: "c.csv"}},
		}},
		OptOut: &v1alpha1.AudienceSource{ConfigMapKeyRef: &v1alpha1.ConfigMapKeySelector{Name: "stop", Key: "ids"}},
	}}

	// By kind: a campaign's flow and a binding's flow are both
	// spec.flowRef.name, on different kinds.
	got := map[string]map[string][]string{}
	put := func(kind, field string, v []string) {
		if got[kind] == nil {
			got[kind] = map[string][]string{}
		}
		got[kind][field] = v
	}
	for _, ix := range All() {
		switch ix.Object.(type) {
		case *v1alpha1.ChannelBinding:
			put("binding", ix.Field, ix.Extract(b))
			g.Expect(ix.Extract(f)).To(BeNil(), "a flow is not a binding")
		case *v1alpha1.ChatFlow:
			put("flow", ix.Field, ix.Extract(f))
		case *v1alpha1.LanguageModel:
			put("model", ix.Field, ix.Extract(m))
			g.Expect(ix.Extract(f)).To(BeNil(), "a flow is not a model")
		case *v1alpha1.Campaign:
			put("campaign", ix.Field, ix.Extract(c))
			g.Expect(ix.Extract(b)).To(BeNil(), "a binding is not a campaign")
		}
	}
	g.Expect(got).To(Equal(map[string]map[string][]string{
		"binding": {
			BindingFlowName:    {"order-status"},
			BindingCredentials: {"shop-whatsapp-credentials"},
			BindingAccount:     {"WhatsApp/106540352242922"},
		},
		"flow": {
			FlowSecrets: {"orders-api"},
			FlowModels:  {"support-llm"},
			FlowTargets: {"billing", "support"},
		},
		"model": {
			ModelKeySecret: {"openai"},
		},
		"campaign": {
			CampaignFlow:             {"promo"},
			secretrefs.CampaignField: {"vip"},
		},
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

func (r recordingIndexer) IndexField(_ context.Context, obj client.Object, field string, _ client.IndexerFunc) error {
	r[fmt.Sprintf("%T %s", obj, field)] = true
	return nil
}

func TestAdd(t *testing.T) {
	g := NewWithT(t)
	r := recordingIndexer{}
	g.Expect(Add(context.Background(), r)).To(Succeed())
	g.Expect(r).To(HaveLen(len(All())))
}
