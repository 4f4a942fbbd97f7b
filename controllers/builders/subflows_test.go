package builders

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/internal/testutil"
	"github.com/chatflow-dev/chatflow/internal/manifest"
)

// A flow that forwards to others carries them in its revision's ConfigMap
// (in name order, whatever the order given), a change of one of them
// makes another ConfigMap, and the executor is told to read them.
func TestConfigMapWithSubflows(t *testing.T) {
	g := NewWithT(t)
	f := testutil.Flow("desk", v1alpha1.StatePublished)
	billing := testutil.Flow("billing", v1alpha1.StatePublished)
	billing.Spec.DisplayName = "not copied"
	support := testutil.Flow("support", v1alpha1.StatePublished)

	plain, err := ConfigMap(f, nil, "aaaaaaaaaa", "", nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(plain.Data).NotTo(HaveKey(SubflowsKey))

	cm, err := ConfigMap(f, nil, "aaaaaaaaaa", "", []*v1alpha1.ChatFlow{support, billing})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cm.Name).NotTo(Equal(plain.Name))
	objs, err := manifest.Parse(manifest.Source{Name: SubflowsKey, Data: []byte(cm.Data[SubflowsKey])})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(objs).To(HaveLen(2))
	g.Expect([]string{objs[0].Name, objs[1].Name}).To(Equal([]string{"billing", "support"}))
	g.Expect(cm.Data[SubflowsKey]).NotTo(ContainSubstring("not copied"))

	again, _ := ConfigMap(f, nil, "aaaaaaaaaa", "", []*v1alpha1.ChatFlow{billing, support})
	g.Expect(again.Name).To(Equal(cm.Name), "the order given does not matter")
	support.Spec.Nodes[1].SendMessage.Text = "changed"
	changed, _ := ConfigMap(f, nil, "aaaaaaaaaa", "", []*v1alpha1.ChatFlow{billing, support})
	g.Expect(changed.Name).NotTo(Equal(cm.Name), "a called flow's change makes a new ConfigMap")

	in := ExecutorInput{Flow: f, Revision: "aaaaaaaaaa", ConfigMap: cm.Name, Config: DefaultConfig()}
	g.Expect(strings.Join(Args(in), " ")).NotTo(ContainSubstring("--subflows"))
	in.Subflows = true
	g.Expect(strings.Join(Args(in), " ")).To(ContainSubstring("--subflows /etc/chatflow/revision/subflows.yaml"))
}
