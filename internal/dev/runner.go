package dev

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/internal/dev/statefile"
)

// runner stands in for the Deployment controller and the kubelet for the
// executor Deployments: it runs each one's pod template as local
// `chatflow executor` processes, rolls them to a new template without
// downtime (new processes first, old ones stopped once the new are
// ready), stops them when the Deployment goes, and writes the Deployment
// status the way the Deployment controller would, so the operator sees
// its executors become available.
type runner struct {
	client client.Client // Deployments from the cache
	reader client.Reader // ConfigMaps and Secrets, read when a pod starts
	bin    string        // the chatflow binary
	dir    string        // where pods keep their files: dir/<ns>/<deployment>/<pod>
	log    *printer
	state  *stateStore

	ctx    context.Context
	events chan event.GenericEvent

	mu      sync.Mutex
	deploys map[types.NamespacedName]*deployRun
	// procs are every process ever started and not yet gone, for shutdown.
	procs map[*process]struct{}
}

// deployRun is the local state of one Deployment.
type deployRun struct {
	flow     string
	hash     string
	revision string
	// since is when the current template was first seen; the progress
	// deadline counts from it.
	since     time.Time
	pods      []*pod
	seq       int
	announced string // the template hash announced ready
	lastErr   string // the last start error printed
}

// pod is one executor process of a Deployment.
type pod struct {
	name, hash, revision, url, log string
	proc                           *process
}

func newRunner(c client.Client, reader client.Reader, bin, dir string, log *printer, state *stateStore) *runner {
	return &runner{
		client: c, reader: reader, bin: bin, dir: dir, log: log, state: state,
		events:  make(chan event.GenericEvent),
		deploys: map[types.NamespacedName]*deployRun{},
		procs:   map[*process]struct{}{},
	}
}

// setup registers the runner with a manager whose cache holds the
// executor Deployments only.
func (r *runner) setup(ctx context.Context, mgr ctrl.Manager) error {
	r.ctx = ctx
	return ctrl.NewControllerManagedBy(mgr).
		Named("dev-executor-runner").
		For(&appsv1.Deployment{}).
		WatchesRawSource(source.Channel(r.events, &handler.EnqueueRequestForObject{})).
		Complete(r)
}

// notify asks for a reconcile of a Deployment (a process changed).
func (r *runner) notify(key types.NamespacedName) {
	go func() {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
		select {
		case r.events <- event.GenericEvent{Object: d}:
		case <-r.ctx.Done():
		}
	}()
}

// Reconcile brings the local processes of one Deployment in line with it.
func (r *runner) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	d := &appsv1.Deployment{}
	err := r.client.Get(ctx, req.NamespacedName, d)
	if apierrors.IsNotFound(err) || (err == nil && !d.DeletionTimestamp.IsZero()) {
		r.remove(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if !isExecutor(d) {
		return ctrl.Result{}, nil
	}
	now := time.Now()
	r.mu.Lock()
	run := r.deploys[req.NamespacedName]
	if run == nil {
		run = &deployRun{}
		r.deploys[req.NamespacedName] = run
	}
	run.flow = flowOf(d)
	hash := templateHash(d.Spec.Template)
	if hash != run.hash {
		run.hash, run.since, run.revision = hash, now, d.Spec.Template.Labels[builders.LabelRevision]
	}
	// Forget the pods that are gone.
	run.pods = slices.DeleteFunc(run.pods, func(p *pod) bool { return p.proc.snapshot().exited })
	r.mu.Unlock()

	desired := int(ptr.Deref(d.Spec.Replicas, 1))
	var current []*pod
	for _, p := range run.pods {
		if p.hash == hash && !p.proc.snapshot().stopping {
			current = append(current, p)
		}
	}
	var result ctrl.Result
	for len(current) < desired {
		p, err := r.startPod(ctx, d, run)
		if err != nil {
			// A kubelet keeps such a pod in ContainerCreating and retries.
			if msg := err.Error(); msg != run.lastErr {
				run.lastErr = msg
				r.log.printf("executor %s: cannot start a pod yet: %v (retrying)", req.NamespacedName, err)
			}
			result.RequeueAfter = 2 * time.Second
			break
		}
		run.lastErr = ""
		r.mu.Lock()
		run.pods = append(run.pods, p)
		r.mu.Unlock()
		current = append(current, p)
	}
	for len(current) > desired {
		last := current[len(current)-1]
		last.proc.beginStop()
		current = current[:len(current)-1]
	}
	allReady := len(current) == desired
	for _, p := range current {
		allReady = allReady && p.proc.snapshot().ready
	}
	if allReady {
		// maxUnavailable 0: the old template's pods go once the new serve.
		for _, p := range run.pods {
			if p.hash != hash {
				p.proc.beginStop()
			}
		}
		if run.announced != hash && desired > 0 {
			run.announced = hash
			r.log.printf("executor %s (flow %s, revision %s): %d/%d ready at %s",
				req.NamespacedName, run.flow, run.revision, len(current), desired, current[0].url)
		}
	}

	var views []podView
	for _, p := range run.pods {
		s := p.proc.snapshot()
		if s.stopping || s.exited {
			continue
		}
		views = append(views, podView{current: p.hash == hash, ready: s.ready})
	}
	status := deploymentStatus(d, views, run.since, now)
	if !equality.Semantic.DeepEqual(d.Status, status) {
		d.Status = status
		if err := r.client.Status().Update(ctx, d); apierrors.IsConflict(err) {
			// The cache is behind the API server: look again shortly.
			return ctrl.Result{RequeueAfter: 200 * time.Millisecond}, nil
		} else if err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	r.publish()
	if !allReady && d.Spec.ProgressDeadlineSeconds != nil && result.RequeueAfter == 0 {
		// Look again when the progress deadline passes.
		deadline := run.since.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds)*time.Second + time.Second)
		if wait := time.Until(deadline); wait > 0 {
			result.RequeueAfter = wait
		}
	}
	return result, nil
}

// startPod materialises the pod's volumes and starts its process.
func (r *runner) startPod(ctx context.Context, d *appsv1.Deployment, run *deployRun) (*pod, error) {
	spec := d.Spec.Template.Spec
	if len(spec.Containers) == 0 {
		return nil, errors.New("the pod template has no container")
	}
	c := spec.Containers[0]
	for _, cc := range spec.Containers {
		if cc.Name == builders.ContainerName {
			c = cc
		}
	}
	run.seq++
	name := fmt.Sprintf("%s-%s-%d", d.Name, run.hash[:8], run.seq)
	podDir := filepath.Join(r.dir, d.Namespace, d.Name, name)
	root := filepath.Join(podDir, "root")
	src := clusterVolumes{ctx: ctx, reader: r.reader, namespace: d.Namespace}
	if err := os.MkdirAll(localPath(root, "/tmp"), 0o700); err != nil {
		return nil, err
	}
	if err := materialize(root, spec, c, src); err != nil {
		return nil, err
	}
	env, err := environment(c, name, d.Namespace, root, src)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args, err := commandLine(c, env, root, addr)
	if err != nil {
		return nil, err
	}
	key := types.NamespacedName{Namespace: d.Namespace, Name: d.Name}
	p := &pod{
		name: name, hash: run.hash, revision: run.revision,
		url: "http://" + addr, log: filepath.Join(podDir, "executor.log"),
	}
	p.proc = &process{
		name: name, bin: r.bin, args: args, env: env, dir: root,
		logPath: p.log, probeURL: p.url + readinessPath(c),
		grace: time.Duration(ptr.Deref(spec.TerminationGracePeriodSeconds, 30)) * time.Second,
	}
	p.proc.onChange = func() { r.notify(key); r.publish() }
	r.mu.Lock()
	r.procs[p.proc] = struct{}{}
	r.mu.Unlock()
	p.proc.start()
	registerKill(p.proc)
	go func() {
		<-p.proc.done
		r.mu.Lock()
		delete(r.procs, p.proc)
		r.mu.Unlock()
	}()
	go r.reportCrashes(key, p)
	return p, nil
}

// reportCrashes tells the user when a pod's process exits on its own.
func (r *runner) reportCrashes(key types.NamespacedName, p *pod) {
	seen := 0
	for {
		select {
		case <-p.proc.done:
			return
		case <-time.After(500 * time.Millisecond):
		}
		s := p.proc.snapshot()
		if s.restarts > seen && !s.stopping {
			seen = s.restarts
			r.log.printf("executor pod %s/%s exited (%s) and was restarted (%d restarts). Log: %s",
				key.Namespace, p.name, s.lastExit, s.restarts, p.log)
		}
	}
}

// remove stops the processes of a Deployment that is gone.
func (r *runner) remove(key types.NamespacedName) {
	r.mu.Lock()
	run := r.deploys[key]
	delete(r.deploys, key)
	r.mu.Unlock()
	if run == nil {
		return
	}
	r.publish()
	go func() {
		var wg sync.WaitGroup
		for _, p := range run.pods {
			wg.Go(p.proc.stopAndWait)
		}
		wg.Wait()
		r.log.printf("executor %s (flow %s) stopped: its Deployment was deleted", key, run.flow)
	}()
}

// shutdown stops every process and waits for them.
func (r *runner) shutdown() {
	r.mu.Lock()
	procs := make([]*process, 0, len(r.procs))
	for p := range r.procs {
		procs = append(procs, p)
	}
	r.deploys = map[types.NamespacedName]*deployRun{}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(p.stopAndWait)
	}
	wg.Wait()
}

// publish writes the executors into the state file.
func (r *runner) publish() {
	r.mu.Lock()
	execs := map[string]statefile.Executor{}
	for key, run := range r.deploys {
		e := statefile.Executor{Namespace: key.Namespace, Deployment: key.Name, Flow: run.flow, Revision: run.revision}
		for _, p := range run.pods {
			s := p.proc.snapshot()
			if s.exited {
				continue
			}
			e.Replicas = append(e.Replicas, statefile.Replica{
				Name: p.name, PID: s.pid, URL: p.url, Revision: p.revision,
				Ready: s.ready && !s.stopping, Restarts: s.restarts, Log: p.log,
			})
		}
		execs[key.String()] = e
	}
	r.mu.Unlock()
	r.state.setExecutors(execs)
}

// isExecutor reports whether a Deployment is an executor of the operator.
func isExecutor(d *appsv1.Deployment) bool {
	return d.Labels[builders.LabelManagedBy] == builders.ManagedBy && d.Labels[builders.LabelName] == builders.AppName
}

// flowOf names the ChatFlow that owns a Deployment.
func flowOf(d *appsv1.Deployment) string {
	for _, o := range d.OwnerReferences {
		if o.Kind == builders.ChatFlowKind.Kind && o.Controller != nil && *o.Controller {
			return o.Name
		}
	}
	return d.Labels[builders.LabelFlow]
}

// clusterVolumes reads ConfigMaps and Secrets of a namespace from the API
// server.
type clusterVolumes struct {
	ctx       context.Context
	reader    client.Reader
	namespace string
}

func (c clusterVolumes) ConfigMap(name string) (map[string][]byte, bool, error) {
	cm := &corev1.ConfigMap{}
	err := c.reader.Get(c.ctx, types.NamespacedName{Namespace: c.namespace, Name: name}, cm)
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return data, true, nil
}

func (c clusterVolumes) Secret(name string) (map[string][]byte, bool, error) {
	s := &corev1.Secret{}
	err := c.reader.Get(c.ctx, types.NamespacedName{Namespace: c.namespace, Name: name}, s)
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	data := map[string][]byte{}
	for k, v := range s.Data {
		data[k] = v
	}
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	return data, true, nil
}
