// Package storetest is the contract every store.Store implementation must
// meet, as a test suite: Run it from the implementation's tests. It imports
// only runtime/store (never flow, channel or executor packages).
//
// The suite uses real time with short lease TTLs, because the redis store
// takes its lease and dedupe clock from the Redis server.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/store"
)

// Factory returns a store for opts. Stores returned for the same
// opts.Namespace must share their data, like replicas of one executor
// connected to one Redis; the factory closes them when the test ends.
type Factory func(t *testing.T, opts store.Options) store.Store

// Run runs the whole contract against the stores newStore makes. Cases run
// concurrently, each in its own namespace: most of their time is spent
// waiting for leases to expire and timers to fire, so they do not wait for
// a -parallel slot (t.Run from several goroutines is allowed).
func Run(t *testing.T, newStore func(t *testing.T, opts store.Options) store.Store) {
	f := Factory(newStore)
	cases := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"OrderPerContact", testOrder},
		{"DedupeAcrossAndWithinCalls", testDedupe},
		{"DedupeExpires", testDedupeExpires},
		{"ItemsWithoutIDAreNotDeduped", testNoID},
		{"StateRoundTrip", testState},
		{"ConsumedPopsExactlyThose", testConsumed},
		{"RetriedCommitAppliesOnce", testRetriedCommit},
		{"ExclusiveLease", testExclusive},
		{"ExpiredLeaseIsLostAndNothingWritten", testExpired},
		{"CrashedWorkerTakenOver", testTakeover},
		{"ReleaseWithNewWorkResignals", testReleaseResignals},
		{"CommitWithRelease", testCommitWithRelease},
		{"AcquireHonoursContext", testAcquireCancel},
		{"TimersFireOnceAcrossReplicas", testTimersOnce},
		{"CancelledTimerDoesNotFire", testTimerCancel},
		{"ReplacedTimerFiresOnceWithNewValue", testTimerReplace},
		{"PingStatsClose", testPingStats},
		{"InboxCapRefusesTheExcess", testInboxCap},
		{"DeadLettersKeptAndRetried", testDeadLetters},
		{"DeadLettersBounded", testDeadLettersBounded},
		{"EraseRemovesEverythingOfAContact", testErase},
		{"IdleSessionsExpire", testIdleExpiry},
		{"ConcurrentReplicasKeepOrderExactlyOnce", testConcurrency},
		{"ObservedNodeIndex", testNodeIndex},
		{"ObservedContactEvents", testContactEvents},
		{"ObservedPeek", testPeek},
	}
	var wg sync.WaitGroup
	for _, c := range cases {
		wg.Go(func() {
			t.Run(c.name, func(t *testing.T) {
				c.fn(t, &harness{t: t, f: f, ns: namespace(t)})
			})
		})
	}
	wg.Wait()
}

var seq atomic.Int64

// namespace is unique per case and run, so cases can share one Redis.
func namespace(t *testing.T) string {
	name := strings.NewReplacer("/", "-", "{", "", "}", "").Replace(t.Name())
	return fmt.Sprintf("storetest/%s-%d-%d", name, time.Now().UnixNano()%1e6, seq.Add(1))
}

type harness struct {
	t  *testing.T
	f  Factory
	ns string
}

// replica returns a new store on the case's namespace.
func (h *harness) replica(opts store.Options) store.Store {
	opts.Namespace = h.ns
	if opts.LeaseTTL == 0 {
		opts.LeaseTTL = 5 * time.Second
	}
	return h.f(h.t, opts)
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func enqueue(t *testing.T, s store.Store, contact string, items ...store.Item) int {
	t.Helper()
	n, err := s.Enqueue(ctxFor(t, 10*time.Second), contact, items...)
	if err != nil {
		t.Fatalf("Enqueue(%s): %v", contact, err)
	}
	return n
}

func item(id, payload string) store.Item { return store.Item{ID: id, Payload: []byte(payload)} }

// leased is a lease with what its holder loaded.
type leased struct {
	*store.Lease
	store.Store
	snap *store.Snapshot
}

// next returns the first lease with work from any of the stores, within d.
// Leases on contacts without work (left-over signals) are released and
// skipped, as the executor would.
func next(t *testing.T, d time.Duration, stores ...store.Store) leased {
	t.Helper()
	l, ok := tryNext(t, d, stores...)
	if !ok {
		t.Fatalf("no contact with work became available within %v", d)
	}
	return l
}

// tryNext is next without failing.
func tryNext(t *testing.T, d time.Duration, stores ...store.Store) (leased, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	got := make(chan leased)
	for _, s := range stores {
		go func() {
			for {
				l, err := s.Acquire(ctx)
				if err != nil {
					return
				}
				snap, err := s.Load(ctx, l)
				if err == nil && len(snap.Inbox) == 0 {
					_ = s.Release(context.Background(), l)
					continue
				}
				if err != nil {
					_ = s.Release(context.Background(), l)
					continue
				}
				select {
				case got <- leased{l, s, snap}:
				case <-ctx.Done():
					// Someone else won: give it back.
					_ = s.Release(context.Background(), l)
				}
				return
			}
		}()
	}
	select {
	case l := <-got:
		cancel()
		return l, true
	case <-ctx.Done():
		return leased{}, false
	}
}

func commit(t *testing.T, l leased, c store.Commit) {
	t.Helper()
	if err := l.Store.Commit(ctxFor(t, 10*time.Second), l.Lease, c); err != nil {
		t.Fatalf("Commit(%s): %v", l.Contact, err)
	}
}

func release(t *testing.T, l leased) {
	t.Helper()
	if err := l.Store.Release(ctxFor(t, 10*time.Second), l.Lease); err != nil {
		t.Fatalf("Release(%s): %v", l.Contact, err)
	}
}

func load(t *testing.T, l leased) *store.Snapshot {
	t.Helper()
	s, err := l.Store.Load(ctxFor(t, 10*time.Second), l.Lease)
	if err != nil {
		t.Fatalf("Load(%s): %v", l.Contact, err)
	}
	return s
}

// ids lists the IDs of items, and payloads when with is set, for messages.
func ids(items []store.Item) string {
	var b strings.Builder
	for i, it := range items {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", it.ID, it.Payload)
	}
	return b.String()
}

func isLost(err error) bool { return errors.Is(err, store.ErrLeaseLost) }
