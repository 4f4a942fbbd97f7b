// Package operator tests the operator end to end on a real kube-apiserver
// and etcd (envtest): the ChatFlow and ChannelBinding controllers, the
// validating webhooks installed through WebhookInstallOptions, and the
// ValidatingAdmissionPolicies of config/policy. The managers run as the
// chart's ServiceAccount with the chart's RBAC (impersonated), so a
// permission the chart lacks fails a test; every request they make is
// recorded. There is no kubelet and no Deployment controller: tests set
// Deployment and ReplicaSet status the way those would.
package operator

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/chatflow-dev/chatflow/controllers"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/internal/cli"
	"github.com/chatflow-dev/chatflow/internal/testenv"
)

var (
	env *envtest.Environment
	cfg *rest.Config
	// managerCfg is the chart's manager ServiceAccount, impersonated.
	managerCfg *rest.Config
	// managerRequests are the API requests of the managers.
	managerRequests testenv.Requests
	k8s             client.Client
	ctx             context.Context
	cancel          context.CancelFunc
	stopCtrl        func()
	stopHooks       func()
	// policy holds the admission policy objects of config/policy.
	policy []*unstructured.Unstructured
	// gatewayPublicURL is the gateway's public URL the manager knows.
	gatewayPublicURL = "https://chat.example.test"
	// contactHashKey is the installation's contact hash key in the tests.
	contactHashKey = []byte("the operator suite's contact hash key")
	// executorConfig is the manager's executor configuration in the tests.
	executorConfig = func() builders.Config {
		c := builders.DefaultConfig()
		c.Image = "registry.test/chatflow:test"
		c.Store = "redis://redis.chatflow:6379/0"
		c.AllowPrivateNetworks = []string{"10.0.0.0/8"}
		return c.WithStorePassword(storePassword)
	}()
	// apiBaseURLHosts are the hosts the webhook lets bindings send to.
	apiBaseURLHosts = []string{"*.example.com", "graph.facebook.com", "127.0.0.1"}
)

// storePassword is the session store password the manager is given.
const storePassword = "suite-store-password"

// The chart release whose ServiceAccount and RBAC the managers run with.
const (
	managerRelease   = "chatflow"
	managerNamespace = "chatflow-system"
)

func TestOperator(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Operator suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(50 * time.Millisecond)
	ctx, cancel = context.WithCancel(context.Background())

	var err error
	env, err = testenv.New()
	Expect(err).NotTo(HaveOccurred())
	env.WebhookInstallOptions = envtest.WebhookInstallOptions{
		Paths: []string{filepath.Join(testenv.RepoRoot(), "config", "webhook")},
	}
	cfg, err = env.Start()
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: cli.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	// The chart's RBAC: the manager's, and chatflow-editor and -viewer.
	identity, err := testenv.ManagerIdentity(ctx, k8s, cfg, managerRelease, managerNamespace)
	Expect(err).NotTo(HaveOccurred())
	managerCfg = managerRequests.Record(identity)

	for _, file := range []string{"deny-delete-published.yaml", "credentials-access.yaml"} {
		objs, err := testenv.ReadManifests(filepath.Join(testenv.RepoRoot(), "config", "policy", file))
		Expect(err).NotTo(HaveOccurred())
		policy = append(policy, objs...)
	}
	for _, o := range policy {
		Expect(k8s.Create(ctx, o.DeepCopy())).To(Succeed())
	}

	stopCtrl = startControllers()
	stopHooks = startWebhooks()
	waitForAdmission()
})

var _ = AfterSuite(func() {
	// Stop the managers and wait for them before stopping the API server.
	if stopHooks != nil {
		stopHooks()
	}
	if stopCtrl != nil {
		stopCtrl()
	}
	cancel()
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// startControllers runs a manager with the two controllers, the way the
// manager command builds it; the returned function stops it and waits.
func startControllers() func() {
	mgr, err := ctrl.NewManager(managerCfg, ctrl.Options{
		Scheme:  cli.Scheme(),
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   controllers.CacheOptions(),
	})
	Expect(err).NotTo(HaveOccurred())
	mctx, stop := context.WithCancel(ctx)
	Expect(controllers.SetupIndexes(mctx, mgr)).To(Succeed())
	Expect(controllers.SetupControllers(mgr, controllers.Options{Executor: executorConfig, MaxConcurrentReconciles: 4,
		GatewayPublicURL: gatewayPublicURL, ContactHashKey: contactHashKey})).To(Succeed())
	return run(mctx, stop, mgr)
}

// startWebhooks serves the validating webhooks where envtest's webhook
// configuration points; the returned function stops the server and waits.
func startWebhooks() func() {
	o := env.WebhookInstallOptions
	mgr, err := ctrl.NewManager(managerCfg, ctrl.Options{
		Scheme:        cli.Scheme(),
		Metrics:       metricsserver.Options{BindAddress: "0"},
		WebhookServer: webhook.NewServer(webhook.Options{Host: o.LocalServingHost, Port: o.LocalServingPort, CertDir: o.LocalServingCertDir}),
	})
	Expect(err).NotTo(HaveOccurred())
	mctx, stop := context.WithCancel(ctx)
	Expect(controllers.SetupIndexes(mctx, mgr)).To(Succeed())
	Expect(controllers.SetupWebhooks(mgr, controllers.Options{Executor: executorConfig, APIBaseURLHosts: apiBaseURLHosts})).To(Succeed())
	wait := run(mctx, stop, mgr)
	addr := net.JoinHostPort(o.LocalServingHost, strconv.Itoa(o.LocalServingPort))
	Eventually(func() error {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return err
		}
		return conn.Close()
	}).Should(Succeed(), "the webhook server listens")
	return wait
}

func run(mctx context.Context, stop context.CancelFunc, mgr ctrl.Manager) func() {
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mctx)).To(Succeed())
	}()
	return func() {
		stop()
		<-done
	}
}

// waitForAdmission waits until the API server enforces the webhooks and
// the admission policy (both are loaded asynchronously).
func waitForAdmission() {
	ns := newNamespace()
	f := flow("probe", ns, "Published")
	Expect(k8s.Create(ctx, f)).To(Succeed())
	Eventually(func() string {
		return fmt.Sprint(k8s.Delete(ctx, f.DeepCopy()))
	}).Should(ContainSubstring("ValidatingAdmissionPolicy"), "the admission policy is enforced")
	invalid := flow("probe-invalid", ns, "Unpublished")
	invalid.Spec.Nodes[1].Next = "nowhere"
	Eventually(func() string {
		return fmt.Sprint(k8s.Create(ctx, invalid.DeepCopy(), client.DryRunAll))
	}).Should(ContainSubstring(`admission webhook "vchatflow-v1alpha1.chatflow.dev" denied the request`), "the webhooks are called")
}

// webhookConfiguration is the installed ValidatingWebhookConfiguration.
func webhookConfiguration() *admissionregistrationv1.ValidatingWebhookConfiguration {
	list := &admissionregistrationv1.ValidatingWebhookConfigurationList{}
	Expect(k8s.List(ctx, list)).To(Succeed())
	Expect(list.Items).To(HaveLen(1))
	return &list.Items[0]
}
