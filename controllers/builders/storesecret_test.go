package builders

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/internal/testutil"
)

func TestWithStorePassword(t *testing.T) {
	for _, tt := range []struct {
		store, env          string
		wantStore, wantPass string
	}{
		{store: "memory", wantStore: "memory"},
		{store: "redis://redis:6379/0", wantStore: "redis://redis:6379/0"},
		{store: "redis://:hunter2@redis:6379/0", wantStore: "redis://redis:6379/0", wantPass: "hunter2"},
		{store: "rediss://app:hunter2@redis:6380/1?dial_timeout=3s", wantStore: "rediss://app@redis:6380/1?dial_timeout=3s", wantPass: "hunter2"},
		{store: "redis+cluster://:p%40ss@r1:6379?addr=r2:6379", wantStore: "redis+cluster://r1:6379?addr=r2:6379", wantPass: "p@ss"},
		{store: "redis://:in-url@redis:6379/0", env: "from-env", wantStore: "redis://redis:6379/0", wantPass: "from-env"},
		{store: "redis://redis:6379/0", env: "from-env", wantStore: "redis://redis:6379/0", wantPass: "from-env"},
	} {
		c := DefaultConfig()
		c.Store = tt.store
		got := c.WithStorePassword(tt.env)
		NewWithT(t).Expect(got.Store).To(Equal(tt.wantStore), tt.store)
		NewWithT(t).Expect(got.StorePassword).To(Equal(tt.wantPass), tt.store)
	}
}

func TestParseConfig_movesThePasswordOutOfTheURL(t *testing.T) {
	g := NewWithT(t)
	c, err := ParseConfig([]byte("store: redis://:hunter2@redis:6379/0\n"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.Store).To(Equal("redis://redis:6379/0"))
	g.Expect(c.StorePassword).To(Equal("hunter2"))
}

func TestStoreSecret(t *testing.T) {
	g := NewWithT(t)
	f := testutil.Flow("order-status", v1alpha1.StatePublished)
	g.Expect(StoreSecret(f, DefaultConfig())).To(BeNil(), "no password, no Secret")

	c := DefaultConfig()
	c.Store = "redis://:hunter2@redis:6379/0"
	s := StoreSecret(f, c)
	g.Expect(s.Name).To(Equal("order-status-executor"))
	g.Expect(s.Namespace).To(Equal(testutil.Namespace))
	g.Expect(metav1.IsControlledBy(s, f)).To(BeTrue())
	g.Expect(s.Labels).To(HaveKeyWithValue(LabelReferenced, "true"), "the manager's cache holds labelled Secrets only")
	g.Expect(s.Labels).To(HaveKeyWithValue(LabelManagedBy, ManagedBy))
	g.Expect(s.Data).To(Equal(map[string][]byte{StorePasswordKey: []byte("hunter2")}))
}

// TestDeployment_storePasswordNeverInArguments: a password the manager
// was given, in its environment or in the store URL, reaches the executor
// only through its environment, from the flow's store Secret.
func TestDeployment_storePasswordNeverInArguments(t *testing.T) {
	for name, cfg := range map[string]func(c *Config){
		"from the manager's environment": func(c *Config) {
			c.Store = "redis://redis.chatflow:6379/0"
			*c = c.WithStorePassword("hunter2")
		},
		"written in the store URL": func(c *Config) { c.Store = "redis://:hunter2@redis.chatflow:6379/0" },
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			in := input(testutil.Flow("order-status", v1alpha1.StatePublished), testutil.Binding("shop-whatsapp", "order-status"))
			cfg(&in.Config)
			d := Deployment(in)
			c := executor(d)
			for _, a := range append(append([]string{}, c.Command...), c.Args...) {
				g.Expect(a).NotTo(ContainSubstring("hunter2"))
			}
			g.Expect(strings.Join(Args(in), " ")).NotTo(ContainSubstring("hunter2"))
			g.Expect(c.Args).To(ContainElements("--store", "redis://redis.chatflow:6379/0"))
			g.Expect(c.Env).To(ContainElement(corev1.EnvVar{Name: "CHATFLOW_STORE_PASSWORD", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "order-status-executor"}, Key: "store-password"},
			}}))
			for _, e := range c.Env {
				g.Expect(e.Value).NotTo(ContainSubstring("hunter2"), "no literal value either")
			}
		})
	}

	t.Run("the operator's variable wins over a template's", func(t *testing.T) {
		g := NewWithT(t)
		f := testutil.Flow("order-status", v1alpha1.StatePublished)
		f.Spec.Executor = &v1alpha1.ExecutorSpec{Template: &v1alpha1.ExecutorPodTemplate{Spec: v1alpha1.ExecutorPodSpec{
			Env: []corev1.EnvVar{{Name: "CHATFLOW_STORE_PASSWORD", Value: "guess"}, {Name: "TZ", Value: "UTC"}},
		}}}
		in := input(f, nil)
		in.Config.Store = "redis://:hunter2@redis:6379/0"
		env := executor(Deployment(in)).Env
		g.Expect(env).To(HaveLen(2))
		g.Expect(env).To(ContainElement(HaveField("ValueFrom.SecretKeyRef.Name", "order-status-executor")))
		g.Expect(env).To(ContainElement(corev1.EnvVar{Name: "TZ", Value: "UTC"}))
	})

	t.Run("no password, no variable", func(t *testing.T) {
		in := input(testutil.Flow("order-status", v1alpha1.StatePublished), nil)
		in.Config.Store = "redis://redis:6379/0"
		NewWithT(t).Expect(executor(Deployment(in)).Env).To(BeEmpty())
	})
}
