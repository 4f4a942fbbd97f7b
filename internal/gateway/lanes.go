package gateway

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// Coalescing: under load many webhooks for one binding arrive at once,
// each often holding a single event. Each forward costs the gateway and the executor a request's system calls and
// parsing, so while maxInflight forwards to a binding's executor are in
// flight, the parts that arrive for it wait, and the first forward to end
// hands them all to one waiter, which sends them as one body (meta.Join:
// the envelope Meta itself sends for a batch), signed with the binding's
// secret. Nothing waits at low load, so a lone webhook is forwarded at
// once, as it came. Each waiting request is still answered only once its
// own events were accepted, and within its time (ForwardTimeout from its
// arrival, which every forward of its part is bounded by): a joined
// forward that fails answers every request in it 5xx, except a 4xx that
// judges the content, after which each part is sent alone so that one bad
// part fails only its own request.
const (
	// maxInflight is how many forwards to one binding's executor run at
	// once before parts wait to be joined: enough that one is on the wire
	// while others are being accepted, few enough that a burst joins.
	maxInflight = 4
	// maxWaiting bounds the parts waiting on one lane; more are forwarded
	// alone at once.
	maxWaiting = 10 * maxJoinedParts
	// maxJoinedParts and maxJoinedBytes bound one joined forward, well
	// under what an executor reads (MaxWebhookBody).
	maxJoinedParts = 100
	maxJoinedBytes = 1 << 20
)

// lane is the forwards to one route in flight and the parts waiting. A
// route of the current table is one binding, its executor and its secret:
// parts join only when all three are the same.
type lane struct {
	inflight int
	waiting  []*waiter
}

// waiter is a part waiting for a forward slot.
type waiter struct {
	// ctx is its request's, with the request's span.
	ctx       context.Context
	job       job
	signature string
	// done closes when the part was forwarded (ok says whether it was
	// accepted) or when lead is set: this waiter forwards the batch.
	done chan struct{}
	ok   bool
	lead []*waiter
}

// lanes are the Server's lanes, by route; a lane is dropped when it has
// nothing in flight. A new table has new routes: while it takes over,
// parts of the old and the new route of a binding do not join.
type lanes struct {
	mu sync.Mutex
	m  map[*Route]*lane
}

// forwardJoinable forwards a Meta part at once when its lane has room,
// else waits to be joined with the others waiting. A part that has waited
// half its time (its request's ForwardTimeout) leaves the queue and goes
// alone, so that it still has time to be sent again alone after a refused
// join.
func (s *Server) forwardJoinable(ctx context.Context, ch v1alpha1.Channel, j job, signature string) bool {
	key := j.route
	s.lanes.mu.Lock()
	l := s.lanes.m[key]
	if l == nil {
		l = &lane{}
		s.lanes.m[key] = l
	}
	if l.inflight < maxInflight || len(l.waiting) >= maxWaiting {
		l.inflight++
		s.lanes.mu.Unlock()
		defer s.release(key, l)
		return s.forwardPart(ctx, ch, j, signature)
	}
	w := &waiter{ctx: ctx, job: j, signature: signature, done: make(chan struct{})}
	l.waiting = append(l.waiting, w)
	s.lanes.mu.Unlock()
	patience := time.NewTimer(time.Until(j.deadline) / 2)
	defer patience.Stop()
	select {
	case <-w.done:
	case <-patience.C:
		if s.leaveQueue(l, w) {
			defer s.release(key, l)
			return s.forwardPart(ctx, ch, j, signature)
		}
		<-w.done // a forward took it meanwhile
	}
	if w.lead != nil {
		defer s.release(key, l)
		s.forwardJoined(ctx, ch, w.lead)
	}
	return w.ok
}

// leaveQueue takes w out of l's waiting parts onto a slot of its own, as
// an overflowing part; false when a forward took it first.
func (s *Server) leaveQueue(l *lane, w *waiter) bool {
	s.lanes.mu.Lock()
	defer s.lanes.mu.Unlock()
	i := slices.Index(l.waiting, w)
	if i < 0 {
		return false
	}
	l.waiting = slices.Delete(l.waiting, i, i+1)
	l.inflight++
	return true
}

// release ends a forward of l: the parts waiting, if any, go on the slot
// it frees, sent by the first of them.
func (s *Server) release(key *Route, l *lane) {
	s.lanes.mu.Lock()
	if len(l.waiting) == 0 {
		l.inflight--
		if l.inflight == 0 {
			delete(s.lanes.m, key)
		}
		s.lanes.mu.Unlock()
		return
	}
	n, size := 0, 0
	for n < len(l.waiting) && n < maxJoinedParts {
		size += len(l.waiting[n].job.part.Body)
		if n > 0 && size > maxJoinedBytes {
			break
		}
		n++
	}
	batch := l.waiting[:n:n]
	l.waiting = append([]*waiter(nil), l.waiting[n:]...)
	s.lanes.mu.Unlock()
	batch[0].lead = batch
	close(batch[0].done)
}

// forwardJoined sends a batch of waiting parts as one request, or alone
// those that cannot join, and answers every waiter.
func (s *Server) forwardJoined(ctx context.Context, ch v1alpha1.Channel, batch []*waiter) {
	defer func() {
		for _, w := range batch[1:] {
			close(w.done)
		}
	}()
	object := objectOf(ch)
	var joinable []*waiter
	var lists [][]byte
	var alone []*waiter
	for _, w := range batch {
		if list, ok := w.job.part.EntryList(object); ok {
			joinable = append(joinable, w)
			lists = append(lists, list)
		} else {
			alone = append(alone, w)
		}
	}
	if len(joinable) == 1 {
		alone, joinable = append(alone, joinable[0]), nil
	}
	if len(joinable) > 1 {
		rt := joinable[0].job.route
		body := meta.Join(object, lists...)
		h := http.Header{meta.SignatureHeader: {meta.Sign(body, rt.Secret)}}
		// The forward's span is a child of the sender's request span and
		// links the spans of the other requests it carries.
		var links []trace.Link
		deadline := batch[0].job.deadline
		for _, w := range joinable {
			if w != batch[0] {
				links = append(links, trace.LinkFromContext(w.ctx))
			}
			if w.job.deadline.Before(deadline) {
				deadline = w.job.deadline
			}
		}
		res := s.post(ctx, ch, rt.Backend, channel.WebhookPath(message.Channel(ch), rt.Account), body, h, deadline,
			trace.WithLinks(links...), trace.WithAttributes(attribute.Int("chatflow.joined_parts", len(joinable))))
		events := 0
		for _, w := range joinable {
			events += w.job.part.Events
		}
		switch {
		case res.err == nil && res.code/100 == 2:
			s.metrics.events.WithLabelValues(label(ch), resultForwarded).Add(float64(events))
			s.metrics.joined.WithLabelValues(label(ch)).Add(float64(len(joinable)))
			for _, w := range joinable {
				w.ok = true
			}
		case res.err == nil && isVerdict(res.code):
			// A verdict on the content: let each part have its own.
			alone = append(alone, joinable...)
		default:
			s.failed(ch, rt, events, res)
		}
	}
	// Sent alone, each part is traced under its own request, and no more
	// go at once than the lane lets forwards run.
	slots := make(chan struct{}, maxInflight)
	var wg sync.WaitGroup
	for _, w := range alone {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			w.ok = s.forwardPart(w.ctx, ch, w.job, w.signature)
		})
	}
	wg.Wait()
}

// isVerdict tells a 4xx that judges a forward's content, which another
// body may not get, from one that says "not now" (408, 429), which every
// body would get.
func isVerdict(code int) bool {
	return code/100 == 4 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests
}
