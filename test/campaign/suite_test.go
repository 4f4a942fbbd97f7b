// Package campaign tests Campaigns and ForwardToFlow through the operator
// on a real kube-apiserver and etcd (envtest), with the validating
// webhooks installed, the manager's controllers and webhooks in this
// process (its campaign calendar on a clock the tests move), and the
// flows' executors as real processes (test/procs) sending to the channel
// sandbox. There is no kubelet: the tests report executor Deployments
// available, and point the manager's executor resolver at the processes.
package campaign

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/internal/cli"
	"github.com/chatflow-dev/chatflow/internal/sandbox"
	"github.com/chatflow-dev/chatflow/internal/testenv"
)

var (
	cfg     *rest.Config
	k8s     client.Client
	ctx     = context.Background()
	clock   = &movableClock{}
	sandURL string
	// executors maps "namespace/service" to the URL of the executor
	// process standing for that Service.
	executors sync.Map
)

// movableClock is the campaigns' calendar: the real time plus an offset
// the tests move, so quiet hours pass without anyone sleeping for hours.
type movableClock struct{ offset atomic.Int64 }

func (c *movableClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// set makes the clock read t from now on.
func (c *movableClock) set(t time.Time) { c.offset.Store(int64(time.Until(t))) }

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var logs io.Writer = io.Discard
	if os.Getenv("CAMPAIGN_TEST_LOG") != "" {
		logs = os.Stderr
	}
	logf.SetLogger(zap.New(zap.WriteTo(logs)))
	env, err := testenv.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.WebhookInstallOptions = envtest.WebhookInstallOptions{Paths: []string{filepath.Join(testenv.RepoRoot(), "config", "webhook")}}
	if cfg, err = env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if k8s, err = client.New(cfg, client.Options{Scheme: cli.Scheme()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sand := httptest.NewServer(sandbox.New(sandbox.Options{MaxRecords: 200000}))
	defer sand.Close()
	sandURL = sand.URL

	o := env.WebhookInstallOptions
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:        cli.Scheme(),
		Metrics:       metricsserver.Options{BindAddress: "0"},
		Cache:         controllers.CacheOptions(),
		WebhookServer: webhook.NewServer(webhook.Options{Host: o.LocalServingHost, Port: o.LocalServingPort, CertDir: o.LocalServingCertDir}),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mctx, stop := context.WithCancel(ctx)
	defer stop()
	opts := controllers.Options{
		Executor: builders.DefaultConfig(),
		ResolveExecutor: func(_ context.Context, ns, svc string) (string, error) {
			if u, ok := executors.Load(ns + "/" + svc); ok {
				return u.(string), nil
			}
			return "", fmt.Errorf("no executor process for %s/%s", ns, svc)
		},
		Clock:           clock.Now,
		CampaignPoll:    100 * time.Millisecond,
		CampaignRecheck: 500 * time.Millisecond,
	}
	if err := controllers.SetupIndexes(mctx, mgr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := controllers.SetupControllers(mgr, opts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := controllers.SetupWebhooks(mgr, opts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	defer func() { stop(); <-done }()
	if err := waitForWebhooks(o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// waitForWebhooks waits until the webhook server listens and the API
// server calls it.
func waitForWebhooks(o envtest.WebhookInstallOptions) error {
	addr := net.JoinHostPort(o.LocalServingHost, strconv.Itoa(o.LocalServingPort))
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			_ = conn.Close()
			ns := newNamespaceName()
			if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				return err
			}
			bad := &v1alpha1.Campaign{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns}, Spec: v1alpha1.CampaignSpec{
				FlowRef:  v1alpha1.FlowReference{Name: "none"},
				Audience: v1alpha1.Audience{Contacts: []v1alpha1.CampaignContact{{ID: "a"}, {ID: "a"}}},
			}}
			for time.Now().Before(deadline) {
				err := k8s.Create(ctx, bad.DeepCopy(), client.DryRunAll)
				if err != nil && apierrors.IsInvalid(err) {
					return nil
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the webhooks did not answer within 30s")
}

var nsSeq atomic.Int32

func newNamespaceName() string { return fmt.Sprintf("c%d", nsSeq.Add(1)) }

// newNamespace creates a fresh namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	name := newNamespaceName()
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

// update re-reads obj, mutates it and writes it back, retrying on conflicts.
func update[T client.Object](t *testing.T, obj T, mutate func(T)) {
	t.Helper()
	if err := tryUpdate(k8s, obj, mutate); err != nil {
		t.Fatalf("updating %T %s: %v", obj, obj.GetName(), err)
	}
}

// tryUpdate is update through c, returning the error of the last attempt:
// for updates admission should refuse (the controllers write the objects
// too, so a first attempt may only conflict).
func tryUpdate[T client.Object](c client.Client, obj T, mutate func(T)) error {
	var err error
	for range 10 {
		if err = c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate(obj)
		if err = c.Update(ctx, obj); !apierrors.IsConflict(err) {
			return err
		}
	}
	return err
}

// eventually polls cond until it returns "" (success) or the deadline; a
// deadline passing is the behaviour failing, not a timing measurement.
func eventually(t *testing.T, within time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		if last = cond(); last == "" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: %s", what, last)
}

// conditionOf is "Status/Reason" of a condition of a live object.
func conditionOf(obj client.Object, typ string) string {
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return err.Error()
	}
	var conds []metav1.Condition
	switch o := obj.(type) {
	case *v1alpha1.ChatFlow:
		conds = o.Status.Conditions
	case *v1alpha1.Campaign:
		conds = o.Status.Conditions
	}
	c := meta.FindStatusCondition(conds, typ)
	if c == nil {
		return ""
	}
	return string(c.Status) + "/" + c.Reason
}

// live reports a flow's executor Deployment available, as the Deployment
// controller would.
func live(t *testing.T, f *v1alpha1.ChatFlow) {
	t.Helper()
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: builders.ExecutorName(f.Name), Namespace: f.Namespace}}
	eventually(t, 30*time.Second, "the executor Deployment of "+f.Name, func() string {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
			return err.Error()
		}
		return ""
	})
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
	if err := k8s.Status().Update(ctx, d); err != nil {
		t.Fatal(err)
	}
}
