package namespaced

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/internal/gateway"
	"github.com/chatflow-dev/chatflow/internal/testenv"
)

// TestGatewayAsTheChartsServiceAccount runs the gateway's informers as the
// ServiceAccount the namespaced chart gives it, with its Role in the
// watched namespace only: the routes of that namespace are learned, the
// other namespace's are not, and the account may do nothing more than
// list and watch bindings, Secrets and Services there.
func TestGatewayAsTheChartsServiceAccount(t *testing.T) {
	g := NewWithT(t)
	// The API server's address and credentials, without the manager's
	// identity or the recording of its requests.
	base := rest.CopyConfig(managerCfg)
	base.WrapTransport, base.Impersonate = nil, rest.ImpersonationConfig{}
	cfg, err := testenv.GatewayIdentity(ctx, k8s, base, release, system, "--set", "watchNamespaces={"+watched+"}")
	g.Expect(err).NotTo(HaveOccurred())

	mayGateway := func(verb, group, resource, namespace string) bool {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: cfg.Impersonate.UserName, Groups: cfg.Impersonate.Groups,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource, Namespace: namespace},
		}}
		g.Expect(k8s.Create(ctx, sar)).To(Succeed())
		return sar.Status.Allowed
	}
	for _, tt := range []struct {
		verb, group, resource, namespace string
		allowed                          bool
	}{
		{"watch", "chatflow.dev", "channelbindings", watched, true},
		{"list", "", "secrets", watched, true},
		{"list", "", "services", watched, true},
		{"get", "", "secrets", watched, false},
		{"patch", "", "secrets", watched, false},
		{"list", "", "secrets", other, false},
		{"list", "", "secrets", "", false},
		{"list", "chatflow.dev", "chatflows", watched, false},
		{"update", "chatflow.dev", "channelbindings", watched, false},
	} {
		g.Expect(mayGateway(tt.verb, tt.group, tt.resource, tt.namespace)).To(Equal(tt.allowed),
			"the gateway may %s %s/%s in %q", tt.verb, tt.group, tt.resource, tt.namespace)
	}

	// The manager labels a binding's Secret; here the test does, and takes
	// its objects away after, so the manager of TestNamespacedInstall
	// never meets them.
	labelled := map[string]string{builders.LabelCredentials: "true"}
	for _, ns := range []string{watched, other} {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "gw-app", Namespace: ns, Labels: labelled},
			StringData: map[string]string{"appSecret": "s-" + ns, "verifyToken": "v"}}
		binding := &v1alpha1.ChannelBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "gw-page", Namespace: ns},
			Spec: v1alpha1.ChannelBindingSpec{FlowRef: v1alpha1.FlowReference{Name: "gw"}, Channel: v1alpha1.ChannelMessenger,
				Account: v1alpha1.Account{ID: "page-" + ns}, CredentialsRef: v1alpha1.SecretReference{Name: "gw-app"}},
		}
		g.Expect(k8s.Create(ctx, secret)).To(Succeed())
		g.Expect(k8s.Create(ctx, binding)).To(Succeed())
		t.Cleanup(func() {
			_ = k8s.Delete(ctx, binding)
			_ = k8s.Delete(ctx, secret)
		})
	}

	tables := make(chan *gateway.Table, 100)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- gateway.Watch(wctx, cfg, gateway.WatchOptions{Namespaces: []string{watched}, OnTable: func(t *gateway.Table) { tables <- t }})
	}()
	defer func() {
		cancel()
		g.Expect(<-done).To(Succeed(), "the informers stopped with an error (a permission the chart lacks?)")
	}()
	var last *gateway.Table
	g.Eventually(func() bool {
		select {
		case last = <-tables:
		case <-time.After(100 * time.Millisecond):
		}
		return last != nil && last.Route(v1alpha1.ChannelMessenger, "page-"+watched) != nil
	}, 30*time.Second).Should(BeTrue(), "the watched namespace's binding is routed")
	g.Expect(last.Route(v1alpha1.ChannelMessenger, "page-"+watched).Secret).To(Equal("s-" + watched))
	g.Expect(last.Route(v1alpha1.ChannelMessenger, "page-"+other)).To(BeNil(), "another namespace's binding is not")
}
