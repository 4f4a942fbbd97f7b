package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatflow-dev/chatflow/runtime/store/redistest"
)

// slot is the Redis Cluster slot of a key: CRC16 of its hash tag.
func slot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for _, b := range []byte(key) {
		crc ^= uint16(b) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}

func TestKeyLayout(t *testing.T) {
	if got := slot("123456789"); got != 0x31C3%16384 {
		t.Fatalf("crc16 self-check: %d", got)
	}
	ks := newKeyspace("shop/order-status")
	seen := map[string]string{}
	for _, c := range []string{"15550001111", "a}b", "{x}", "}", "a|b", "a}:inbox", "é😀", " "} {
		k := ks.contact(c)
		all := []string{k.inbox, k.state, k.outbox, k.lease, k.dedupe, k.timers}
		for _, key := range all {
			if slot(key) != slot(all[0]) {
				t.Errorf("contact %q: %s and %s are in different slots", c, key, all[0])
			}
			if other, dup := seen[key]; dup {
				t.Errorf("key %s used by contacts %q and %q", key, other, c)
			}
			seen[key] = c
		}
	}
	if got, want := ks.contact("15550001111").inbox, "chatflow:shop/order-status:{shop/order-status|15550001111}:inbox"; got != want {
		t.Errorf("inbox key %q, want %q", got, want)
	}
	if slot(ks.contact("a").inbox) == slot(newKeyspace("other/flow").contact("a").inbox) &&
		slot(ks.contact("b").inbox) == slot(newKeyspace("other/flow").contact("b").inbox) {
		t.Errorf("namespaces do not spread a contact over slots")
	}
}

func TestEncoding(t *testing.T) {
	for _, it := range []Item{{}, {ID: "wa:wamid.X", Payload: []byte("hi")}, {ID: "12:3", Payload: []byte("4:5")}, {Payload: []byte{0, ':'}}} {
		got, err := decodeItem(encodeItem(it))
		if err != nil || got.ID != it.ID || string(got.Payload) != string(it.Payload) {
			t.Errorf("round trip of %+v: %+v, %v", it, got, err)
		}
	}
	for _, bad := range []string{"", "x", "5:abc", "-1:", ":abc"} {
		if _, err := decodeItem(bad); err == nil {
			t.Errorf("decodeItem(%q): no error", bad)
		}
	}
	tail := memberTail("0123456789abcdef", "c:1}", "t:2")
	m, err := parseTimerMember("1700000000000:" + tail)
	if err != nil || m.created != 1700000000000 || m.nonce != "0123456789abcdef" || m.contact != "c:1}" || m.id != "t:2" {
		t.Errorf("parseTimerMember: %+v %v", m, err)
	}
	for _, bad := range []string{"", "x:0123456789abcdef:1:ct", "1:short:1:ct", "1:0123456789abcdef:9:ct"} {
		if _, err := parseTimerMember(bad); err == nil {
			t.Errorf("parseTimerMember(%q): no error", bad)
		}
	}
}

func newTestRedis(t *testing.T, url, ns string) *redisStore {
	return newTestRedisTTL(t, url, ns, time.Second)
}

// newTestRedisTTL is newTestRedis with leases of ttl.
func newTestRedisTTL(t *testing.T, url, ns string, ttl time.Duration) *redisStore {
	t.Helper()
	s, err := NewRedis(context.Background(), url, Options{Namespace: ns, LeaseTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s.(*redisStore)
}

// TestTimerIndexEntries covers the index entries the contract cannot reach:
// one whose commit never landed is kept for the grace period and then
// removed, and a commit carrying an entry stamped too long ago is refused.
func TestTimerIndexEntries(t *testing.T) {
	url, _ := redistest.Start(t)
	s := newTestRedis(t, url, "timers")
	ctx := context.Background()

	stamp, nonces, err := s.indexTimers(ctx, "c", []Timer{{ID: "t", At: time.Now().Add(-time.Second)}})
	if err != nil {
		t.Fatal(err)
	}
	members, _ := s.rdb.ZRange(ctx, s.keys.timerIndex, 0, -1).Result()
	if len(members) != 1 {
		t.Fatalf("index holds %v", members)
	}
	member := members[0]
	if !strings.Contains(member, nonces[0]) {
		t.Fatalf("entry %q lacks nonce %s", member, nonces[0])
	}
	// Due, but no timer stored: postponed, not dropped, no item.
	if err := s.fireEntry(ctx, member); err != nil {
		t.Fatal(err)
	}
	score, err := s.rdb.ZScore(ctx, s.keys.timerIndex, member).Result()
	if err != nil {
		t.Fatalf("entry dropped before its grace: %v", err)
	}
	if due := time.UnixMilli(int64(score)); time.Until(due) < 500*time.Millisecond {
		t.Errorf("entry rescheduled for %v, want about a second later", time.Until(due))
	}
	if n, _ := s.rdb.LLen(ctx, s.keys.contact("c").inbox).Result(); n != 0 {
		t.Errorf("a missing timer fired")
	}
	// Past the grace: removed.
	old := strings.Replace(member, strconv.FormatInt(stamp, 10), strconv.FormatInt(stamp-timerGrace.Milliseconds()-1, 10), 1)
	s.rdb.ZAdd(ctx, s.keys.timerIndex, redis.Z{Score: 0, Member: old})
	if err := s.fireEntry(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := s.rdb.ZScore(ctx, s.keys.timerIndex, old).Result(); err != redis.Nil {
		t.Errorf("entry past its grace kept: %v", err)
	}

	// A commit whose entries are older than half the grace is refused and
	// writes nothing.
	if _, err := s.Enqueue(ctx, "c", Item{ID: "x"}); err != nil {
		t.Fatal(err)
	}
	l, err := s.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ck := s.keys.contact("c")
	c := Commit{State: []byte("s"), Consumed: 1, SetTimers: []Timer{{ID: "t"}}}
	r, err := commitReply(s.lua.commit.Run(ctx, s.rdb, []string{ck.lease, ck.state, ck.inbox, ck.outbox, ck.timers},
		commitArgs(l, c, s.ttlMS, stamp-timerGrace.Milliseconds(), []string{"0123456789abcdef"})...))
	if err != nil || r.outcome != -1 {
		t.Fatalf("stale commit: %d %v, want -1", r.outcome, err)
	}
	if n, _ := s.rdb.Exists(ctx, ck.state, ck.timers).Result(); n != 0 {
		t.Errorf("a refused commit wrote %d keys", n)
	}
	// The Cluster path indexes afresh and commits.
	if r, err := s.commitCluster(ctx, l, c, ck); err != nil || r.outcome != 1 {
		t.Fatalf("commitCluster: %d %v, want 1", r.outcome, err)
	}
}

// TestConsumerCleanup checks that a closed replica leaves the consumer
// group and that consumers of vanished replicas are collected, but only
// when they hold no pending signal.
func TestConsumerCleanup(t *testing.T) {
	url, _ := redistest.Start(t)
	ctx := context.Background()
	s := newTestRedis(t, url, "consumers")
	names := func(rdb redis.UniversalClient, stream string) string {
		cs, err := rdb.XInfoConsumers(ctx, stream, group).Result()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return strings.Join(out, " ")
	}
	// Redis creates a consumer when it first delivers to it.
	if _, err := s.Enqueue(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	l, err := s.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, l); err != nil {
		t.Fatal(err)
	}
	if got := names(s.rdb, s.keys.signals); got != s.consumer {
		t.Fatalf("consumers %q, want %q", got, s.consumer)
	}
	o, _ := redis.ParseURL(url)
	rdb := redis.NewClient(o)
	defer rdb.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := names(rdb, s.keys.signals); got != "" {
		t.Errorf("after Close: consumers %q, want none", got)
	}

	// A replica that closes with a signal it read but never served (Close
	// came between the read and the grant) hands it back: another replica
	// acquires that contact at once.
	a := newTestRedisTTL(t, url, "handback", time.Minute)
	if _, err := a.Enqueue(ctx, "waiting"); err != nil {
		t.Fatal(err)
	}
	// Read as its reader would, under its consumer name.
	read, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: a.consumer,
		Streams: []string{a.keys.signals, ">"}, Count: 1, Block: -1}).Result()
	if err != nil || len(read) != 1 || len(read[0].Messages) != 1 {
		t.Fatalf("reading the signal: %v %v", read, err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := newTestRedisTTL(t, url, "handback", time.Minute)
	actx, cancel := context.WithTimeout(ctx, 5*time.Second) // far under the minute a reclaim would take
	defer cancel()
	got, err := b.Acquire(actx)
	if err != nil || got.Contact != "waiting" {
		t.Fatalf("after the handback Acquire gave %v, %v; want the contact at once", got, err)
	}

	// Replicas that vanished: one with a signal pending, one without.
	stream := "gc-test"
	rdb.XGroupCreateMkStream(ctx, stream, group, "0")
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{"c", "x"}})
	rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: "dead-busy", Streams: []string{stream, ">"}, Count: 1, Block: -1})
	rdb.XGroupCreateConsumer(ctx, stream, group, "dead-idle")
	time.Sleep(5 * time.Millisecond)
	if err := newScripts(true).gc.Run(ctx, rdb, []string{stream}, group, 1).Err(); err != nil {
		t.Fatal(err)
	}
	if got := names(rdb, stream); got != "dead-busy" {
		t.Errorf("after GC: consumers %q, want dead-busy (it holds a signal)", got)
	}
}

// TestReleasingCommitSettlesItsSignal: on a single Redis the releasing
// commit also acknowledges and deletes the lease's signal, so the stream
// holds only open work; with work left it keeps both lease and signal.
func TestReleasingCommitSettlesItsSignal(t *testing.T) {
	url, _ := redistest.Start(t)
	ctx := context.Background()
	s := newTestRedis(t, url, "settle")
	inStream := func(id string) bool {
		entries, err := s.rdb.XRange(ctx, s.keys.signals, id, id).Result()
		if err != nil {
			t.Fatal(err)
		}
		return len(entries) == 1
	}
	if _, err := s.Enqueue(ctx, "c", Item{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	l, err := s.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, "c", Item{ID: "2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, l, Commit{Consumed: 1, Release: true}); err != nil || l.Released() {
		t.Fatalf("commit with work left: %v, released %v", err, l.Released())
	}
	if !inStream(l.sig) {
		t.Fatalf("the held lease's signal %s is gone", l.sig)
	}
	if _, err := s.Load(ctx, l); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, l, Commit{Consumed: 1, Release: true}); err != nil || !l.Released() {
		t.Fatalf("last commit: %v, released %v", err, l.Released())
	}
	if inStream(l.sig) {
		t.Errorf("the released lease's signal %s is still in the stream", l.sig)
	}
	if n, _ := s.rdb.Exists(ctx, s.keys.contact("c").lease).Result(); n != 0 {
		t.Errorf("the lease key outlived the release")
	}
}

// TestUntakenLeaseIsReleased: a lease granted for an Acquire call that gave
// up meanwhile is released after handOverWait, and its work signalled again
// for any replica, which then acquires the contact at once instead of after
// a lease TTL.
func TestUntakenLeaseIsReleased(t *testing.T) {
	url, _ := redistest.Start(t)
	ctx := context.Background()
	a, b := newTestRedisTTL(t, url, "untaken", time.Minute), newTestRedisTTL(t, url, "untaken", time.Minute)
	if _, err := a.Enqueue(ctx, "c", Item{ID: "1", Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	read, err := a.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: a.consumer,
		Streams: []string{a.keys.signals, ">"}, Count: 1, Block: -1}).Result()
	if err != nil || len(read) != 1 || len(read[0].Messages) != 1 {
		t.Fatalf("reading the signal: %v %v", read, err)
	}
	start := time.Now()
	if !a.serve([]signal{signalOf(read[0].Messages[0])}) { // no Acquire call waits on a
		t.Fatal("serve failed")
	}
	if waited := time.Since(start); waited < handOverWait {
		t.Errorf("serve gave up after %v, before handOverWait", waited)
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second) // far under the minute of a takeover
	defer cancel()
	l, err := b.Acquire(actx)
	if err != nil {
		t.Fatalf("the released contact was not signalled again: %v", err)
	}
	snap, err := b.Load(ctx, l)
	if err != nil || l.Contact != "c" || len(snap.Inbox) != 1 {
		t.Fatalf("after the release: %v %v %v", l, snap, err)
	}
	if p, _ := a.rdb.XPending(ctx, a.keys.signals, group).Result(); p.Consumers[a.consumer] != 0 {
		t.Errorf("the untaken lease's signal is still pending at its reader: %+v", p)
	}
}

// TestLeaseInHandAtCloseIsReleased: a replica that closes while its reader
// holds a lease for an Acquire call that gave up releases it, so another
// replica takes the contact at once (not a lease TTL later).
func TestLeaseInHandAtCloseIsReleased(t *testing.T) {
	url, _ := redistest.Start(t)
	ctx := context.Background()
	a, b := newTestRedisTTL(t, url, "closing", time.Minute), newTestRedisTTL(t, url, "closing", time.Minute)
	if _, err := a.Enqueue(ctx, "c", Item{ID: "1", Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	read, err := a.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: a.consumer,
		Streams: []string{a.keys.signals, ">"}, Count: 1, Block: -1}).Result()
	if err != nil || len(read) != 1 || len(read[0].Messages) != 1 {
		t.Fatalf("reading the signal: %v %v", read, err)
	}
	// Served as the reader would (part of the work Close waits for).
	a.wg.Go(func() { a.serve([]signal{signalOf(read[0].Messages[0])}) })
	for n, _ := a.rdb.Exists(ctx, a.keys.contact("c").lease).Result(); n == 0; n, _ = a.rdb.Exists(ctx, a.keys.contact("c").lease).Result() {
		time.Sleep(time.Millisecond) // until the lease is granted
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	l, err := b.Acquire(actx)
	if err != nil || l.Contact != "c" {
		t.Fatalf("after the closing replica's release: %v %v, want contact c at once", l, err)
	}
}

// TestBusySignalKeptForUnbackedLease: a lease can be granted by a duplicate
// delivery of a signal that was acknowledged meanwhile. A signal for the
// same contact arriving then must stay pending (it stands for the work if
// that holder dies), while with a pending holder signal it is redundant.
func TestBusySignalKeptForUnbackedLease(t *testing.T) {
	url, _ := redistest.Start(t)
	ctx := context.Background()
	s := newTestRedis(t, url, "busy")
	o, _ := redis.ParseURL(url)
	rdb := redis.NewClient(o)
	defer rdb.Close()
	pending := func(id string) bool {
		p, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: s.keys.signals, Group: group, Start: id, End: id, Count: 1}).Result()
		if err != nil {
			t.Fatal(err)
		}
		return len(p) == 1
	}
	// Signals delivered to a consumer of our own, so s's reader stays out.
	deliver := func() string {
		id := rdb.XAdd(ctx, &redis.XAddArgs{Stream: s.keys.signals, Values: []string{"c", "x"}}).Val()
		for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(10 * time.Millisecond) {
			// s's reader may have taken it (claim it over), or not (read it).
			rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: "test", Streams: []string{s.keys.signals, ">"}, Count: 10, Block: -1})
			rdb.XClaim(ctx, &redis.XClaimArgs{Stream: s.keys.signals, Group: group, Consumer: "test", Messages: []string{id}})
			if pending(id) {
				return id
			}
		}
		t.Fatalf("signal %s never pending", id)
		return ""
	}
	stale := deliver()
	if err := s.ack(ctx, stale); err != nil {
		t.Fatal(err)
	}
	l, err := s.tryLease(ctx, signal{id: stale, contact: "x"})
	if err != nil || l == nil {
		t.Fatalf("lease from a stale signal: %v %v", l, err)
	}
	busy := deliver()
	if l2, err := s.tryLease(ctx, signal{id: busy, contact: "x"}); l2 != nil || err != nil {
		t.Fatalf("second lease: %v %v", l2, err)
	}
	if !pending(busy) {
		t.Errorf("signal for a contact with an unbacked lease was acknowledged")
	}
	if err := s.Release(ctx, l); err != nil {
		t.Fatal(err)
	}

	// Backed holder: the busy signal is redundant.
	own := deliver()
	l, err = s.tryLease(ctx, signal{id: own, contact: "y"})
	if err != nil || l == nil {
		t.Fatalf("lease: %v %v", l, err)
	}
	busy = deliver()
	if l2, err := s.tryLease(ctx, signal{id: busy, contact: "y"}); l2 != nil || err != nil {
		t.Fatalf("second lease: %v %v", l2, err)
	}
	if pending(busy) {
		t.Errorf("redundant signal kept pending")
	}
	// The lease's own signal, delivered again, stays pending.
	if l2, err := s.tryLease(ctx, signal{id: own, contact: "y"}); l2 != nil || err != nil {
		t.Fatalf("lease from its own signal again: %v %v", l2, err)
	}
	if !pending(own) {
		t.Errorf("the lease's own signal was acknowledged")
	}
}

// TestCommitAfterScriptFlush: after a Redis restart the script cache is
// empty. A commit that stores a timer and releases the lease must still
// write the timer, its index entry and the release (the script is sent
// again after NOSCRIPT), so the timer fires.
func TestCommitAfterScriptFlush(t *testing.T) {
	url, _ := redistest.Start(t)
	ctx := context.Background()
	s := newTestRedis(t, url, "nocache")
	if _, err := s.Enqueue(ctx, "c", Item{ID: "arm", Payload: []byte("arm")}); err != nil {
		t.Fatal(err)
	}
	l, err := s.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, l); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	due := Timer{ID: "t", At: time.Now().Add(-time.Second), Payload: []byte("fired")}
	if err := s.Commit(ctx, l, Commit{Consumed: 1, SetTimers: []Timer{due}, Release: true}); err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		l, err := s.Acquire(actx)
		if err != nil {
			t.Fatalf("the timer did not fire: %v", err)
		}
		snap, err := s.Load(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Release(ctx, l)
		if len(snap.Inbox) == 1 && snap.Inbox[0].ID == "timer:t" && string(snap.Inbox[0].Payload) == "fired" {
			return
		}
	}
}

// TestEnqueueSignalsUnlessBacked: Enqueue does not signal a contact whose
// holder's signal is pending (the holder sees the items before it lets
// go), but does when the lease came from a signal acknowledged meanwhile:
// were that holder to die, nothing else would stand for the items.
func TestEnqueueSignalsUnlessBacked(t *testing.T) {
	single, _ := redistest.Start(t)
	cluster, _ := redistest.StartCluster(t)
	for name, url := range map[string]string{"single": single, "cluster": cluster} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := newTestRedisTTL(t, url, "backed-"+name, time.Minute)
			entries := func() int64 { return s.rdb.XLen(ctx, s.keys.signals).Val() }
			if _, err := s.Enqueue(ctx, "c", Item{ID: "1"}); err != nil {
				t.Fatal(err)
			}
			l, err := s.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			before := entries()
			if _, err := s.Enqueue(ctx, "c", Item{ID: "2"}); err != nil {
				t.Fatal(err)
			}
			if got := entries(); got != before {
				t.Fatalf("a contact leased under a pending signal was signalled again (%d entries, want %d)", got, before)
			}
			// The lease's signal acknowledged, as after a duplicate delivery.
			if err := s.rdb.XAck(ctx, s.keys.signals, group, l.sig).Err(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Enqueue(ctx, "c", Item{ID: "3"}); err != nil {
				t.Fatal(err)
			}
			if got := entries(); got != before+1 {
				t.Fatalf("a contact leased under an acknowledged signal got %d new signals, want 1", got-before)
			}
		})
	}
}

// TestBatcherSendsWaitingCallsTogether: calls that wait while the senders
// are busy go out as one pipeline, each with its own reply; a call after
// the store closed fails with ErrClosed instead of waiting.
func TestBatcherSendsWaitingCallsTogether(t *testing.T) {
	url, _ := redistest.Start(t)
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(o)
	defer rdb.Close()
	var pipelines atomic.Int64
	rdb.AddHook(countPipelines{&pipelines})
	ctx, cancel := context.WithCancel(context.Background())
	// The senders start only once every call waits, as if busy until then.
	b := &batcher{rdb: rdb, calls: make(chan *batchCall, maxBatch), stop: ctx.Done()}
	echo := redis.NewScript("return ARGV[1]")
	const n = 100
	got := make([]string, n)
	var calls sync.WaitGroup
	for i := range n {
		calls.Go(func() { got[i], _ = b.run(context.Background(), echo, nil, strconv.Itoa(i)).Text() })
	}
	for len(b.calls) < n {
		time.Sleep(time.Millisecond)
	}
	if err := echo.Load(ctx, rdb).Err(); err != nil { // cached, as after the first call
		t.Fatal(err)
	}
	b.wg.Go(func() { b.send(ctx) })
	calls.Wait()
	for i, g := range got {
		if g != strconv.Itoa(i) {
			t.Fatalf("call %d got %q", i, g)
		}
	}
	if p := pipelines.Load(); p != 1 {
		t.Errorf("%d waiting calls went out in %d pipelines, want 1", n, p)
	}
	cancel()
	b.wg.Wait()
	done := make(chan error, 1)
	go func() { done <- b.run(context.Background(), echo, nil, "late").Err() }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("a call after close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a call after close waited")
	}
}

// countPipelines counts the pipelines of EVALSHA a client sends (not the
// connection handshake's).
type countPipelines struct{ n *atomic.Int64 }

func (countPipelines) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (countPipelines) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h countPipelines) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && cmds[0].Name() == "evalsha" {
			h.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

// tryLease takes the lease of one signal's contact, as the reader would,
// and returns nil when another worker holds the contact.
func (s *redisStore) tryLease(ctx context.Context, sig signal) (*Lease, error) {
	granted, err := s.grant(ctx, []signal{sig})
	if len(granted) == 1 {
		return granted[0], nil
	}
	return nil, err
}
