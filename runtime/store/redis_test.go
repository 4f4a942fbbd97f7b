package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/store"
	"github.com/chatflow-dev/chatflow/runtime/store/redistest"
	"github.com/chatflow-dev/chatflow/runtime/store/storetest"
)

// redisReplicas makes a new store (a replica) per call, all on one server.
func redisReplicas(url string) storetest.Factory {
	return func(t *testing.T, opts store.Options) store.Store {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := store.NewRedis(ctx, url, opts)
		if err != nil {
			t.Fatalf("NewRedis: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
}

func TestRedisContract(t *testing.T) {
	t.Parallel()
	url, _ := redistest.Start(t)
	storetest.Run(t, redisReplicas(url))
}

// TestRedisClusterContract runs the contract on a one-node Redis Cluster,
// which refuses any command or script touching keys of two slots: it proves
// the key layout works on Redis Cluster.
func TestRedisClusterContract(t *testing.T) {
	t.Parallel()
	url, _ := redistest.StartCluster(t)
	storetest.Run(t, redisReplicas(url))
}

func TestRedisRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	if _, err := store.NewRedis(ctx, "redis://127.0.0.1:1/0", store.Options{}); err == nil {
		t.Error("NewRedis with nothing listening: no error")
	}
	if _, err := store.Open(ctx, "redis://127.0.0.1:1/0", store.Options{Namespace: "a{b}"}); err == nil {
		t.Error("a namespace with braces: no error")
	}
	if _, err := store.Open(ctx, "redis://127.0.0.1:1/x", store.Options{}); err == nil {
		t.Error("a bad URL: no error")
	}
}

// TestRedisSurvivesRestart stops Redis (cleanly, then by SIGKILL) while two
// replicas are working: calls must fail fast while it is down, and after the
// restart the work resumes with nothing lost, duplicated or reordered.
func TestRedisSurvivesRestart(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"shutdown", "kill"} {
		t.Run(mode, func(t *testing.T) {
			url, srv := redistest.Start(t, redistest.FsyncAlways)
			testRestart(t, url, srv, mode)
		})
	}
}

// TestRedisHungFailsFast freezes Redis: calls must give up by their
// context deadline (or the client's 3s timeouts), never hang.
func TestRedisHungFailsFast(t *testing.T) {
	t.Parallel()
	url, srv := redistest.Start(t)
	s := redisReplicas(url)(t, store.Options{Namespace: "hung"})
	srv.Pause()
	defer srv.Resume()
	for name, call := range map[string]func(context.Context) error{
		"Ping": s.Ping,
		"Enqueue": func(ctx context.Context) error {
			_, err := s.Enqueue(ctx, "c", store.Item{ID: "x"})
			return err
		},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		start := time.Now()
		err := call(ctx)
		cancel()
		if err == nil {
			t.Errorf("%s on a hung Redis: no error", name)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s on a hung Redis took %v with a 1s deadline", name, d)
		}
	}
	srv.Resume()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after Resume: %v", err)
	}
}

func testRestart(t *testing.T, url string, srv *redistest.Server, mode string) {
	const (
		contacts = 20
		items    = 10
	)
	newStore := redisReplicas(url)
	opts := store.Options{Namespace: "restart", LeaseTTL: 2 * time.Second}
	replicas := []store.Store{newStore(t, opts), newStore(t, opts)}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	var (
		mu     sync.Mutex
		latest = map[string]string{} // contact -> state last loaded or committed
		steps  int
	)
	want := ""
	for i := range items {
		want += fmt.Sprintf("%d,", i)
	}
	done := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if latest["timer"] != "T," {
			return false
		}
		for c := range contacts {
			if latest[fmt.Sprintf("c%d", c)] != want {
				return false
			}
		}
		return true
	}
	var wg sync.WaitGroup
	for _, s := range replicas {
		for range 2 {
			wg.Go(func() { restartWorker(ctx, s, &mu, latest, &steps) })
		}
	}
	enqueueAll := func(from, to int) {
		for i := from; i < to; i++ {
			for c := range contacts {
				contact := fmt.Sprintf("c%d", c)
				it := store.Item{ID: fmt.Sprintf("m%d", i), Payload: fmt.Appendf(nil, "%d,", i)}
				for {
					if _, err := replicas[(c+i)%2].Enqueue(ctx, contact, it); err == nil {
						break
					}
					time.Sleep(50 * time.Millisecond) // the webhook's sender retries
				}
			}
		}
	}
	// A timer armed now falls due while Redis is down or restarting.
	if _, err := replicas[0].Enqueue(ctx, "timer", store.Item{ID: "arm", Payload: []byte("arm,")}); err != nil {
		t.Fatal(err)
	}
	enqueueAll(0, items/2)
	for { // let the workers get going, then pull the plug
		mu.Lock()
		n := steps
		mu.Unlock()
		if n >= 20 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if mode == "kill" {
		srv.Kill()
	} else {
		srv.Stop()
	}
	for _, s := range replicas {
		start := time.Now()
		cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
		if _, err := s.Enqueue(cctx, "c0", store.Item{ID: "while-down"}); err == nil {
			t.Errorf("Enqueue while Redis is down: no error")
		}
		if err := s.Ping(cctx); err == nil {
			t.Errorf("Ping while Redis is down: no error")
		}
		ccancel()
		d := time.Since(start)
		t.Logf("while Redis is down, Enqueue and Ping failed after %v", d)
		if d > 15*time.Second {
			t.Errorf("Enqueue and Ping took %v to fail while Redis is down", d)
		}
	}
	time.Sleep(500 * time.Millisecond)
	srv.Restart()
	enqueueAll(items/2, items)
	for !done() {
		if ctx.Err() != nil {
			mu.Lock()
			t.Fatalf("work did not finish after the restart; states: %v", latest)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Second) // a second firing of the timer would show by now
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if got := latest["timer"]; got != "T," {
		t.Errorf("timer contact: %q, want the timer once (T,)", got)
	}
	for c := range contacts {
		if got := latest[fmt.Sprintf("c%d", c)]; got != want {
			t.Errorf("c%d: %q, want %q", c, got, want)
		}
	}
}

// restartWorker is the executor's loop, tolerant of a Redis outage: a
// failed Commit is retried as is (it is idempotent), ErrLeaseLost drops the
// turn.
func restartWorker(ctx context.Context, s store.Store, mu *sync.Mutex, latest map[string]string, steps *int) {
	pause := func() { time.Sleep(50 * time.Millisecond) }
	for ctx.Err() == nil {
		l, err := s.Acquire(ctx)
		if err != nil {
			pause()
			continue
		}
		snap, err := s.Load(ctx, l)
		if err != nil {
			_ = s.Release(ctx, l)
			pause()
			continue
		}
		state := string(snap.State)
		mu.Lock()
		latest[l.Contact] = state
		mu.Unlock()
	items:
		for _, it := range snap.Inbox {
			next := state + string(it.Payload)
			c := store.Commit{State: []byte(next), Consumed: 1}
			if next == "arm," {
				next = state
				c = store.Commit{State: []byte(next), Consumed: 1, SetTimers: []store.Timer{
					{ID: "t", At: time.Now().Add(1500 * time.Millisecond), Payload: []byte("T,")},
				}}
			}
			for {
				err := s.Commit(ctx, l, c)
				if err == nil {
					break
				}
				if errors.Is(err, store.ErrLeaseLost) || ctx.Err() != nil {
					break items
				}
				pause()
			}
			state = next
			mu.Lock()
			latest[l.Contact] = state
			*steps++
			mu.Unlock()
		}
		for s.Release(ctx, l) != nil && ctx.Err() == nil {
			pause()
		}
	}
}

// TestRedisSharedRateBucket: replicas on one Redis (single and Cluster)
// draw the tokens of one account's bucket together, and are told how long
// until a batch is free again; other buckets are untouched.
func TestRedisSharedRateBucket(t *testing.T) {
	t.Parallel()
	single, singleSrv := redistest.Start(t)
	cluster, clusterSrv := redistest.StartCluster(t)
	type tokens interface {
		Take(ctx context.Context, bucket string, perSecond float64, burst, n int) (int, time.Duration, error)
	}
	servers := map[string]*redistest.Server{single: singleSrv, cluster: clusterSrv}
	for name, url := range map[string]string{"single": single, "cluster": cluster} {
		t.Run(name, func(t *testing.T) {
			a := redisReplicas(url)(t, store.Options{Namespace: "rate-a"}).(tokens)
			b := redisReplicas(url)(t, store.Options{Namespace: "rate-b"}).(tokens)
			ctx := context.Background()
			// One token every 10 s, bursts of 10: nothing refills while the
			// test runs, however slow the machine.
			const rate, burst = 0.1, 10
			if got, _, err := a.Take(ctx, "WhatsApp:1", rate, burst, 6); err != nil || got != 6 {
				t.Fatalf("first take: %d %v, want 6", got, err)
			}
			if got, _, err := b.Take(ctx, "WhatsApp:1", rate, burst, 8); err != nil || got != 4 {
				t.Fatalf("the other replica's take: %d %v, want the 4 left", got, err)
			}
			got, wait, err := a.Take(ctx, "WhatsApp:1", rate, burst, 2)
			if err != nil || got != 0 {
				t.Fatalf("take from an empty bucket: %d %v, want 0", got, err)
			}
			if wait <= 10*time.Second || wait > 20*time.Second {
				t.Errorf("wait for 2 tokens at one per 10 s: %v, want just under 20 s", wait)
			}
			if got, _, err := b.Take(ctx, "WhatsApp:2", rate, burst, 10); err != nil || got != 10 {
				t.Errorf("another account's bucket: %d %v, want 10", got, err)
			}
			if _, _, err := a.Take(ctx, "WhatsApp:1", 0, burst, 1); err == nil {
				t.Errorf("a rate of 0: no error")
			}
			// A bucket set far ahead by something else that reaches Redis
			// throttles the account for one burst at most, not for ever.
			for _, forged := range []string{"99999999999999999999", "not a number"} {
				if _, err := servers[url].Do("SET", "chatflow:rate:{WhatsApp:3}", forged); err != nil {
					t.Fatal(err)
				}
				_, wait, err := a.Take(ctx, "WhatsApp:3", 10, 10, 1)
				if err != nil || wait > 2*time.Second {
					t.Errorf("a forged bucket %q: wait %v %v, want at most one burst (1s)", forged, wait, err)
				}
			}
		})
	}
}

// TestForeignItemsAreRefused: anything that reaches Redis without the
// flow's key — a replica of another flow, any pod on the network — can
// write the flow's keys, but what it writes is not taken for the flow's
// own: queued items, fired timers and states all come back forged, and a
// forged dead letter cannot be retried. On a single Redis and a Cluster.
func TestForeignItemsAreRefused(t *testing.T) {
	t.Parallel()
	single, singleSrv := redistest.Start(t)
	cluster, clusterSrv := redistest.StartCluster(t)
	for name, c := range map[string]struct {
		url string
		srv *redistest.Server
	}{"single": {single, singleSrv}, "cluster": {cluster, clusterSrv}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			ns := "team-a/orders"
			newStore := redisReplicas(c.url)
			flow := newStore(t, store.Options{Namespace: ns, ItemKey: []byte("the flow's key"), LeaseTTL: time.Minute})
			intruder := newStore(t, store.Options{Namespace: ns, ItemKey: []byte("a guess"), LeaseTTL: time.Minute})

			// Queued by the intruder's code path, and raw through the protocol.
			if _, err := intruder.Enqueue(ctx, "c", store.Item{ID: "evil", Payload: []byte(`{"send":"spam"}`)}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.srv.Do("RPUSH", "chatflow:{"+ns+"}:c:c:inbox", "3:raw0123456789abcdef{}"); err != nil {
				t.Fatal(err)
			}
			if _, err := flow.Enqueue(ctx, "c", store.Item{ID: "own", Payload: []byte("hello")}); err != nil {
				t.Fatal(err)
			}
			l := acquireContact(t, ctx, flow, "c")
			snap, err := flow.Load(ctx, l)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, it := range snap.Inbox {
				got = append(got, fmt.Sprintf("%s forged=%v", it.ID, it.Forged))
			}
			if want := "evil forged=true, raw forged=true, own forged=false"; strings.Join(got, ", ") != want {
				t.Fatalf("inbox %q, want %q", strings.Join(got, ", "), want)
			}
			for range 2 {
				if err := flow.Commit(ctx, l, store.Commit{Consumed: 1, DeadLetter: "forged"}); err != nil {
					t.Fatal(err)
				}
			}
			if err := flow.Commit(ctx, l, store.Commit{State: []byte("mine"), Consumed: 1, Release: true}); err != nil {
				t.Fatal(err)
			}
			dl, err := flow.DeadLetters(ctx, 10)
			if err != nil || len(dl) != 2 || !dl[0].Item.Forged || !dl[1].Item.Forged {
				t.Fatalf("dead letters %+v %v, want the two forged items", dl, err)
			}
			if err := flow.RetryDeadLetter(ctx, dl[0].ID); !errors.Is(err, store.ErrForged) {
				t.Errorf("retrying a forged dead letter: %v, want ErrForged", err)
			}

			// A state and a timer written with another key.
			if _, err := intruder.Enqueue(ctx, "d", store.Item{ID: "x"}); err != nil {
				t.Fatal(err)
			}
			il := acquireContact(t, ctx, intruder, "d")
			if err := intruder.Commit(ctx, il, store.Commit{State: []byte(`{"vars":{"admin":true}}`), Consumed: 1,
				SetTimers: []store.Timer{{ID: "wake", At: time.Now(), Payload: []byte("p")}}, Release: true}); err != nil {
				t.Fatal(err)
			}
			l = acquireContact(t, ctx, flow, "d")
			snap, err = flow.Load(ctx, l)
			if err != nil {
				t.Fatal(err)
			}
			if snap.State != nil || !snap.StateForged {
				t.Errorf("a foreign state read as %q (forged %v), want nil and forged", snap.State, snap.StateForged)
			}
			if len(snap.Inbox) != 1 || snap.Inbox[0].ID != "timer:wake" || !snap.Inbox[0].Forged {
				t.Errorf("a foreign timer fired as %+v, want forged timer:wake", snap.Inbox)
			}
		})
	}
}

// acquireContact leases contact, releasing any other contact leased first.
func acquireContact(t *testing.T, ctx context.Context, s store.Store, contact string) *store.Lease {
	t.Helper()
	for {
		l, err := s.Acquire(ctx)
		if err != nil {
			t.Fatalf("acquiring %s: %v", contact, err)
		}
		if l.Contact == contact {
			return l
		}
		_ = s.Release(ctx, l)
	}
}

// TestRedisFullIsReported: a Redis at maxmemory with the noeviction policy
// the chart sets refuses writes instead of evicting sessions; the store
// reports it as ErrStoreFull (the executor answers 503 and counts it), and
// nothing already stored is lost.
func TestRedisFullIsReported(t *testing.T) {
	t.Parallel()
	url, _ := redistest.Start(t, "maxmemory 4mb", "maxmemory-policy noeviction")
	s := redisReplicas(url)(t, store.Options{Namespace: "full", MaxInbox: 1 << 20})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	big := make([]byte, 256<<10)
	stored := 0
	var err error
	for i := 0; i < 200; i++ {
		if _, err = s.Enqueue(ctx, fmt.Sprintf("c%d", i%4), store.Item{ID: fmt.Sprint(i), Payload: big}); err != nil {
			break
		}
		stored++
	}
	if !errors.Is(err, store.ErrStoreFull) {
		t.Fatalf("after %d items of 256 KiB in 4 MiB: %v, want ErrStoreFull", stored, err)
	}
	st, serr := s.Stats(ctx)
	if serr != nil || st.InboxItems != int64(stored) {
		t.Errorf("after the refusal the inboxes hold %d items (%v), want the %d stored", st.InboxItems, serr, stored)
	}
}
