package builders

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr []string
		check   func(g Gomega, c Config)
	}{
		{
			name:  "empty keeps the defaults",
			yaml:  "",
			check: func(g Gomega, c Config) { g.Expect(c).To(Equal(DefaultConfig())) },
		},
		{
			name: "set fields replace the defaults",
			yaml: `
image: registry.local/chatflow:v2
store: redis://redis:6379/0
replicas: 2
resources: {requests: {cpu: 100m}}
allowPrivateNetworks: [10.0.0.0/8]
template:
  metadata: {labels: {team: chat}}
  spec: {nodeSelector: {pool: chat}}
`,
			check: func(g Gomega, c Config) {
				g.Expect(c.Image).To(Equal("registry.local/chatflow:v2"))
				g.Expect(c.ImagePullPolicy).To(Equal(corev1.PullIfNotPresent))
				g.Expect(c.Store).To(Equal("redis://redis:6379/0"))
				g.Expect(c.MultiReplica()).To(BeTrue())
				g.Expect(c.Replicas).To(Equal(int32(2)))
				g.Expect(c.Resources.Requests.Cpu().Equal(resource.MustParse("100m"))).To(BeTrue())
				g.Expect(c.Template.Metadata.Labels).To(HaveKeyWithValue("team", "chat"))
				g.Expect(c.Template.Spec.NodeSelector).To(HaveKeyWithValue("pool", "chat"))
			},
		},
		{name: "unknown fields are refused", yaml: "imag: x", wantErr: []string{"imag"}},
		{
			name: "every problem at once, passwords hidden",
			yaml: `
image: ""
store: http://user:hunter2@redis:6379
imagePullPolicy: Sometimes
allowPrivateNetworks: [10.0.0.0]
runAsUser: 0
template: {spec: {resources: {}}}
`,
			wantErr: []string{"image", "Sometimes", "redis://HOST:PORT/DB", "10.0.0.0", "root", "top level"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			c, err := ParseConfig([]byte(tt.yaml))
			if tt.wantErr != nil {
				g.Expect(err).To(HaveOccurred())
				for _, w := range tt.wantErr {
					g.Expect(err.Error()).To(ContainSubstring(w))
				}
				g.Expect(err.Error()).NotTo(ContainSubstring("hunter2"))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			tt.check(g, c)
		})
	}
}
