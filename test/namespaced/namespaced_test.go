// Package namespaced tests one team's install end to end: the chart
// rendered with watchNamespaces, its RBAC applied to a real API server
// (envtest), and the manager, configured as the chart configures it
// (--watch-namespaces), running as the chart's ServiceAccount. A flow in
// the watched namespace is reconciled; one outside is not looked at; and
// the manager can, and does, reach nothing cluster-wide it does not need.
// It has a control plane of its own: test/operator's manager watches every
// namespace.
package namespaced

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/internal/cli"
	"github.com/chatflow-dev/chatflow/internal/testenv"
)

const (
	release = "team-a"
	system  = "team-a-system" // the release namespace
	watched = "shop"
	other   = "elsewhere"
)

var (
	ctx        = context.Background()
	k8s        client.Client
	managerCfg *rest.Config
	requests   testenv.Requests
)

// TestMain runs the tests against one API server and stops it after them:
// os.Exit skips deferred calls, so the stop is not deferred.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	env, err := testenv.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if err := setup(cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func setup(cfg *rest.Config) error {
	var err error
	if k8s, err = client.New(cfg, client.Options{Scheme: cli.Scheme()}); err != nil {
		return err
	}
	for _, ns := range []string{watched, other} {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	identity, err := testenv.ManagerIdentity(ctx, k8s, cfg, release, system, "--set", "watchNamespaces={"+watched+"}")
	if err != nil {
		return err
	}
	managerCfg = requests.Record(identity)
	return nil
}

// startManager runs the controllers the way `chatflow manager
// --watch-namespaces shop` does, as the chart's ServiceAccount.
func startManager(t *testing.T) {
	mgr, err := ctrl.NewManager(managerCfg, ctrl.Options{
		Scheme:  cli.Scheme(),
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   controllers.CacheOptions(watched),
	})
	if err != nil {
		t.Fatal(err)
	}
	mctx, cancel := context.WithCancel(ctx)
	if err := controllers.SetupIndexes(mctx, mgr); err != nil {
		t.Fatal(err)
	}
	cfg := builders.DefaultConfig()
	cfg.Store = "redis://redis.team-a-system:6379/0"
	if err := controllers.SetupControllers(mgr, controllers.Options{Executor: cfg.WithStorePassword("team-a-password")}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the manager stopped with %v", err)
		}
	})
}

// team creates a Published flow with an HTTPRequest header Secret, its
// binding and its Secrets in ns.
func team(g Gomega, ns string) (*v1alpha1.ChatFlow, *corev1.Secret) {
	f := &v1alpha1.ChatFlow{
		ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: ns},
		Spec: v1alpha1.ChatFlowSpec{
			State:   v1alpha1.StatePublished,
			Trigger: v1alpha1.Trigger{Type: v1alpha1.TriggerWhatsApp},
			Nodes: []v1alpha1.Node{
				{ID: "start", Type: v1alpha1.NodeStart, Next: "call"},
				{ID: "call", Type: v1alpha1.NodeHTTPRequest, Next: "end", OnError: "end", HTTPRequest: &v1alpha1.HTTPRequestNode{
					URL: "https://orders.example.com/v1", Headers: []v1alpha1.HTTPHeader{{Name: "Authorization",
						ValueFrom: &v1alpha1.HeaderSource{SecretKeyRef: v1alpha1.SecretKeySelector{Name: "orders-api", Key: "token"}}}},
				}},
				{ID: "end", Type: v1alpha1.NodeEnd},
			},
		},
	}
	b := &v1alpha1.ChannelBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "orders-whatsapp", Namespace: ns},
		Spec: v1alpha1.ChannelBindingSpec{
			FlowRef: v1alpha1.FlowReference{Name: "orders"}, Channel: v1alpha1.ChannelWhatsApp,
			Account:        v1alpha1.Account{ID: "acct-" + ns},
			CredentialsRef: v1alpha1.SecretReference{Name: "orders-whatsapp"},
		},
	}
	header := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "orders-api", Namespace: ns}, StringData: map[string]string{"token": "t"}}
	creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "orders-whatsapp", Namespace: ns},
		StringData: map[string]string{"accessToken": "a", "appSecret": "s", "verifyToken": "v"}}
	for _, o := range []client.Object{header, creds, f, b} {
		g.Expect(k8s.Create(ctx, o)).To(Succeed())
	}
	return f, header
}

// may asks the API server whether the manager's ServiceAccount may do
// something; namespace "" is cluster-wide.
func may(g Gomega, verb, group, resource, namespace string) bool {
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: managerCfg.Impersonate.UserName, Groups: managerCfg.Impersonate.Groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource, Namespace: namespace},
	}}
	g.Expect(k8s.Create(ctx, sar)).To(Succeed())
	return sar.Status.Allowed
}

func TestNamespacedInstall(t *testing.T) {
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(30 * time.Second)
	g.SetDefaultEventuallyPollingInterval(100 * time.Millisecond)

	t.Run("the chart grants nothing cluster-wide the manager does not need", func(t *testing.T) {
		g := NewWithT(t)
		for _, tt := range []struct {
			verb, group, resource, namespace string
			allowed                          bool
		}{
			{"list", "", "secrets", watched, true},
			{"patch", "", "secrets", watched, true},
			{"list", "", "secrets", "", false},
			{"get", "", "secrets", other, false},
			{"list", "chatflow.dev", "chatflows", "", false},
			{"list", "chatflow.dev", "chatflows", other, false},
			{"list", "apps", "deployments", "", false},
			{"create", "apps", "deployments", other, false},
			{"get", "", "namespaces", "", true},                                  // a terminating namespace may take Published flows
			{"create", "authorization.k8s.io", "subjectaccessreviews", "", true}, // admission asks whether the requester may read Secrets
		} {
			g.Expect(may(g, tt.verb, tt.group, tt.resource, tt.namespace)).To(Equal(tt.allowed), "%s %s/%s in %q", tt.verb, tt.group, tt.resource, tt.namespace)
		}
	})

	startManager(t)
	inside, insideSecret := team(g, watched)
	outside, outsideSecret := team(g, other)

	t.Run("a flow in the watched namespace is reconciled", func(t *testing.T) {
		g := NewWithT(t)
		d := &appsv1.Deployment{}
		g.Eventually(func() error {
			return k8s.Get(ctx, client.ObjectKey{Namespace: watched, Name: builders.ExecutorName("orders")}, d)
		}, 30*time.Second).Should(Succeed())
		g.Eventually(func() int64 {
			_ = k8s.Get(ctx, client.ObjectKeyFromObject(inside), inside)
			return inside.Status.ObservedGeneration
		}, 30*time.Second).Should(Equal(inside.Generation))
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(insideSecret), insideSecret)).To(Succeed())
		g.Expect(insideSecret.Labels).To(HaveKeyWithValue(builders.LabelReferenced, "true"))
		store := &corev1.Secret{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: watched, Name: builders.StoreSecretName("orders")}, store)).To(Succeed())
	})

	t.Run("a flow outside is not looked at", func(t *testing.T) {
		g := NewWithT(t)
		g.Consistently(func() int64 {
			_ = k8s.Get(ctx, client.ObjectKeyFromObject(outside), outside)
			return outside.Status.ObservedGeneration
		}, 3*time.Second).Should(Equal(int64(-1)))
		err := k8s.Get(ctx, client.ObjectKey{Namespace: other, Name: builders.ExecutorName("orders")}, &appsv1.Deployment{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%v", err)
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(outsideSecret), outsideSecret)).To(Succeed())
		g.Expect(outsideSecret.Labels).NotTo(HaveKey(builders.LabelReferenced))
	})

	t.Run("the manager asked for nothing outside its namespaces, and was refused nothing", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(requests.Matching(func(r testenv.Request) bool { return r.Namespace == other })).To(BeEmpty())
		g.Expect(requests.Matching(func(r testenv.Request) bool {
			return r.Namespace == "" && r.Resource != "namespaces" && r.Resource != "subjectaccessreviews"
		})).To(BeEmpty(), "no cluster-wide request")
		g.Expect(requests.Matching(func(r testenv.Request) bool { return r.Code == 401 || r.Code == 403 })).To(BeEmpty())
		g.Expect(requests.Matching(func(r testenv.Request) bool {
			return r.Resource == "secrets" && (r.Verb == "list" || r.Verb == "watch") && r.LabelSelector != builders.LabelReferenced+"=true"
		})).To(BeEmpty())
		g.Expect(requests.Matching(func(r testenv.Request) bool { return r.Namespace == watched })).NotTo(BeEmpty())
	})
}
