package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	chatflowv1alpha1 "github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/internal/gateway"
)

// managerOptions are the manager's command-line settings.
type managerOptions struct {
	metricsAddr   string
	metricsSecure bool
	probeAddr     string
	leaderElect   bool
	enableHTTP2   bool
	zap           zap.Options

	workers         int
	apiQPS          float32
	apiBurst        int
	watchNamespaces []string
	apiBaseURLHosts []string

	gatewayPublicURL string

	webhooks webhookOptions

	executorConfigFile string
	executor           builders.Config
	contactHashKeyFile string
	// devState is the directory of a `chatflow dev` whose local executor
	// processes stand for the executor Services.
	devState string
}

// webhookOptions say how the admission webhooks are served.
type webhookOptions struct {
	enabled    bool
	port       int
	certDir    string
	rotate     bool
	namespace  string
	secretName string
	service    string
	config     string
}

// Scheme returns the scheme with every type the manager reads or writes.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(chatflowv1alpha1.AddToScheme(s))
	return s
}

func newManagerCommand() *cobra.Command {
	o := managerOptions{zap: zap.Options{Development: false}, executor: builders.DefaultConfig()}
	cmd := &cobra.Command{
		Use:   "manager",
		Short: "Run the operator: reconcile ChatFlows and ChannelBindings",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkPublicURL(o.gatewayPublicURL); err != nil {
				return fmt.Errorf("--gateway-public-url: %w", err)
			}
			cfg, err := executorConfig(cmd, o)
			if err != nil {
				return err
			}
			o.executor = cfg
			return runManager(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.metricsAddr, "metrics-bind-address", ":8443",
		"address of the metrics endpoint (:8443 for HTTPS, :8080 with --metrics-secure=false); 0 disables it")
	f.BoolVar(&o.metricsSecure, "metrics-secure", true,
		"serve metrics over HTTPS, authenticated and authorized through the API server")
	f.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz probes")
	f.BoolVar(&o.leaderElect, "leader-elect", false,
		"elect a leader so only one of several manager replicas reconciles at a time")
	f.BoolVar(&o.enableHTTP2, "enable-http2", false,
		"serve metrics and webhooks over HTTP/2 (off by default against HTTP/2 rapid-reset attacks)")
	f.IntVar(&o.workers, "max-concurrent-reconciles", 4, "flows (and bindings) reconciled in parallel")
	f.Float32Var(&o.apiQPS, "kube-api-qps", 50, "queries per second to the API server")
	f.IntVar(&o.apiBurst, "kube-api-burst", 100, "burst of queries to the API server")
	f.StringVar(&o.contactHashKeyFile, "contact-hash-key-file", "",
		"file holding the installation's key of the contact id hash in executor logs (the chart mounts a Secret it generates); "+
			"each flow's executors get a key derived from it for their namespace; without it, an unkeyed hash (development)")
	f.StringSliceVar(&o.watchNamespaces, "watch-namespaces", nil,
		"reconcile flows and bindings in these namespaces only (default: all); the RBAC must grant at least these")
	f.StringVar(&o.gatewayPublicURL, "gateway-public-url", "",
		"public base URL of the Chatflow gateway (https://chat.example.com): ChannelBindings show their callback URL "+
			"under it in status.webhookURL, and WhatsApp bindings with spec.webhookOverride register it with Meta")

	f.StringSliceVar(&o.apiBaseURLHosts, "api-base-url-hosts", nil,
		"the only hosts a ChannelBinding's spec.apiBaseURL may name (exact names, or *.example.com for the names under it); default: any https host")

	w := &o.webhooks
	f.BoolVar(&w.enabled, "enable-webhooks", true, "serve the validating admission webhooks")
	f.IntVar(&w.port, "webhook-port", 9443, "port of the webhook server")
	f.StringVar(&w.certDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs",
		"directory with the webhook serving certificate (tls.crt, tls.key); the mounted Secret")
	f.BoolVar(&w.rotate, "webhook-cert-rotation", true,
		"generate and rotate the webhook certificate and CA in --webhook-secret-name and inject the CA into "+
			"--webhook-configuration-name; turn off when cert-manager provides the certificate")
	f.StringVar(&w.namespace, "namespace", "", "namespace of the manager (default: $POD_NAMESPACE, else the service account's)")
	f.StringVar(&w.secretName, "webhook-secret-name", "chatflow-webhook-server-cert", "Secret holding the webhook certificate")
	f.StringVar(&w.service, "webhook-service-name", "chatflow-webhook-service", "Service in front of the webhook server")
	f.StringVar(&w.config, "webhook-configuration-name", "chatflow-validating-webhook-configuration",
		"ValidatingWebhookConfiguration to inject the CA into")

	f.StringVar(&o.devState, "dev-state", "",
		"reach executor Services at the local processes of the chatflow dev running in this directory (chatflow dev sets it)")
	_ = f.MarkHidden("dev-state")

	e := &o.executor
	f.StringVar(&o.executorConfigFile, "executor-config", "",
		"YAML file with the executor defaults (image, imagePullPolicy, store, replicas, resources, template, "+
			"allowPrivateNetworks, runAsUser); the flags below override it")
	f.StringVar(&e.Image, "executor-image", e.Image, "image of the executors")
	f.StringVar((*string)(&e.ImagePullPolicy), "executor-image-pull-policy", string(e.ImagePullPolicy), "pull policy of the executor image")
	f.StringVar(&e.Store, "executor-store", e.Store, "session store of the executors: memory (one pod per flow), redis://HOST:PORT/DB, rediss:// (TLS) or redis+cluster://HOST:PORT (Redis Cluster); its password comes from $"+builders.StorePasswordEnv)
	f.Int32Var(&e.Replicas, "executor-replicas", e.Replicas, "executor pods of a flow that does not say")
	f.StringSliceVar(&e.AllowPrivateNetworks, "executor-allow-private-networks", nil,
		"CIDRs HTTPRequest nodes may reach although private, loopback or link-local (e.g. 10.0.0.0/8)")

	// zap binds only to a standard flag set; copy its flags into cobra's.
	zapFlags := flag.NewFlagSet("zap", flag.ContinueOnError)
	o.zap.BindFlags(zapFlags)
	f.AddGoFlagSet(zapFlags)
	return cmd
}

// executorConfig reads --executor-config over the defaults and lays the
// executor flags that were set over it.
func executorConfig(cmd *cobra.Command, o managerOptions) (builders.Config, error) {
	cfg := builders.DefaultConfig()
	if o.executorConfigFile != "" {
		data, err := os.ReadFile(o.executorConfigFile)
		if err != nil {
			return cfg, fmt.Errorf("reading --executor-config: %w", err)
		}
		if cfg, err = builders.ParseConfig(data); err != nil {
			return cfg, fmt.Errorf("%s: %w", o.executorConfigFile, err)
		}
	}
	f := cmd.Flags()
	set := func(name string, apply func()) {
		if f.Changed(name) {
			apply()
		}
	}
	set("executor-image", func() { cfg.Image = o.executor.Image })
	set("executor-image-pull-policy", func() { cfg.ImagePullPolicy = o.executor.ImagePullPolicy })
	set("executor-store", func() { cfg.Store = o.executor.Store })
	set("executor-replicas", func() { cfg.Replicas = o.executor.Replicas })
	set("executor-allow-private-networks", func() { cfg.AllowPrivateNetworks = o.executor.AllowPrivateNetworks })
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	// The store's password comes from the environment (the chart sets it
	// from a Secret); one written in the URL is moved out of it too, so
	// that no executor gets it in its arguments.
	return cfg.WithStorePassword(os.Getenv(builders.StorePasswordEnv)), nil
}

func runManager(cmd *cobra.Command, o managerOptions) error {
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.zap)))
	setupLog := ctrl.Log.WithName("setup")
	var tlsOpts []func(*tls.Config)
	if !o.enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metrics := metricsserver.Options{BindAddress: o.metricsAddr, SecureServing: o.metricsSecure, TLSOpts: tlsOpts}
	if o.metricsSecure {
		metrics.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("no Kubernetes configuration (set KUBECONFIG or run in a pod): %w", err)
	}
	cfg.QPS, cfg.Burst = o.apiQPS, o.apiBurst
	cacheOpts := controllers.CacheOptions(o.watchNamespaces...)
	webhookServer := webhook.NewServer(webhook.Options{Port: o.webhooks.port, CertDir: o.webhooks.certDir, TLSOpts: tlsOpts})
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 Scheme(),
		Metrics:                metrics,
		HealthProbeBindAddress: o.probeAddr,
		Cache:                  cacheOpts,
		WebhookServer:          webhookServer,
		LeaderElection:         o.leaderElect,
		LeaderElectionID:       LeaderElectionID,
		// Releasing on cancel hands leadership over at once on a rolling
		// update instead of after the lease expires; safe because the
		// manager exits right after.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	ctx, cancel := context.WithCancel(ctrl.SetupSignalHandler())
	defer cancel()
	opts := controllers.Options{Executor: o.executor, MaxConcurrentReconciles: o.workers, APIBaseURLHosts: o.apiBaseURLHosts,
		GatewayPublicURL: o.gatewayPublicURL}
	if opts.ContactHashKey, err = readContactHashKey(o.contactHashKeyFile); err != nil {
		return err
	}
	if o.devState != "" {
		// The executor processes of chatflow dev, found as the gateway finds them.
		resolve := gateway.DevResolver(o.devState)
		opts.ResolveExecutor = func(_ context.Context, ns, svc string) (string, error) {
			return resolve(&gateway.Backend{Namespace: ns, Name: svc})
		}
	}
	if err := controllers.SetupIndexes(ctx, mgr); err != nil {
		return err
	}
	if err := controllers.SetupControllers(mgr, opts); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	var webhookErr error
	if o.webhooks.enabled {
		certsReady := make(chan struct{})
		if o.webhooks.rotate {
			if err := controllers.AddCertRotator(mgr, controllers.CertRotation{
				Namespace:            managerNamespace(o.webhooks.namespace),
				SecretName:           o.webhooks.secretName,
				ServiceName:          o.webhooks.service,
				WebhookConfiguration: o.webhooks.config,
				CertDir:              o.webhooks.certDir,
			}, certsReady); err != nil {
				return err
			}
		} else {
			close(certsReady)
		}
		// The webhook server needs its certificate files before it starts,
		// so the webhooks (which start the server) are registered once the
		// rotator has written and injected them.
		go func() {
			select {
			case <-certsReady:
			case <-ctx.Done():
				return
			}
			if err := controllers.SetupWebhooks(mgr, opts); err != nil {
				webhookErr = err
				cancel()
			}
		}()
		if err := mgr.AddReadyzCheck("webhook", func(req *http.Request) error {
			select {
			case <-certsReady:
				return webhookServer.StartedChecker()(req)
			default:
				return errors.New("the webhook certificate is not ready yet")
			}
		}); err != nil {
			return err
		}
	} else if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	setupLog.Info("starting manager", "executorImage", o.executor.Image, "webhooks", o.webhooks.enabled)
	if err := mgr.Start(ctx); err != nil {
		return err
	}
	return webhookErr
}

// checkPublicURL accepts "" or an absolute http(s) URL without a query:
// the channels' paths are appended to it.
func checkPublicURL(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is not an http(s) URL without a query, like https://chat.example.com", v)
	}
	return nil
}

// LeaderElectionID names the manager's leader election Lease, in its own
// namespace. The Helm chart declares that Lease (templates/deployment.yaml,
// checked by test/chart), so uninstalling the release removes it.
const LeaderElectionID = "chatflow-manager.chatflow.dev"

// managerNamespace is the namespace the manager runs in.
func managerNamespace(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if data, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		if ns := strings.TrimSpace(string(data)); ns != "" {
			return ns
		}
	}
	return "chatflow-system"
}

// readContactHashKey reads --contact-hash-key-file: the installation's key,
// at least 16 bytes (the chart generates 32 random ones).
func readContactHashKey(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading --contact-hash-key-file: %w", err)
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) < 16 {
		return nil, fmt.Errorf("--contact-hash-key-file %s holds %d bytes: the key must have at least 16", path, len(b))
	}
	return b, nil
}
