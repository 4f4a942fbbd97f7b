package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/chatflow-dev/chatflow/internal/gateway"
	"github.com/chatflow-dev/chatflow/internal/otlphttp"
)

// gatewayOptions are the gateway's command-line settings.
type gatewayOptions struct {
	listen          string
	watchNamespaces []string
	manifests       []string
	executors       []string
	devState        string
	forwardTimeout  time.Duration
	shutdownDelay   time.Duration
	apiQPS          float32
	apiBurst        int
	pprof           bool
}

func newGatewayCommand() *cobra.Command {
	o := gatewayOptions{}
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Serve the one public webhook URL per channel and route every event to the flow bound to its account",
		Long: "gateway is the public entry for channel webhooks: /webhooks/whatsapp, /webhooks/messenger,\n" +
			"/webhooks/instagram and /webhooks/viber/{account} (and Meta's GET verify handshakes), plus the\n" +
			"run API /v1/namespaces/{namespace}/chatflows/{name}/runs. It verifies each request with the\n" +
			"signing secrets of the channel's ChannelBindings, splits a batch by account and forwards each\n" +
			"part to the executor of the flow bound to that account; it answers 200 only when every\n" +
			"executor accepted its part. It is stateless: run as many replicas as you like.\n\n" +
			"In a cluster it learns its routes from the API server (ChannelBindings, the Secrets the\n" +
			"manager labels chatflow.dev/credentials=true, and the executor Services). Outside a cluster,\n" +
			"--manifests and --executor give the same objects as files and the executors' URLs.",
		Example: "  chatflow gateway --listen :8080\n" +
			"  chatflow gateway --watch-namespaces shop,support\n" +
			"  chatflow gateway --manifests shop.yaml --executor shop/order-status-executor=http://127.0.0.1:8081",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runGateway(cmd.Context(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", ":8080", "address of the HTTP server (webhooks, runs, probes, metrics)")
	f.StringSliceVar(&o.watchNamespaces, "watch-namespaces", nil,
		"route the bindings of these namespaces only (default: all); the RBAC must grant at least these")
	f.StringArrayVar(&o.manifests, "manifests", nil,
		"outside a cluster: a YAML file of ChannelBindings and their Secrets (repeatable; re-read when it changes)")
	f.StringArrayVar(&o.executors, "executor", nil,
		"outside a cluster: NAMESPACE/SERVICE=URL, where the executor Service <flow>-executor listens (repeatable)")
	f.StringVar(&o.devState, "dev-state", "",
		"reach executor Services at the local processes of the chatflow dev running in this directory")
	f.DurationVar(&o.forwardTimeout, "forward-timeout", 15*time.Second, "how long a webhook may wait for its executors to accept its parts, waiting to be joined included")
	f.DurationVar(&o.shutdownDelay, "shutdown-delay", 5*time.Second,
		"on SIGTERM, how long /readyz fails before the server stops accepting, so the Service stops sending first")
	f.Float32Var(&o.apiQPS, "kube-api-qps", 20, "queries per second to the API server")
	f.IntVar(&o.apiBurst, "kube-api-burst", 40, "burst of queries to the API server")
	f.BoolVar(&o.pprof, "pprof", false, "serve Go profiles under /debug/pprof/ (for benchmarks; never expose it)")
	_ = f.MarkHidden("pprof")
	return cmd
}

func runGateway(ctx context.Context, o gatewayOptions) error {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	tp, stopTracing, err := otlphttp.Start(ctx, logger, "chatflow-gateway")
	if err != nil {
		return err
	}
	defer stopTracing()
	opts := gateway.Options{ForwardTimeout: o.forwardTimeout, Logger: logger, Tracing: tp}
	var files *gateway.FileSource
	if len(o.manifests) > 0 || len(o.executors) > 0 {
		if len(o.manifests) == 0 || len(o.watchNamespaces) > 0 || o.devState != "" {
			return errors.New("--executor goes with --manifests, and neither with --watch-namespaces or --dev-state")
		}
		files = &gateway.FileSource{Paths: o.manifests, Executors: map[string]string{}, Logger: logger}
		for _, v := range o.executors {
			key, url, err := gateway.ParseExecutor(v)
			if err != nil {
				return fmt.Errorf("--executor %w", err)
			}
			files.Executors[key] = url
		}
		opts.Resolve = files.Resolve
	}
	if o.devState != "" {
		opts.Resolve = gateway.DevResolver(o.devState)
	}
	srv := gateway.New(opts)

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	handler := srv.Handler()
	if o.pprof {
		mux := http.NewServeMux()
		mux.Handle("/", handler)
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		handler = mux
	}
	httpSrv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      o.forwardTimeout + 15*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	// The channels' webhook POSTs are served by the front end's own loop;
	// everything else by httpSrv, which the front end hands it to.
	front := srv.NewFrontend(httpSrv)
	serveErr := make(chan error, 1)
	go func() { serveErr <- front.Serve(ln) }()

	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	watchErr := make(chan error, 1)
	if files != nil {
		go func() { watchErr <- files.Watch(watchCtx, srv.SetTable) }()
	} else {
		cfg, err := ctrl.GetConfig()
		if err != nil {
			return fmt.Errorf("no Kubernetes configuration (set KUBECONFIG, run in a pod, or pass --manifests): %w", err)
		}
		cfg.QPS, cfg.Burst = o.apiQPS, o.apiBurst
		go func() {
			watchErr <- gateway.Watch(watchCtx, cfg, gateway.WatchOptions{
				Namespaces: o.watchNamespaces, OnTable: srv.SetTable, Logger: logger})
		}()
	}
	logger.Info("gateway started", "listen", ln.Addr().String())

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return err
	case err := <-watchErr:
		if err == nil {
			err = errors.New("the route source stopped")
		}
		return fmt.Errorf("learning the routes: %w", err)
	}
	// Fail readiness first, so the Service stops sending new requests, then
	// finish the ones in flight: each is answered only after its executors
	// answered, so nothing acknowledged is lost.
	logger.Info("shutting down")
	srv.Drain()
	select {
	case <-time.After(o.shutdownDelay):
	case err := <-serveErr:
		return err
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), o.forwardTimeout+10*time.Second)
	defer cancel()
	if err := front.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("closing the HTTP server", "error", err.Error())
	}
	logger.Info("stopped")
	return nil
}
