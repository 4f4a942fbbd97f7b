package dev

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/internal/dev/statefile"
	"github.com/chatflow-dev/chatflow/internal/sandbox"
)

// DefaultSandboxAddress is where the sandbox listens unless told
// otherwise; config/dev-samples points the bindings' apiBaseURL at it.
const DefaultSandboxAddress = "127.0.0.1:9090"

// DefaultGatewayAddress is where the gateway listens unless told
// otherwise: the one URL per channel the webhooks go to (a tunnel to it
// lets a real Meta app or Viber bot reach the local flows).
const DefaultGatewayAddress = "127.0.0.1:9080"

// Options configure a dev environment.
type Options struct {
	// Dir keeps the environment's state: kubeconfig, state.json, logs,
	// etcd data and the executors' files. Its runtime content is replaced
	// on every start.
	Dir string
	// ConfigDir is the repository's config/ directory (CRDs, webhook
	// configuration, admission policy).
	ConfigDir string
	// Assets is the directory of kube-apiserver and etcd; empty finds them
	// (KUBEBUILDER_ASSETS, else hack/envtest-assets.sh builds them).
	Assets string
	// SandboxAddress is the sandbox's listen address.
	SandboxAddress string
	// GatewayAddress is the gateway's listen address.
	GatewayAddress string
	// Binary is the chatflow binary the manager and the executors run
	// (default: this executable).
	Binary string
	// ChatCommand is how the banner tells the user to run chatflow chat.
	ChatCommand string
	// Out receives what the developer reads.
	Out io.Writer
	// Force, when closed, kills what is still running at once instead of
	// waiting for graceful shutdowns.
	Force <-chan struct{}
	// Ready, when set, is closed once the environment is up.
	Ready chan<- struct{}
}

// Run starts the dev environment and keeps it up until ctx is done, then
// tears everything down: executors, manager, sandbox, API server, etcd.
func Run(ctx context.Context, o Options) (retErr error) {
	if err := o.defaults(); err != nil {
		return err
	}
	log := &printer{out: o.Out}
	dirs, err := prepareDir(o.Dir)
	if err != nil {
		return err
	}
	defer dirs.unlock()

	// Everything started is stopped in reverse order, whatever fails.
	var stops []func()
	defer func() {
		if len(stops) == 0 {
			return
		}
		log.printf("stopping: manager, gateway, executors, API server, etcd and sandbox")
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		log.printf("stopped; nothing of this environment runs any more (state kept in %s)", o.Dir)
	}()
	go func() {
		// A second Ctrl-C: kill what remains instead of waiting.
		select {
		case <-o.Force:
			killAll()
		case <-dirs.done:
		}
	}()
	defer close(dirs.done)

	// The gateway's port is taken by its own process: check it is free now,
	// to fail with the fix instead of a restart loop.
	gatewayLn, err := net.Listen("tcp", o.GatewayAddress)
	if err != nil {
		return fmt.Errorf("the gateway cannot listen on %s (%w): stop what uses it or pass --gateway-listen", o.GatewayAddress, err)
	}
	gatewayLn.Close()
	sandboxLn, err := net.Listen("tcp", o.SandboxAddress)
	if err != nil {
		return fmt.Errorf("the sandbox cannot listen on %s (%w): stop what uses it or pass --sandbox-listen", o.SandboxAddress, err)
	}
	sandboxURL := "http://" + sandboxLn.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("/demo/", demoOrders())
	// Like Meta, the sandbox checks an override callback URL with the GET
	// handshake before taking it: the gateway answers it.
	mux.Handle("/", sandbox.New(sandbox.Options{MetaCallback: true}))
	sandboxSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = sandboxSrv.Serve(sandboxLn) }()
	stops = append(stops, func() {
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = sandboxSrv.Shutdown(shut)
	})

	assets := o.Assets
	if assets == "" {
		if assets, err = findAssets(filepath.Dir(o.ConfigDir), log); err != nil {
			return err
		}
	}
	log.printf("starting kube-apiserver and etcd (logs in %s)", dirs.logs)
	env, err := startControlPlane(assets, o.ConfigDir, dirs)
	if err != nil {
		return err
	}
	stops = append(stops, func() {
		if err := env.Stop(); err != nil {
			log.printf("stopping the control plane: %v", err)
		}
	})
	kubeconfig := filepath.Join(o.Dir, "kubeconfig")
	if err := statefile.WriteFileAtomic(kubeconfig, env.KubeConfig, 0o600); err != nil {
		return err
	}
	cfg := env.Config
	c, err := client.New(cfg, client.Options{Scheme: scheme()})
	if err != nil {
		return err
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	webhookPort, probePort, metricsPort := ports[0], ports[1], ports[2]
	if err := install(ctx, c, o.ConfigDir, webhookPort); err != nil {
		return err
	}

	gatewayURL := "http://" + o.GatewayAddress
	state := &stateStore{dir: o.Dir, log: log, state: statefile.State{
		PID: os.Getpid(), Kubeconfig: kubeconfig, APIServer: cfg.Host, Sandbox: sandboxURL, Gateway: gatewayURL,
	}}
	stops = append(stops, func() {
		state.setLive(false)
		_ = os.Remove(filepath.Join(o.Dir, statefile.StateFile))
	})

	// The runner (and the manager's certificate "kubelet") in-process.
	r, stopRunner, err := startRunner(ctx, cfg, o.Binary, dirs, log, state)
	if err != nil {
		return err
	}
	stops = append(stops, func() { stopRunner(); r.shutdown() })

	// The gateway learns its routes from the API server, as in a cluster,
	// and reaches executor Services at the runner's local processes.
	procEnv := []string{"KUBECONFIG=" + kubeconfig, "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	gw := &process{
		name: "gateway", bin: o.Binary,
		args: []string{"gateway", "--listen=" + o.GatewayAddress, "--dev-state=" + o.Dir, "--shutdown-delay=0s"},
		env:  procEnv, dir: o.Dir,
		logPath:  filepath.Join(dirs.logs, "gateway.log"),
		probeURL: gatewayURL + "/readyz",
		grace:    15 * time.Second,
	}
	gw.start()
	registerKill(gw)
	stops = append(stops, gw.stopAndWait)

	mgr := &process{
		name: "manager", bin: o.Binary,
		args: []string{"manager",
			"--leader-elect=false",
			"--gateway-public-url=" + gatewayURL,
			fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort),
			fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort),
			"--metrics-secure=false",
			"--enable-webhooks",
			fmt.Sprintf("--webhook-port=%d", webhookPort),
			"--webhook-cert-dir=" + dirs.certs,
			"--webhook-cert-rotation",
			"--namespace=" + systemNamespace,
			"--webhook-secret-name=" + webhookSecret,
			"--webhook-service-name=" + webhookService,
			"--webhook-configuration-name=" + webhookConfigName,
			"--executor-store=" + builders.StoreMemory,
			// The demo orders API of the order-status sample is on loopback.
			"--executor-allow-private-networks=127.0.0.0/8",
			// Campaigns reach the executors at their local processes.
			"--dev-state=" + o.Dir,
		},
		env:      procEnv,
		dir:      o.Dir,
		logPath:  filepath.Join(dirs.logs, "manager.log"),
		probeURL: fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort),
		grace:    15 * time.Second,
	}
	mgr.start()
	registerKill(mgr)
	stops = append(stops, mgr.stopAndWait)
	log.printf("starting the manager (log: %s)", mgr.logPath)
	if err := waitReady(ctx, mgr, 90*time.Second); err != nil {
		return fmt.Errorf("the manager did not become ready: %w; see %s", err, mgr.logPath)
	}
	if err := waitForAdmission(ctx, c); err != nil {
		return err
	}
	log.printf("starting the gateway at %s (log: %s)", gatewayURL, gw.logPath)
	if err := waitReady(ctx, gw, 60*time.Second); err != nil {
		return fmt.Errorf("the gateway did not become ready: %w; see %s", err, gw.logPath)
	}
	state.setLive(true)
	log.raw(banner(o, kubeconfig, cfg.Host, sandboxURL, gatewayURL, dirs.logs))
	if o.Ready != nil {
		close(o.Ready)
	}
	<-ctx.Done()
	return nil
}

func (o *Options) defaults() error {
	if o.Dir == "" {
		o.Dir = statefile.DefaultDir
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	o.Dir = abs
	if o.ConfigDir == "" {
		if o.ConfigDir, err = FindConfigDir(); err != nil {
			return err
		}
	}
	if o.SandboxAddress == "" {
		o.SandboxAddress = DefaultSandboxAddress
	}
	if o.GatewayAddress == "" {
		o.GatewayAddress = DefaultGatewayAddress
	}
	if o.Binary == "" {
		if o.Binary, err = os.Executable(); err != nil {
			return err
		}
	}
	if o.ChatCommand == "" {
		o.ChatCommand = "chatflow chat"
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	return nil
}

// FindConfigDir finds the repository's config/ directory from the working
// directory upwards.
func FindConfigDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		c := filepath.Join(dir, "config")
		if _, err := os.Stat(filepath.Join(c, "crd", "bases", "chatflow.dev_chatflows.yaml")); err == nil {
			return c, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("chatflow dev runs from a clone of the chatflow repository (it installs config/crd, " +
				"config/webhook and config/policy): cd into it, or pass --config")
		}
		dir = parent
	}
}

// devDirs are the directories of a dev environment.
type devDirs struct {
	root, logs, runs, certs, etcd, apiserver string
	lock                                     *os.File
	done                                     chan struct{}
}

// prepareDir creates the dev directory, takes its lock (one chatflow dev
// per directory) and clears what a previous run left.
func prepareDir(dir string) (*devDirs, error) {
	d := &devDirs{
		root: dir, logs: filepath.Join(dir, "logs"), runs: filepath.Join(dir, "runs"),
		certs: filepath.Join(dir, "manager", "certs"), etcd: filepath.Join(dir, "etcd"),
		apiserver: filepath.Join(dir, "apiserver"), done: make(chan struct{}),
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockFile(lock); err != nil {
		lock.Close()
		return nil, fmt.Errorf("another chatflow dev uses %s: stop it (Ctrl-C) or pass another --dir", dir)
	}
	d.lock = lock
	for _, p := range []string{d.logs, d.runs, filepath.Join(dir, "manager"), d.etcd, d.apiserver, filepath.Join(dir, statefile.StateFile)} {
		if err := os.RemoveAll(p); err != nil {
			d.unlock()
			return nil, err
		}
	}
	for _, p := range []string{d.logs, d.runs, d.certs, d.etcd, d.apiserver} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			d.unlock()
			return nil, err
		}
	}
	return d, nil
}

func (d *devDirs) unlock() {
	if d.lock != nil {
		unlockFile(d.lock)
		d.lock.Close()
	}
}

// findAssets returns the directory of kube-apiserver and etcd:
// KUBEBUILDER_ASSETS, else what hack/envtest-assets.sh builds (once; the
// first build takes minutes).
func findAssets(repo string, log *printer) (string, error) {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d, nil
	}
	script := filepath.Join(repo, "hack", "envtest-assets.sh")
	if _, err := os.Stat(script); err != nil {
		return "", errors.New("no kube-apiserver and etcd: set KUBEBUILDER_ASSETS or pass --assets")
	}
	log.printf("finding kube-apiserver and etcd with hack/envtest-assets.sh (the first time builds them: ~5 min on 2 cores)")
	cmd := exec.Command(script)
	cmd.Dir = repo
	cmd.Stderr = log.out
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/envtest-assets.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// startControlPlane starts etcd and kube-apiserver (envtest's, the same as
// the tests) with their data and logs under the dev directory, and
// installs the CRDs.
func startControlPlane(assets, configDir string, d *devDirs) (*envtest.Environment, error) {
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return nil, fmt.Errorf("%s is missing from %s: run hack/envtest-assets.sh", bin, assets)
		}
	}
	apiLog, err := os.Create(filepath.Join(d.logs, "kube-apiserver.log"))
	if err != nil {
		return nil, err
	}
	etcdLog, err := os.Create(filepath.Join(d.logs, "etcd.log"))
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(configDir, "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme(),
		ControlPlane: envtest.ControlPlane{
			APIServer: &envtest.APIServer{CertDir: d.apiserver, Out: apiLog, Err: apiLog},
			Etcd:      &envtest.Etcd{DataDir: d.etcd, Out: etcdLog, Err: etcdLog},
		},
		ControlPlaneStartTimeout: 60 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	// envtest reads the binaries from KUBEBUILDER_ASSETS before
	// BinaryAssetsDirectory.
	os.Setenv("KUBEBUILDER_ASSETS", assets)
	if _, err := env.Start(); err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("starting the control plane: %w (logs in %s)", err, d.logs)
	}
	return env, nil
}

// startRunner runs the Deployment runner and the manager's certificate
// mount in a controller-runtime manager of their own.
func startRunner(ctx context.Context, cfg *rest.Config, bin string, d *devDirs, log *printer, state *stateStore) (*runner, func(), error) {
	logFile, err := os.Create(filepath.Join(d.logs, "dev-runner.log"))
	if err != nil {
		return nil, nil, err
	}
	logger := zap.New(zap.WriteTo(logFile))
	ctrl.SetLogger(logger)
	executors := labels.SelectorFromSet(labels.Set{builders.LabelManagedBy: builders.ManagedBy, builders.LabelName: builders.AppName})
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme(),
		Logger:                 logger,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&appsv1.Deployment{}: {Label: executors},
			&corev1.Secret{}: {
				Namespaces: map[string]cache.Config{systemNamespace: {}},
				Field:      fields.OneTermEqualSelector("metadata.name", webhookSecret),
			},
		}},
	})
	if err != nil {
		return nil, nil, err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := newRunner(mgr.GetClient(), mgr.GetAPIReader(), bin, d.runs, log, state)
	if err := r.setup(rctx, mgr); err != nil {
		cancel()
		return nil, nil, err
	}
	if err := (&certMount{client: mgr.GetClient(), dir: d.certs,
		key: types.NamespacedName{Namespace: systemNamespace, Name: webhookSecret}}).setup(mgr); err != nil {
		cancel()
		return nil, nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(rctx); err != nil {
			log.printf("the executor runner stopped: %v", err)
		}
	}()
	return r, func() { cancel(); <-done; logFile.Close() }, nil
}

// waitReady waits until a supervised process reports ready.
func waitReady(ctx context.Context, p *process, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		s := p.snapshot()
		if s.ready {
			return nil
		}
		if s.restarts > 2 {
			return fmt.Errorf("it exited %d times (%s)", s.restarts, s.lastExit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("not ready within %s", timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

var (
	killMu   sync.Mutex
	killList []*process
)

// registerKill adds a process killAll kills.
func registerKill(p *process) {
	killMu.Lock()
	defer killMu.Unlock()
	killList = append(killList, p)
}

// killAll kills every supervised process at once.
func killAll() {
	killMu.Lock()
	defer killMu.Unlock()
	for _, p := range killList {
		if s := p.snapshot(); s.pid > 0 {
			killGroup(s.pid)
		}
	}
}

func banner(o Options, kubeconfig, apiServer, sandboxURL, gatewayURL, logs string) string {
	samples := filepath.Join(o.ConfigDir, "dev-samples")
	if rel, err := filepath.Rel(mustGetwd(), samples); err == nil && !strings.HasPrefix(rel, "..") {
		samples = rel
	}
	return fmt.Sprintf(`
chatflow dev is up: kube-apiserver %s, manager, webhooks, admission policy,
local executor runner, the gateway at %s and the channel sandbox at %s.

  export KUBECONFIG=%s
  kubectl apply -k %s
  kubectl wait cf/order-status --for=condition=Ready --timeout=2m
  %s order-status

Channels post to the gateway, one URL per channel for every flow:
  %s/webhooks/whatsapp  /webhooks/messenger  /webhooks/instagram  /webhooks/viber/<bot id>
  runs of Manual flows: %s/v1/namespaces/<namespace>/chatflows/<flow>/runs
  kubectl get channelbindings -o wide   # the URL each binding registers
Bindings send to the sandbox when their spec.apiBaseURL is %s%s.
Logs: %s. Ctrl-C stops everything.

`, apiServer, gatewayURL, sandboxURL, kubeconfig, samples, o.ChatCommand, gatewayURL, gatewayURL, sandboxURL, samplesNote(sandboxURL), logs)
}

// samplesNote says whether the dev samples send to this sandbox.
func samplesNote(sandboxURL string) string {
	if sandboxURL == "http://"+DefaultSandboxAddress {
		return " (config/dev-samples sets it)"
	}
	return ";\nconfig/dev-samples says http://" + DefaultSandboxAddress + ": change its URLs to " + sandboxURL
}

func mustGetwd() string {
	wd, _ := os.Getwd()
	return wd
}
