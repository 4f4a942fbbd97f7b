package campaign

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/message"
	"github.com/chatflow-dev/chatflow/runtime/runapi"
)

// The dispatcher starts the contacts of campaigns: one goroutine per
// running campaign reads its audience row by row and hands the contacts
// to the flow's executor in batches, at the campaign's rate, outside its
// quiet hours, and reports how far it went. The reconciler tells it which
// campaigns to run (Ensure, Stop) and turns its progress into status;
// the checkpoint in status (rows handled and their digest) is where a
// restarted manager resumes, and the executor's ledger makes the rows
// handed over again after a crash (or a changed audience) duplicates
// rather than second starts.

// Job is what a campaign's goroutine runs: the campaign and what its
// reconcile found about the flow.
type Job struct {
	Key     types.NamespacedName
	UID     string
	Spec    v1alpha1.CampaignSpec
	Channel message.Channel // of the flow's binding; empty without one
	Inputs  []input         // the flow's
	// Service is the flow's executor Service; TokenSecret the Secret
	// holding its runToken.
	Service, TokenSecret string
	// Rate is the effective rate, contacts per second.
	Rate int32
	// From is where it resumes: the status's checkpoint and counts.
	From Checkpoint
}

// Checkpoint is how far a campaign went through its audience.
type Checkpoint struct {
	Rows    int64
	Digest  string
	Started int64
	Skipped v1alpha1.SkippedCounts
}

// Progress is what a campaign's goroutine reports.
type Progress struct {
	// Phase is a Campaign condition reason: Running, Scheduled,
	// QuietHours, Finishing, Completed, or a problem (ExecutorUnavailable,
	// AudienceUnavailable); "" while loading.
	Phase   string
	Message string
	// Stalled: the problem needs the user.
	Stalled bool
	// Total rows of the audience; Loaded once known.
	Total  int64
	Loaded bool
	Checkpoint
	// Executor holds the executor's counts, once known.
	Executor      runapi.Counts
	ExecutorKnown bool
	// FirstStart is when this goroutine started its first contact.
	FirstStart time.Time
	// Sources identifies the versions of the audience's sources read.
	Sources string
	// Exited: the goroutine is gone (Completed, or stopped).
	Exited bool
}

// Resolver returns the base URL of an executor Service.
type Resolver func(ctx context.Context, namespace, service string) (string, error)

// Dispatcher runs the campaigns' goroutines. It is a manager Runnable that
// needs leader election: one manager replica starts contacts.
type Dispatcher struct {
	// Reader reads audience sources and the runToken Secret, uncached.
	Reader client.Reader
	// Resolve finds executors.
	Resolve Resolver
	// HTTP calls the executors; a client with a 30s timeout when nil.
	HTTP *http.Client
	// Now is the calendar clock of start times and quiet hours (time.Now
	// when nil); rates and waits use real time.
	Now func() time.Time
	// Poll is how often a held campaign looks at its calendar again, a
	// finishing one at its executor's counts, and a running one at its
	// sources. Default 10s.
	Poll time.Duration
	// Flush is how often a running campaign's progress reaches its
	// status. Default 1s.
	Flush time.Duration

	events chan event.GenericEvent
	seed   maphash.Seed

	once   sync.Once
	base   context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	runs   map[types.NamespacedName]*run
}

// run is one campaign's goroutine.
type run struct {
	job    Job
	hash   string
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	progress Progress
}

func (d *Dispatcher) init() {
	d.once.Do(func() {
		d.base, d.cancel = context.WithCancel(context.Background())
		d.runs = map[types.NamespacedName]*run{}
		d.events = make(chan event.GenericEvent, 1024)
		d.seed = maphash.MakeSeed()
		if d.Now == nil {
			d.Now = time.Now
		}
		if d.Poll <= 0 {
			d.Poll = 10 * time.Second
		}
		if d.Flush <= 0 {
			d.Flush = time.Second
		}
		if d.HTTP == nil {
			d.HTTP = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
		}
	})
}

// Events are the campaigns whose progress changed, for the reconciler.
func (d *Dispatcher) Events() <-chan event.GenericEvent {
	d.init()
	return d.events
}

// Start runs until ctx ends, then stops every campaign and waits for them.
func (d *Dispatcher) Start(ctx context.Context) error {
	d.init()
	<-ctx.Done()
	d.cancel()
	d.mu.Lock()
	runs := make([]*run, 0, len(d.runs))
	for _, r := range d.runs {
		runs = append(runs, r)
	}
	d.mu.Unlock()
	for _, r := range runs {
		<-r.done
	}
	return nil
}

// NeedLeaderElection: only the leader starts contacts.
func (d *Dispatcher) NeedLeaderElection() bool { return true }

// jobHash identifies what a goroutine runs, From aside.
func jobHash(j Job) string {
	j.From = Checkpoint{}
	b, _ := json.Marshal(j)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Ensure runs the job: a campaign already running it goes on; one
// running another version of it (a changed spec or flow) is restarted
// from where it is. force restarts a goroutine that exited.
func (d *Dispatcher) Ensure(j Job, force bool) {
	d.init()
	h := jobHash(j)
	d.mu.Lock()
	defer d.mu.Unlock()
	if r, ok := d.runs[j.Key]; ok {
		r.mu.Lock()
		same, exited, uid, from := r.hash == h, r.progress.Exited, r.job.UID, r.progress.Checkpoint
		r.mu.Unlock()
		if same && (!exited || !force) {
			return
		}
		r.cancel()
		<-r.done
		if uid == j.UID && from.Rows > 0 {
			j.From = from // fresher than the status
		}
	}
	ctx, cancel := context.WithCancel(d.base)
	r := &run{job: j, hash: h, cancel: cancel, done: make(chan struct{})}
	r.progress.Checkpoint = j.From
	d.runs[j.Key] = r
	go func() {
		defer close(r.done)
		d.dispatch(ctx, r)
		r.update(func(p *Progress) { p.Exited = true })
		d.nudge(j.Key)
	}()
}

// Stop stops a campaign's goroutine and forgets it. It returns the
// goroutine's last progress, for the status (ok false: none ran).
func (d *Dispatcher) Stop(key types.NamespacedName) (p Progress, uid string, ok bool) {
	d.init()
	d.mu.Lock()
	r, ok := d.runs[key]
	delete(d.runs, key)
	d.mu.Unlock()
	if !ok {
		return Progress{}, "", false
	}
	r.cancel()
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.progress, r.job.UID, true
}

// Progress returns a campaign's progress and the UID it is for; ok is
// false when no goroutine ran for it.
func (d *Dispatcher) Progress(key types.NamespacedName) (p Progress, uid string, ok bool) {
	d.init()
	d.mu.Lock()
	r, ok := d.runs[key]
	d.mu.Unlock()
	if !ok {
		return Progress{}, "", false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.progress, r.job.UID, true
}

func (r *run) update(f func(*Progress)) {
	r.mu.Lock()
	f(&r.progress)
	r.mu.Unlock()
}

// nudge asks for a reconcile of the campaign; it never blocks.
func (d *Dispatcher) nudge(key types.NamespacedName) {
	c := &v1alpha1.Campaign{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	select {
	case d.events <- event.GenericEvent{Object: c}:
	default:
	}
}

// errReload says the audience's sources changed: read it again.
var errReload = errors.New("the audience changed")

// dispatch is a campaign's goroutine: it loads the audience and hands its
// contacts over until all are, then follows the runs to their end.
func (d *Dispatcher) dispatch(ctx context.Context, r *run) {
	log := logf.FromContext(ctx).WithValues("campaign", r.job.Key)
	backoff := newBackoff()
	for ctx.Err() == nil {
		err := d.pass(ctx, r)
		if err == nil || ctx.Err() != nil {
			return
		}
		if errors.Is(err, errReload) {
			backoff.reset()
			continue
		}
		var se *sourceError
		phase, stalled := v1alpha1.ReasonAudienceUnavailable, false
		if errors.As(err, &se) {
			stalled = se.stalled
		} else if !isSourceProblem(err) {
			phase = v1alpha1.ReasonExecutorUnavailable
		}
		log.V(1).Info("campaign held", "reason", phase, "error", err.Error())
		r.update(func(p *Progress) { p.Phase, p.Message, p.Stalled = phase, err.Error(), stalled })
		d.nudge(r.job.Key)
		wait := backoff.next()
		if stalled {
			wait = d.Poll // until the sources change
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

// isSourceProblem: an error reading the audience from the API server.
func isSourceProblem(err error) bool {
	var se *sourceError
	return errors.As(err, &se) || apierrors.IsNotFound(err) || apierrors.IsForbidden(err)
}

// pass reads the audience from its first row: the rows before the
// checkpoint only to know their contacts (duplicates later on), then hands
// the others over. It returns nil once the campaign is complete.
func (d *Dispatcher) pass(ctx context.Context, r *run) error {
	j := &r.job
	sources, err := d.sourcesVersion(ctx, j)
	if err != nil {
		return err
	}
	token, err := d.runToken(ctx, j)
	if err != nil {
		return err
	}
	cls := &classifier{channel: j.Channel, inputs: j.Inputs, defaults: map[string]string{}, seen: newIDSet(d.seed)}
	for _, in := range j.Spec.Inputs {
		cls.defaults[in.Name] = in.Value
	}
	if j.Spec.OptOut != nil {
		if cls.optOut, err = readOptOut(ctx, j.Spec.OptOut, d.fetch(j.Key.Namespace), j.Channel,
			or(j.Spec.Audience.Columns.Contact, DefaultContactColumn), d.seed); err != nil {
			return err
		}
	}
	names := make([]string, len(j.Inputs))
	for i, in := range j.Inputs {
		names[i] = in.name
	}

	// First the whole audience: its size, and whether it still begins
	// with the rows handled so far (rows appended keep the place; rows
	// edited mean handing everything over again, which the executor
	// turns into duplicates for those already started).
	r.mu.Lock()
	from := r.progress.Checkpoint
	r.mu.Unlock()
	count := newAudience(&j.Spec.Audience, d.fetch(j.Key.Namespace), names)
	var total int64
	prefix := ""
	for {
		if count.Rows() == from.Rows {
			prefix = count.Digest()
		}
		if _, err := count.next(ctx); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
		total++
	}
	if from.Rows > 0 && prefix != from.Digest {
		logf.FromContext(ctx).Info("the audience changed before the checkpoint: handing every contact over again", "campaign", j.Key)
		from = Checkpoint{}
	}
	r.update(func(p *Progress) {
		p.Total, p.Loaded, p.Sources, p.Checkpoint = total, true, sources, from
		p.Phase, p.Message, p.Stalled = v1alpha1.ReasonRunning, "", false
	})

	aud := newAudience(&j.Spec.Audience, d.fetch(j.Key.Namespace), names)
	for aud.Rows() < from.Rows {
		row, err := aud.next(ctx)
		if err != nil {
			return fmt.Errorf("reading the audience up to its checkpoint: %w", err)
		}
		cls.classify(row) // only to remember who was seen
	}
	return d.handOver(ctx, r, aud, cls, token, sources)
}

// sendRound is the most rows one round reads when they are all skipped:
// progress reaches the status in between.
const sendRound = 5000

// handOver hands the remaining rows to the executor at the campaign's
// rate, then waits for the runs to end.
func (d *Dispatcher) handOver(ctx context.Context, r *run, aud *audience, cls *classifier, token, sources string) error {
	j := &r.job
	cal, err := newCalendar(&j.Spec)
	if err != nil {
		return &sourceError{msg: err.Error(), stalled: true}
	}
	client := &runapi.Client{Token: token, HTTP: d.HTTP}
	discard := "1h"
	if j.Spec.DiscardAfter != nil && j.Spec.DiscardAfter.Duration > 0 {
		discard = j.Spec.DiscardAfter.Duration.String()
	}
	bucket := newBucket(float64(j.Rate))
	maxBacklog := max(int64(j.Rate)*2, 100)
	lastFlush, lastCheck := time.Time{}, time.Now()
	eof := false
	for !eof {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(lastCheck) > 3*d.Poll {
			lastCheck = time.Now()
			if v, err := d.sourcesVersion(ctx, j); err == nil && v != sources {
				return errReload
			}
		}
		if reason, until := cal.holdUntil(d.Now()); reason != "" {
			r.update(func(p *Progress) {
				p.Phase, p.Message = reason, fmt.Sprintf("no contact is started until %s", until.Format(time.RFC3339))
			})
			d.nudge(j.Key)
			if !sleep(ctx, min(until.Sub(d.Now()), d.Poll)) {
				return ctx.Err()
			}
			bucket.reset()
			continue
		}
		r.mu.Lock()
		counts, known := r.progress.Executor, r.progress.ExecutorKnown
		r.mu.Unlock()
		if known && counts.Accepted-counts.Started > maxBacklog {
			// The executor is behind (its sends are throttled, or it was
			// down): wait until it has taken most of what it holds.
			if err := d.refreshCounts(ctx, r, client); err != nil {
				return err
			}
			r.update(func(p *Progress) {
				p.Phase, p.Message = v1alpha1.ReasonRunning, "waiting for the executor to start the contacts it holds"
			})
			if !sleep(ctx, 200*time.Millisecond) {
				return ctx.Err()
			}
			continue
		}
		n, err := bucket.take(ctx, runapi.MaxBatchRuns)
		if err != nil {
			return err
		}
		round := Checkpoint{}
		var runs []runapi.Run
		rows := 0
		for len(runs) < n && rows < sendRound {
			row, err := aud.next(ctx)
			if errors.Is(err, io.EOF) {
				eof = true
				break
			}
			if err != nil {
				return err
			}
			rows++
			run, out, _ := cls.classify(row)
			switch out {
			case outRun:
				runs = append(runs, run)
			case outOptedOut:
				round.Skipped.OptedOut++
			case outInvalid:
				round.Skipped.InvalidInput++
			case outDuplicate:
				round.Skipped.Duplicate++
			}
		}
		if len(runs) > 0 {
			started, invalid, dup, err := d.post(ctx, r, client, &runapi.BatchRequest{Campaign: j.UID, DiscardAfter: discard, Runs: runs})
			if err != nil {
				return err
			}
			round.Started, round.Skipped.InvalidInput = started, round.Skipped.InvalidInput+invalid
			bucket.refund(dup + int(invalid) + (n - len(runs)))
		} else {
			bucket.refund(n)
		}
		first := round.Started > 0
		r.update(func(p *Progress) {
			p.Rows += int64(rows)
			p.Digest = aud.Digest()
			p.Started += round.Started
			p.Skipped.OptedOut += round.Skipped.OptedOut
			p.Skipped.InvalidInput += round.Skipped.InvalidInput
			p.Skipped.Duplicate += round.Skipped.Duplicate
			p.Skipped.Total = p.Skipped.OptedOut + p.Skipped.InvalidInput + p.Skipped.Duplicate
			if first && p.FirstStart.IsZero() {
				p.FirstStart = d.Now()
			}
			p.Phase, p.Message, p.Stalled = v1alpha1.ReasonRunning, "", false
		})
		if time.Since(lastFlush) >= d.Flush {
			lastFlush = time.Now()
			d.nudge(j.Key)
		}
	}
	return d.finish(ctx, r, client, sources)
}

// finish follows a campaign whose contacts were all handed over until
// every run ended.
func (d *Dispatcher) finish(ctx context.Context, r *run, client *runapi.Client, sources string) error {
	j := &r.job
	// Most runs end within seconds of their start (a template and End):
	// look again soon, then less often (runs waiting for replies).
	wait := min(d.Flush, d.Poll)
	for {
		if err := d.refreshCounts(ctx, r, client); err != nil {
			return err
		}
		r.mu.Lock()
		p := r.progress
		r.mu.Unlock()
		if p.Executor.Done+p.Executor.Failed >= p.Started {
			r.update(func(p *Progress) { p.Phase, p.Message = v1alpha1.ReasonCompleted, "" })
			return nil
		}
		r.update(func(p *Progress) {
			p.Phase, p.Message = v1alpha1.ReasonFinishing, "every contact was started or skipped; runs are still going on"
		})
		d.nudge(j.Key)
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
		wait = min(2*wait, d.Poll)
		if v, err := d.sourcesVersion(ctx, j); err == nil && v != sources {
			return errReload
		}
	}
}

// post hands a batch to the executor until every run has an answer: it
// returns the runs started now or before (duplicates: the campaign handed
// them over before a restart, or before its audience changed), those the
// executor refused, and how many of the started were duplicates.
func (d *Dispatcher) post(ctx context.Context, r *run, client *runapi.Client, req *runapi.BatchRequest) (started, invalid int64, dup int, err error) {
	j := &r.job
	backoff := newBackoff()
	pending := req.Runs
	for len(pending) > 0 {
		if client.BaseURL == "" {
			if client.BaseURL, err = d.Resolve(ctx, j.Key.Namespace, j.Service); err != nil {
				return 0, 0, 0, fmt.Errorf("finding the executor of the flow: %w", err)
			}
		}
		req.Runs = pending
		resp, err := client.Batch(ctx, req)
		if err != nil {
			if ctx.Err() != nil {
				return 0, 0, 0, ctx.Err()
			}
			if runapi.IsUnauthorized(err) {
				if client.Token, err = d.runToken(ctx, j); err != nil {
					return 0, 0, 0, err
				}
			}
			client.BaseURL = "" // resolve again: the executor may have moved
			r.update(func(p *Progress) {
				p.Phase, p.Message = v1alpha1.ReasonExecutorUnavailable, fmt.Sprintf("handing contacts to the executor: %v; retrying", err)
			})
			d.nudge(j.Key)
			if !sleep(ctx, backoff.next()) {
				return 0, 0, 0, ctx.Err()
			}
			continue
		}
		var again []runapi.Run
		for i, res := range resp.Results {
			switch res.Status {
			case runapi.Started:
				started++
			case runapi.Duplicate:
				started++
				dup++
			case runapi.Invalid:
				invalid++
			default:
				again = append(again, pending[i])
			}
		}
		r.update(func(p *Progress) { p.Executor, p.ExecutorKnown = resp.Counts, true })
		pending = again
		if len(again) > 0 && !sleep(ctx, backoff.next()) {
			return 0, 0, 0, ctx.Err()
		}
	}
	return started, invalid, dup, nil
}

// refreshCounts reads the executor's counts of the campaign.
func (d *Dispatcher) refreshCounts(ctx context.Context, r *run, client *runapi.Client) error {
	j := &r.job
	var err error
	if client.BaseURL == "" {
		if client.BaseURL, err = d.Resolve(ctx, j.Key.Namespace, j.Service); err != nil {
			return fmt.Errorf("finding the executor of the flow: %w", err)
		}
	}
	counts, err := client.Counts(ctx, j.UID)
	if err != nil {
		client.BaseURL = ""
		return fmt.Errorf("reading the campaign's counts from the executor: %w", err)
	}
	r.update(func(p *Progress) { p.Executor, p.ExecutorKnown = counts, true })
	return nil
}

// runToken reads the flow's runToken.
func (d *Dispatcher) runToken(ctx context.Context, j *Job) (string, error) {
	if j.TokenSecret == "" {
		return "", errors.New("the flow has no credentials Secret with a runToken (its binding's, or spec.trigger.credentialsRef)")
	}
	s := &corev1.Secret{}
	if err := d.Reader.Get(ctx, types.NamespacedName{Namespace: j.Key.Namespace, Name: j.TokenSecret}, s); err != nil {
		return "", fmt.Errorf("reading the flow's credentials Secret %s: %w", j.TokenSecret, err)
	}
	t := string(s.Data[channel.KeyRunToken])
	if t == "" {
		return "", fmt.Errorf("Secret %s has no %s: the executor refuses runs without one", j.TokenSecret, channel.KeyRunToken)
	}
	return t, nil
}

// fetch reads a source's key from the API server.
func (d *Dispatcher) fetch(ns string) fetchFunc {
	return func(ctx context.Context, src *v1alpha1.AudienceSource) ([]byte, error) {
		switch {
		case src.ConfigMapKeyRef != nil:
			ref := src.ConfigMapKeyRef
			cm := &corev1.ConfigMap{}
			if err := d.Reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, cm); err != nil {
				return nil, sourceGetError(sourceName(src), err)
			}
			if v, ok := cm.Data[ref.Key]; ok {
				return []byte(v), nil
			}
			if v, ok := cm.BinaryData[ref.Key]; ok {
				return v, nil
			}
			return nil, &sourceError{msg: fmt.Sprintf("ConfigMap %s has no key %s (in data or binaryData)", ref.Name, ref.Key)}
		case src.SecretKeyRef != nil:
			ref := src.SecretKeyRef
			s := &corev1.Secret{}
			if err := d.Reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, s); err != nil {
				return nil, sourceGetError(sourceName(src), err)
			}
			if v, ok := s.Data[ref.Key]; ok {
				return v, nil
			}
			return nil, &sourceError{msg: fmt.Sprintf("Secret %s has no key %s", ref.Name, ref.Key)}
		}
		return nil, &sourceError{msg: "a source names neither a ConfigMap nor a Secret", stalled: true}
	}
}

func sourceGetError(what string, err error) error {
	if apierrors.IsNotFound(err) {
		return &sourceError{msg: what + " does not exist: the campaign waits for it"}
	}
	return fmt.Errorf("reading %s: %w", what, err)
}

// sourcesVersion identifies the versions of a campaign's sources (opt-out
// list included) by their metadata: a change means the audience may have
// changed.
func (d *Dispatcher) sourcesVersion(ctx context.Context, j *Job) (string, error) {
	return SourcesVersion(ctx, d.Reader, j.Key.Namespace, &j.Spec)
}

// SourcesVersion identifies the versions of a campaign's ConfigMaps and
// Secrets (audience and opt-out list), reading their metadata only; a
// missing one counts as version "".
func SourcesVersion(ctx context.Context, rd client.Reader, ns string, spec *v1alpha1.CampaignSpec) (string, error) {
	h := sha256.New()
	srcs := spec.Audience.Sources
	if spec.OptOut != nil {
		srcs = append(srcs[:len(srcs):len(srcs)], *spec.OptOut)
	}
	for _, src := range srcs {
		m := &metav1.PartialObjectMetadata{}
		var name string
		switch {
		case src.ConfigMapKeyRef != nil:
			m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
			name = src.ConfigMapKeyRef.Name
		case src.SecretKeyRef != nil:
			m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
			name = src.SecretKeyRef.Name
		default:
			continue
		}
		err := rd.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, m)
		if err != nil && !apierrors.IsNotFound(err) {
			return "", fmt.Errorf("reading %s: %w", sourceName(&src), err)
		}
		fmt.Fprintf(h, "%s/%s=%s;", m.Kind, name, m.ResourceVersion)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// bucket paces a campaign: rate tokens a second, up to a tenth of a
// second's worth at once (at least one), starting empty so no second
// sees more than the rate and that tenth.
type bucket struct {
	rate, capacity, tokens float64
	last                   time.Time
}

func newBucket(rate float64) *bucket {
	return &bucket{rate: rate, capacity: math.Max(1, rate/10), last: time.Now()}
}

func (b *bucket) refill() {
	now := time.Now()
	b.tokens = math.Min(b.capacity, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
}

// take waits for half the bucket (at least one token: batches of a
// twentieth of a second's worth rather than one request per contact) and
// takes all there are, up to limit.
func (b *bucket) take(ctx context.Context, limit int) (int, error) {
	want := math.Min(math.Max(1, math.Floor(b.capacity/2)), float64(limit))
	for {
		b.refill()
		if b.tokens >= want {
			n := min(int(b.tokens), limit)
			b.tokens -= float64(n)
			return n, nil
		}
		wait := time.Duration((want - b.tokens) / b.rate * float64(time.Second))
		if !sleep(ctx, max(wait, time.Millisecond)) {
			return 0, ctx.Err()
		}
	}
}

// refund gives back tokens taken but not spent on starts.
func (b *bucket) refund(n int) {
	if n > 0 {
		b.tokens = math.Min(b.capacity, b.tokens+float64(n))
	}
}

// reset empties the bucket (after a hold: no burst when it ends).
func (b *bucket) reset() { b.tokens, b.last = 0, time.Now() }

// backoff doubles from 500ms to 30s.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{} }

func (b *backoff) next() time.Duration {
	if b.d == 0 {
		b.d = 500 * time.Millisecond
	} else {
		b.d = min(2*b.d, 30*time.Second)
	}
	return b.d
}

func (b *backoff) reset() { b.d = 0 }

// sleep waits for d or ctx; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
