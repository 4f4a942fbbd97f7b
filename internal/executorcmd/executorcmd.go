// Package executorcmd owns the executor's command line: its flags and the
// process around runtime/executor (session store, HTTP server, signals,
// graceful shutdown). It is shared by `chatflow executor` and the lean
// `chatflow-executor` binary (cmd/chatflow-executor) the operator's pods
// run.
//
// It must not import internal/cli, the controllers, controller-runtime,
// client-go or the Kubernetes API server libraries: every package linked
// into chatflow-executor costs its pods resident memory (the code pages
// its init functions touch), and cmd/chatflow-executor's deps test fails
// when one of them creeps in.
package executorcmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/internal/otlphttp"
	"github.com/chatflow-dev/chatflow/runtime/executor"
	"github.com/chatflow-dev/chatflow/runtime/store"
)

type executorOptions struct {
	flowFile, bindingFile, credentials, secrets string
	keys                                        string
	modelsFile, modelKeys                       string
	subflowsFile                                string
	storeURL, listen                            string
	workers, inboxCap                           int
	allowNetworks                               []string
	drainTimeout                                time.Duration
	shutdownDelay                               time.Duration
	leaseTTL                                    time.Duration
	sendRate                                    float64
	pprof                                       bool
	debugClock                                  bool
}

// New returns the executor command ("executor"). A binary whose root is
// this command sets its own Use.
func New() *cobra.Command {
	o := executorOptions{}
	cmd := &cobra.Command{
		Use:   "executor",
		Short: "Serve one flow: channel webhooks in, the flow's replies out",
		Long: "executor runs one published flow for its bound account. --flow and --binding are the\n" +
			"ChatFlow and ChannelBinding manifests you apply; --credentials is a directory with one\n" +
			"file per key of the binding's Secret (as a mounted Secret is).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runExecutor(cmd.Context(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.flowFile, "flow", "", "ChatFlow manifest (YAML)")
	f.StringVar(&o.subflowsFile, "subflows", "", "ChatFlow manifests (one YAML stream) of the flows the flow's ForwardToFlow nodes reach; they run in this executor")
	f.StringVar(&o.bindingFile, "binding", "", "ChannelBinding manifest (YAML); optional for a Manual flow")
	f.StringVar(&o.credentials, "credentials", "", "directory of the binding's Secret keys (accessToken, appSecret, verifyToken, authToken, runToken)")
	f.StringVar(&o.secrets, "secrets", "/etc/chatflow/secrets", "directory of the Secrets HTTPRequest headers refer to, one subdirectory per Secret")
	f.StringVar(&o.keys, "keys", "", "directory of the flow's keys, as the operator mounts its Secret <flow>-executor-keys: "+
		executor.KeyItem+" (seals the flow's items in the session store) and "+executor.KeyContactHash+
		" (keys the hash of contact ids in logs); without it, development defaults anyone can compute")
	f.StringVar(&o.modelsFile, "models", "", "LanguageModel manifests (YAML) of the models the flow's AI nodes use")
	f.StringVar(&o.modelKeys, "model-keys", "/etc/chatflow/model-keys", "directory of the Secrets holding the models' API keys, one subdirectory per Secret")
	f.StringVar(&o.storeURL, "store", "memory", "session store: memory (one replica) or redis://HOST:PORT/DB; the password comes from $"+store.PasswordEnv+", not the URL, which other processes can read in the arguments")
	f.StringVar(&o.listen, "listen", ":8080", "address of the HTTP server (webhooks, runs, probes, metrics)")
	f.IntVar(&o.workers, "workers", 16, "contacts processed at once")
	f.IntVar(&o.inboxCap, "inbox-cap", 1000, "items one contact may have waiting; beyond, its webhooks and runs are refused with 503 (the channel retries later)")
	f.StringSliceVar(&o.allowNetworks, "allow-private-networks", nil, "CIDRs HTTPRequest nodes and models may reach although private (e.g. 10.0.0.0/8)")
	f.DurationVar(&o.drainTimeout, "drain-timeout", 20*time.Second, "on SIGTERM, time given to in-flight turns")
	f.DurationVar(&o.shutdownDelay, "shutdown-delay", 0,
		"on SIGTERM, keep accepting webhooks this long with /readyz failing before the server closes, so a Service stops sending new connections first (the operator's pods pass 5s)")
	f.DurationVar(&o.leaseTTL, "lease-ttl", 30*time.Second, "how long a contact stays leased by a silent replica before another takes it over")
	f.Float64Var(&o.sendRate, "send-rate", 0, "outbound messages per second for the account, shared by the flow's replicas with the Redis store (0: the binding's spec.sendRate, else the channel's default: 80 for WhatsApp, 300 for Messenger and Instagram, 100 for Viber); set, it wins over the binding")
	f.BoolVar(&o.pprof, "pprof", false, "serve Go profiles under /debug/pprof/ (for benchmarks; never expose it)")
	_ = f.MarkHidden("pprof")
	f.BoolVar(&o.debugClock, "debug-clock", false, "stop the clock: it moves only through POST /debug/clock {\"now\": RFC 3339} (tests replaying transcripts; memory store only; never expose it)")
	_ = f.MarkHidden("debug-clock")
	_ = cmd.MarkFlagRequired("flow")
	return cmd
}

func runExecutor(ctx context.Context, o executorOptions) error {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	store.LogRedisTo(logger)
	flowObj, binding, err := loadManifests(o.flowFile, o.bindingFile)
	if err != nil {
		return err
	}
	models, err := loadModels(o.modelsFile)
	if err != nil {
		return err
	}
	subflows, err := loadSubflows(o.subflowsFile)
	if err != nil {
		return err
	}
	creds, err := executor.NewCredentials(o.credentials)
	if err != nil {
		return err
	}
	allowed, err := executor.ParseNetworks(o.allowNetworks)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	var clock *debugClock
	now := time.Now
	if o.debugClock {
		if o.storeURL != "memory" {
			return errors.New("--debug-clock works with the memory store only: Redis keeps its own time")
		}
		clock = &debugClock{t: time.Now()}
		now = clock.Now
	}
	keys, err := executor.LoadKeys(o.keys)
	if err != nil {
		return err
	}
	if len(keys.Item) == 0 && o.storeURL != "memory" {
		logger.Warn("no --keys: the flow's items in Redis are sealed with a key derived from its name, " +
			"which anyone can compute; the operator mounts a generated one (development only)")
	}
	idle := flowObj.Spec.Retention.IdleTimeout()
	if idle < time.Hour || idle > 8760*time.Hour {
		return fmt.Errorf("%s: spec.retention.sessionIdleTimeout must be between 1h and 8760h (a year)", o.flowFile)
	}
	// The store reports what it drops to the executor, which exists only
	// once the store does.
	var ex atomic.Pointer[executor.Executor]
	host, _ := os.Hostname()
	st, err := store.Open(ctx, o.storeURL, store.Options{
		Namespace:          executor.FlowID(flowObj),
		Password:           os.Getenv(store.PasswordEnv),
		ItemKey:            keys.Item,
		LeaseTTL:           o.leaseTTL,
		SessionIdleTimeout: idle,
		MaxInbox:           o.inboxCap,
		Dropped: func(budget string, n int) {
			if e := ex.Load(); e != nil {
				e.StoreDropped(budget, n)
			}
		},
		Owner: fmt.Sprintf("%s-%d", host, os.Getpid()),
		Clock: now,
	})
	if err != nil {
		return fmt.Errorf("opening the session store: %w", err)
	}
	defer st.Close()
	// Tracing (off unless an OTLP endpoint is set): spans go over OTLP/HTTP,
	// as service chatflow-executor of the flow's namespace.
	tp, stopTracing, err := otlphttp.Start(ctx, logger, "chatflow-executor",
		semconv.K8SNamespaceName(flowObj.Namespace), attribute.String("chatflow.flow", flowObj.Name))
	if err != nil {
		return err
	}
	defer stopTracing()
	e, err := executor.New(executor.Config{
		Flow: flowObj, Binding: binding, Credentials: creds, SecretsDir: o.secrets,
		Store: st, Workers: o.workers, AllowedNetworks: allowed, SendRate: o.sendRate, Now: now,
		LeaseTTL: o.leaseTTL, ContactHashKey: keys.ContactHash, Tracing: tp,
		Models: models, ModelKeysDir: o.modelKeys,
		Subflows: subflows,
	})
	if err != nil {
		return err
	}
	ex.Store(e)
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	handler := e.Handler()
	if o.pprof || clock != nil {
		mux := http.NewServeMux()
		mux.Handle("/", handler)
		if o.pprof {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		}
		if clock != nil {
			mux.Handle("POST /debug/clock", clock)
		}
		handler = mux
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	workCtx, stopWork := context.WithCancel(context.Background())
	workDone := make(chan struct{})
	go func() { _ = e.Run(workCtx, o.drainTimeout); close(workDone) }()
	logger.Info("executor started", "flow", flowObj.Name, "revision", e.Program().Revision(),
		"listen", ln.Addr().String(), "store", storeKind(o.storeURL), "tracing", tp != nil, "sendRate", e.SendRate())

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		stopWork()
		return err
	}
	// Graceful shutdown: fail readiness, stop accepting webhooks (finishing
	// the ones in flight, so every acknowledged event is queued), then let
	// the workers finish the contacts they hold and release them.
	logger.Info("shutting down")
	e.Drain()
	// A Service routes new connections here until the endpoint removal
	// reaches every node's proxy; closing the listener at once would
	// refuse them (a failed webhook for the channel, a 502 at a gateway).
	if o.shutdownDelay > 0 {
		time.Sleep(o.shutdownDelay)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), o.drainTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("closing the HTTP server", "error", err)
	}
	stopWork()
	<-workDone
	logger.Info("stopped")
	return nil
}

// loadManifests reads the ChatFlow and (optional) ChannelBinding files the
// way kubectl reads them (internal/manifest: YAML 1.1 scalars, no schema)
// and decodes them strictly into their Go types, so that a wrongly typed
// or unknown field is refused at the same field path `chatflow lint` and
// the API server name; executor.New then compiles the flow.
//
// The CRD's full validation (enums, lengths, patterns, CEL rules) is not
// run here: it is the API server's and `chatflow lint`'s, whose libraries
// would more than double this binary's memory (see cmd/chatflow-executor).
// In a cluster the files are the operator's copy of objects the API server
// admitted; run by hand, `chatflow lint` checks them first.
func loadManifests(flowFile, bindingFile string) (*v1alpha1.ChatFlow, *v1alpha1.ChannelBinding, error) {
	flow := &v1alpha1.ChatFlow{}
	if err := manifest.ReadObject(flowFile, "ChatFlow", flow); err != nil {
		return nil, nil, err
	}
	if bindingFile == "" {
		return flow, nil, nil
	}
	binding := &v1alpha1.ChannelBinding{}
	if err := manifest.ReadObject(bindingFile, "ChannelBinding", binding); err != nil {
		return nil, nil, err
	}
	return flow, binding, nil
}

// loadModels reads the LanguageModels of the --models file (none without
// one) with the same decoder, each as strictly as the flow.
func loadModels(path string) ([]v1alpha1.LanguageModel, error) {
	if path == "" {
		return nil, nil
	}
	objs, err := manifest.ReadObjects(path, "LanguageModel")
	if err != nil {
		return nil, err
	}
	models := make([]v1alpha1.LanguageModel, len(objs))
	for i, o := range objs {
		if err := o.Decode(&models[i]); err != nil {
			return nil, err
		}
	}
	return models, nil
}

// storeKind names the store without its URL, which may hold a password.
func storeKind(url string) string {
	if url == "memory" {
		return "memory"
	}
	return "redis"
}

// debugClock is the executor's clock under --debug-clock: it stands still
// until POST /debug/clock sets it, so a test replaying a transcript gives
// the executor the transcript's clock, timers firing included.
type debugClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *debugClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *debugClock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Now time.Time `json:"now"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10)).Decode(&req); err != nil || req.Now.IsZero() {
		http.Error(w, `the body must be {"now": "<RFC 3339 time>"}`, http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.t = req.Now
	c.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
