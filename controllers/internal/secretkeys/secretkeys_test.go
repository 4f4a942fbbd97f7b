package secretkeys

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/chatflow-dev/chatflow/controllers/internal/testutil"
)

// countingReader counts the Secrets read through it.
type countingReader struct {
	client.Reader
	reads int
}

func (c *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*corev1.Secret); ok {
		c.reads++
	}
	return c.Reader.Get(ctx, key, obj, opts...)
}

func TestSecretKeys(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	secret := testutil.Credentials("shop")
	secret.Data["appSecret"] = nil
	c := fake.NewClientBuilder().WithScheme(testutil.Scheme()).WithObjects(secret).Build()
	api := &countingReader{Reader: c}
	keys := New(c, api)
	key := types.NamespacedName{Namespace: testutil.Namespace, Name: "shop"}

	s, err := keys.Get(ctx, key)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.Data).To(HaveKey("accessToken"))
	g.Expect(s.Data).NotTo(HaveKey("appSecret"), "an empty value counts as missing")
	g.Expect(string(s.Data["accessToken"])).NotTo(Equal("EAAG"), "no value is kept")
	g.Expect(api.reads).To(Equal(1))

	_, err = keys.Get(ctx, key)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(api.reads).To(Equal(1), "same version: no read")

	g.Expect(c.Get(ctx, key, secret)).To(Succeed())
	secret.Data["appSecret"] = []byte("s3cret")
	g.Expect(c.Update(ctx, secret)).To(Succeed())
	s, _ = keys.Get(ctx, key)
	g.Expect(s.Data).To(HaveKey("appSecret"))
	g.Expect(api.reads).To(Equal(2), "a new version is read")

	g.Expect(c.Delete(ctx, secret)).To(Succeed())
	s, err = keys.Get(ctx, key)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s).To(BeNil())
}
