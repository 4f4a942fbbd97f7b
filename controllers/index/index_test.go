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

	got := map[string][]string{}
	for _, ix := range All() {
		switch ix.Object.(type) {
		case *v1alpha1.ChannelBinding:
			got[ix.Field] = ix.Extract(b)
			g.Expect(ix.Extract(f)).To(BeNil(), "a flow is not a binding")
		case *v1alpha1.ChatFlow:
			got[ix.Field] = ix.Extract(f)
		}
	}
	g.Expect(got).To(Equal(map[string][]string{
		BindingFlowName:    {"order-status"},
		BindingCredentials: {"shop-whatsapp-credentials"},
		BindingAccount:     {"WhatsApp/106540352242922"},
		FlowSecrets:        {"orders-api"},
	}))
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
