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
	flowSlot := slot(ks.signals)
	seen := map[string]string{}
	for _, key := range []string{ks.signals, ks.timerIndex, ks.deadLetters, ks.deadIndex} {
		seen[key] = "(flow)"
		if slot(key) != flowSlot {
			t.Errorf("flow key %s is not in the flow's slot", key)
		}
	}
	for _, c := range []string{"15550001111", "a}b", "{x}", "}", "a|b", "a:inbox", "x:inbox:state", "é😀", " ", ":"} {
		k := ks.contact(c)
		for _, key := range []string{k.inbox, k.state, k.lease, k.dedupe, k.timers, k.dead} {
			if slot(key) != flowSlot {
				t.Errorf("contact %q: %s is not in the flow's slot", c, key)
			}
			if other, dup := seen[key]; dup {
				t.Errorf("key %s used by contacts %q and %q", key, other, c)
			}
			seen[key] = c
		}
	}
	if got, want := ks.contact("15550001111").inbox, "chatflow:{shop/order-status}:c:15550001111:inbox"; got != want {
		t.Errorf("inbox key %q, want %q", got, want)
	}
	// Flows spread over slots (two random flows share one rarely).
	spread := map[uint16]bool{}
	for i := range 8 {
		spread[slot(newKeyspace("team/flow-"+strconv.Itoa(i)).signals)] = true
	}
	if len(spread) < 6 {
		t.Errorf("8 flows use only %d slots", len(spread))
	}
}

func TestEncoding(t *testing.T) {
	s := newSealer("shop/orders", []byte("key"))
	for _, it := range []Item{{}, {ID: "wa:wamid.X", Payload: []byte("hi")}, {ID: "12:3", Payload: []byte("4:5")}, {Payload: []byte{0, ':'}}} {
		enc := s.encodeItem("c", it)
		got := s.decodeItem("c", enc)
		if got.Forged || got.ID != it.ID || string(got.Payload) != string(it.Payload) {
			t.Errorf("round trip of %+v: %+v", it, got)
		}
		// Sealed for one contact, flow and key: refused for any other.
		others := map[string]Item{
			"another contact": s.decodeItem("d", enc),
			"another flow":    newSealer("shop/other", []byte("key")).decodeItem("c", enc),
			"another key":     newSealer("shop/orders", []byte("yek")).decodeItem("c", enc),
			"the derived key": newSealer("shop/orders", nil).decodeItem("c", enc),
			"a changed byte":  s.decodeItem("c", enc[:len(enc)-1]+"!"),
			"cut short":       s.decodeItem("c", enc[:len(enc)-1]),
		}
		for what, o := range others {
			if !o.Forged {
				t.Errorf("%+v decoded with %s: not forged", it, what)
			}
		}
	}
	for _, bad := range []string{"", "x", "5:ab", "-1:", "2:ab", "99999999999:x"} {
		if it := s.decodeItem("c", bad); !it.Forged {
			t.Errorf("decodeItem(%q) = %+v: not forged", bad, it)
		}
	}
	// A fired timer is the item its seal was made for.
	tm := Timer{ID: "wait", Payload: []byte("p")}
	fired := lp("timer:wait") + string(s.sealTimer("c", tm))
	if it := s.decodeItem("c", fired); it.Forged || it.ID != "timer:wait" || string(it.Payload) != "p" {
		t.Errorf("fired timer decodes as %+v", it)
	}
	// States.
	st := s.encodeState("c", []byte(`{"a":1}`))
	if got, ok := s.decodeState("c", st); !ok || string(got) != `{"a":1}` {
		t.Errorf("state round trip: %q %v", got, ok)
	}
	if _, ok := s.decodeState("d", st); ok {
		t.Error("a state of another contact decoded")
	}
	if _, ok := s.decodeState("c", []byte(s.encodeItem("c", Item{Payload: []byte(`{"a":1}`)}))); ok {
		t.Error("an item passed for a state")
	}
	// Dead letters and timer index entries.
	rec := deadRecord{contact: "a:b", reason: "panic: x", item: s.encodeItem("a:b", Item{ID: "i"})}
	if got, err := decodeDeadRecord(rec.encode()); err != nil || got != rec {
		t.Errorf("dead record round trip: %+v %v", got, err)
	}
	m := memberOf("0123456789abcdef", "a:b", "t:1")
	if got, err := parseTimerMember(m); err != nil || got.nonce != "0123456789abcdef" || got.contact != "a:b" || got.id != "t:1" {
		t.Errorf("parseTimerMember(%q) = %+v, %v", m, got, err)
	}
	for _, bad := range []string{"", "x", "0123456789abcdef", "0123456789abcdef:", "0123456789abcdef:9:ab", "0123456789abcdefX1:a"} {
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

// TestTimerIndexEntries: the index holds only timers that may fire. A
// cancelled or replaced timer takes its entry with it, erasing a contact
// takes all of its entries, and an entry whose session expired is removed
// when due, firing nothing.
func TestTimerIndexEntries(t *testing.T) {
	url, _ := redistest.Start(t)
	s := newTestRedisTTL(t, url, "timers", time.Minute)
	ctx := context.Background()
	entries := func() []string {
		m, err := s.rdb.ZRange(ctx, s.keys.timerIndex, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	later := time.Now().Add(time.Hour)
	if _, err := s.Enqueue(ctx, "c", Item{ID: "x"}); err != nil {
		t.Fatal(err)
	}
	l, err := s.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, l, Commit{Consumed: 1, SetTimers: []Timer{{ID: "a", At: later}, {ID: "b", At: later}, {ID: "c", At: later}}}); err != nil {
		t.Fatal(err)
	}
	if got := entries(); len(got) != 3 {
		t.Fatalf("index after setting 3 timers: %q", got)
	}
	if err := s.Commit(ctx, l, Commit{CancelTimers: []string{"a"}, SetTimers: []Timer{{ID: "b", At: later.Add(time.Minute)}}}); err != nil {
		t.Fatal(err)
	}
	got := entries()
	if len(got) != 2 {
		t.Fatalf("index after cancelling one and replacing one: %q, want 2 entries", got)
	}
	for _, m := range got {
		if tm, _ := parseTimerMember(m); tm.id == "a" {
			t.Errorf("the cancelled timer's entry %q is left", m)
		}
	}
	if err := s.Release(ctx, l); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Erase(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if got := entries(); len(got) != 0 {
		t.Errorf("index after erasing the contact: %q", got)
	}

	// An entry whose timer is gone (the session expired) is removed when due.
	member := memberOf("0123456789abcdef", "gone", "t")
	s.rdb.ZAdd(ctx, s.keys.timerIndex, redis.Z{Score: 0, Member: member})
	if _, err := s.fireDue(ctx); err != nil {
		t.Fatal(err)
	}
	if got := entries(); len(got) != 0 {
		t.Errorf("a due entry without its timer is kept: %q", got)
	}
	if n := s.rdb.LLen(ctx, s.keys.contact("gone").inbox).Val(); n != 0 {
		t.Errorf("a missing timer fired")
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

// TestReleasingCommitSettlesItsSignal: the releasing commit also
// acknowledges and deletes the lease's signal, so the stream
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
