package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatflow-dev/chatflow/runtime/store"
	"github.com/chatflow-dev/chatflow/runtime/store/redistest"
)

// campaignStores are the stores the ledger contract runs on: memory,
// a single Redis and a one-node Redis Cluster (which refuses a script
// touching two slots).
func campaignStores(t *testing.T) map[string]func(t *testing.T) store.Store {
	single, _ := redistest.Start(t)
	cluster, _ := redistest.StartCluster(t)
	redisOn := func(url string) func(t *testing.T) store.Store {
		return func(t *testing.T) store.Store {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := store.NewRedis(ctx, url, store.Options{Namespace: "ns/" + t.Name()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		}
	}
	return map[string]func(t *testing.T) store.Store{
		"memory": func(t *testing.T) store.Store {
			s := store.NewMemory(store.Options{})
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
		"redis":         redisOn(single),
		"redis-cluster": redisOn(cluster),
	}
}

func TestCampaignLedger(t *testing.T) {
	ctx := context.Background()
	for name, open := range campaignStores(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			l, ok := s.(store.Campaigns)
			if !ok {
				t.Fatalf("%T does not keep campaign ledgers", s)
			}
			want := func(c store.CampaignCounts) {
				t.Helper()
				got, err := l.CampaignCounts(ctx, "c1")
				if err != nil || got != c {
					t.Fatalf("counts = %+v, %v; want %+v", got, err, c)
				}
			}
			want(store.CampaignCounts{})

			before, err := l.CampaignMark(ctx, "c1", store.CampaignAccepted, "a", "b", "c")
			if err != nil || fmt.Sprint(before) != "[0 0 0]" {
				t.Fatalf("first mark: %v, %v", before, err)
			}
			// Marking again changes nothing and says where they were.
			before, _ = l.CampaignMark(ctx, "c1", store.CampaignAccepted, "a", "b")
			if fmt.Sprint(before) != "[1 1]" {
				t.Errorf("marking again: %v", before)
			}
			want(store.CampaignCounts{Accepted: 3})

			_, _ = l.CampaignMark(ctx, "c1", store.CampaignStarted, "a", "b")
			_, _ = l.CampaignMark(ctx, "c1", store.CampaignDone, "a")
			_, _ = l.CampaignMark(ctx, "c1", store.CampaignFailed, "b")
			want(store.CampaignCounts{Accepted: 3, Started: 2, Done: 1, Failed: 1})

			// Only forward: a started or ended contact stays; the first
			// final state wins.
			_, _ = l.CampaignMark(ctx, "c1", store.CampaignAccepted, "a")
			_, _ = l.CampaignMark(ctx, "c1", store.CampaignStarted, "b")
			_, _ = l.CampaignMark(ctx, "c1", store.CampaignFailed, "a")
			want(store.CampaignCounts{Accepted: 3, Started: 2, Done: 1, Failed: 1})

			states, err := l.CampaignStates(ctx, "c1", "a", "b", "c", "d")
			if err != nil || fmt.Sprint(states) != "[3 4 1 0]" {
				t.Errorf("states = %v, %v; want [done failed accepted none]", states, err)
			}
			// A contact may skip states (a run that starts and ends in one turn).
			_, _ = l.CampaignMark(ctx, "c1", store.CampaignDone, "d")
			want(store.CampaignCounts{Accepted: 4, Started: 3, Done: 2, Failed: 1})

			// Campaigns are apart.
			if c, _ := l.CampaignCounts(ctx, "c2"); c != (store.CampaignCounts{}) {
				t.Errorf("another campaign counts %+v", c)
			}
			if _, err := l.CampaignMark(ctx, "", store.CampaignAccepted, "a"); err == nil {
				t.Error("an empty campaign id: no error")
			}
		})
	}
}

// TestCampaignLedgerConcurrentReplicas marks the same contacts from many
// goroutines on two replicas at once: every contact is counted once.
func TestCampaignLedgerConcurrentReplicas(t *testing.T) {
	ctx := context.Background()
	url, _ := redistest.Start(t)
	var replicas []store.Campaigns
	for range 2 {
		s, err := store.NewRedis(ctx, url, store.Options{Namespace: "ns/flow"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		replicas = append(replicas, s.(store.Campaigns))
	}
	const contacts = 500
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			l := replicas[g%2]
			for i := range contacts {
				c := fmt.Sprintf("c%d", i)
				_, _ = l.CampaignMark(ctx, "camp", store.CampaignAccepted, c)
				_, _ = l.CampaignMark(ctx, "camp", store.CampaignStarted, c)
				st := store.CampaignDone
				if i%5 == 0 {
					st = store.CampaignFailed
				}
				_, _ = l.CampaignMark(ctx, "camp", st, c)
			}
		})
	}
	wg.Wait()
	got, err := replicas[0].CampaignCounts(ctx, "camp")
	want := store.CampaignCounts{Accepted: contacts, Started: contacts, Done: contacts * 4 / 5, Failed: contacts / 5}
	if err != nil || got != want {
		t.Errorf("counts = %+v, %v; want %+v", got, err, want)
	}
}

// TestCampaignLedgerHoldsNoContactIDs: the ledger names contacts by a hash
// keyed with the flow's item key, so what Redis keeps of a campaign (for
// 30 days, past an erasure of the contact) names nobody; replicas with the
// same key agree, and a store with another key does not find the contact.
func TestCampaignLedgerHoldsNoContactIDs(t *testing.T) {
	ctx := context.Background()
	url, _ := redistest.Start(t)
	open := func(key string) store.Campaigns {
		s, err := store.NewRedis(ctx, url, store.Options{Namespace: "shop/promo", ItemKey: []byte(key)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s.(store.Campaigns)
	}
	const contact = "15551234567"
	if _, err := open("k1").CampaignMark(ctx, "spring", store.CampaignDone, contact); err != nil {
		t.Fatal(err)
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys %v, %v", keys, err)
	}
	for _, k := range keys {
		if strings.Contains(k, contact) {
			t.Errorf("key %q names the contact", k)
		}
		if typ, _ := rdb.Type(ctx, k).Result(); typ == "hash" {
			h, err := rdb.HGetAll(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			for f, v := range h {
				if strings.Contains(f, contact) || strings.Contains(v, contact) {
					t.Errorf("hash %q holds the contact: %q = %q", k, f, v)
				}
			}
		}
	}
	if st, err := open("k1").CampaignStates(ctx, "spring", contact); err != nil || st[0] != store.CampaignDone {
		t.Errorf("a replica with the same key: %v, %v; want done", st, err)
	}
	if st, err := open("k2").CampaignStates(ctx, "spring", contact); err != nil || st[0] != store.CampaignNone {
		t.Errorf("a store with another key: %v, %v; want none", st, err)
	}
}
