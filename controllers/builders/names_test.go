package builders

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestExecutorName(t *testing.T) {
	long := strings.Repeat("a", 60)
	tests := []struct {
		name, flow, want string
	}{
		{name: "plain name", flow: "order-status", want: "order-status-executor"},
		{name: "long name is shortened with a hash", flow: long},
		{name: "dots are not allowed in a Service name", flow: "shop.orders"},
		{name: "a leading digit is not allowed in a Service name", flow: "1flow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got := ExecutorName(tt.flow)
			g.Expect(validation.IsDNS1035Label(got)).To(BeEmpty(), got)
			g.Expect(got).To(HaveSuffix("-executor"))
			if tt.want != "" {
				g.Expect(got).To(Equal(tt.want))
			}
			g.Expect(ExecutorName(tt.flow)).To(Equal(got), "stable")
		})
	}
	NewWithT(t).Expect(ExecutorName(long+"x")).NotTo(Equal(ExecutorName(long+"y")), "distinct long names stay distinct")
}

func TestConfigMapName(t *testing.T) {
	g := NewWithT(t)
	g.Expect(ConfigMapName("order-status", "5f1c2a9e01", "abcdef")).To(Equal("order-status-5f1c2a9e01-abcdef"))
	long := ConfigMapName(strings.Repeat("a", 253), "5f1c2a9e01", "abcdef")
	g.Expect(validation.IsDNS1123Subdomain(long)).To(BeEmpty())
	g.Expect(long).To(HaveSuffix("-5f1c2a9e01-abcdef"))
}

func TestLabelValue(t *testing.T) {
	g := NewWithT(t)
	g.Expect(LabelValue("order-status")).To(Equal("order-status"))
	long := LabelValue(strings.Repeat("a.", 100))
	g.Expect(validation.IsValidLabelValue(long)).To(BeEmpty())
	g.Expect(long).NotTo(Equal(LabelValue(strings.Repeat("a.", 101))))
	g.Expect(OwnedByFlow(Labels("order-status"), "order-status")).To(BeTrue())
	g.Expect(OwnedByFlow(Labels("order-status"), "other")).To(BeFalse())
}
