package executor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/store/redistest"
	"github.com/chatflow-dev/chatflow/test/procs"
)

func signature(body []byte) string { return meta.Sign(body, appSecret) }

// conversation sends turns messages per contact through the given executors
// (turn k of contact c goes to executors[(c+k) % len]), waiting for each
// reply before the next turn, as a person would. A webhook that fails is
// retried on the next executor, as the channel retries an unacknowledged
// webhook.
func conversation(t *testing.T, r *rig, executors func() []*procs.Executor, contacts, turns int, during func(turn int)) {
	t.Helper()
	var wg sync.WaitGroup
	var failed atomic.Int32
	for c := range contacts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := fmt.Sprintf("3100%04d", c)
			for k := range turns {
				if during != nil && c == 0 {
					during(k)
				}
				body, err := procs.WhatsAppWebhook(phoneID, procs.WhatsAppMessage{
					From: from, Name: "C", ID: fmt.Sprintf("wamid.%s.%d", from, k), Text: fmt.Sprintf("m%d", k)})
				if err != nil {
					t.Error(err)
					return
				}
				delivered := false
				for attempt := 0; attempt < 200 && !delivered; attempt++ {
					ex := executors()
					e := ex[(c+k+attempt)%len(ex)]
					code, err := procs.PostWebhook(context.Background(), r.client, e.URL, "/webhooks/whatsapp", body, appSecret)
					delivered = err == nil && code == http.StatusOK
					if !delivered {
						time.Sleep(50 * time.Millisecond)
					}
				}
				if !delivered {
					failed.Add(1)
					return
				}
				// Wait for this turn's reply before the next turn.
				deadline := time.Now().Add(30 * time.Second)
				for time.Now().Before(deadline) {
					msgs, err := procs.SandboxMessages(context.Background(), r.sandbox, from, 0, 0)
					if err == nil && len(firstOccurrences(procs.Texts(msgs))) > k {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d contacts could not deliver a webhook to any executor", failed.Load())
	}
}

// firstOccurrences drops repeated texts, keeping the first of each.
func firstOccurrences(texts []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range texts {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// checkReplies asserts that every contact got every reply, in order;
// doubled replies fail the test unless allowDuplicates (a killed replica may
// resend what it sent just before dying: sends are at-least-once).
func checkReplies(t *testing.T, r *rig, contacts, turns int, allowDuplicates bool) (duplicates int) {
	t.Helper()
	for c := range contacts {
		from := fmt.Sprintf("3100%04d", c)
		msgs, err := procs.SandboxMessages(context.Background(), r.sandbox, from, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		texts := procs.Texts(msgs)
		unique := firstOccurrences(texts)
		duplicates += len(texts) - len(unique)
		if len(unique) != turns {
			t.Errorf("contact %s: %d distinct replies, want %d: %q", from, len(unique), turns, texts)
			continue
		}
		for k, s := range unique {
			if want := fmt.Sprintf("you said m%d", k); s != want {
				t.Errorf("contact %s: reply %d is %q, want %q (order broken)", from, k, s, want)
				break
			}
		}
	}
	if duplicates > 0 && !allowDuplicates {
		t.Errorf("%d replies were sent twice", duplicates)
	}
	return duplicates
}

func TestTwoReplicasInterleavedContacts(t *testing.T) {
	url, _ := redisURL(t)
	twoReplicas(t, url, 100, 5)
}

// twoReplicas runs contacts × turns through two replicas on the store at
// url, each turn's webhook to one or the other, and checks every reply.
func twoReplicas(t *testing.T, url string, contacts, turns int) {
	t.Helper()
	r := newRig(t)
	a := r.executor(echoFlow, url)
	b := r.executor(echoFlow, url)
	both := func() []*procs.Executor { return []*procs.Executor{a, b} }
	conversation(t, r, both, contacts, turns, nil)
	checkReplies(t, r, contacts, turns, false)
}

// TestTwoReplicasOnRedisCluster: the same interleaved conversations on a
// one-node Redis Cluster, which refuses any script touching keys of two
// slots: the executor's Cluster paths (two-step enqueue, commit and
// release; the shared send-rate bucket) hold up end to end.
func TestTwoReplicasOnRedisCluster(t *testing.T) {
	url, _ := redistest.StartCluster(t)
	twoReplicas(t, url, 30, 5)
}

func TestKilledReplicaLosesNothing(t *testing.T) {
	url, _ := redisURL(t)
	r := newRig(t)
	a := r.executor(echoFlow, url, "--lease-ttl", "2s")
	b := r.executor(echoFlow, url, "--lease-ttl", "2s")
	var mu sync.Mutex
	live := []*procs.Executor{a, b}
	executors := func() []*procs.Executor {
		mu.Lock()
		defer mu.Unlock()
		return append([]*procs.Executor(nil), live...)
	}
	conversation(t, r, executors, 40, 10, func(turn int) {
		switch turn {
		case 3: // kill -9 under load; its webhooks now fail and are retried on b
			a.Kill()
			mu.Lock()
			live = []*procs.Executor{b}
			mu.Unlock()
		case 6: // the replica comes back
			if err := a.Start(); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			live = []*procs.Executor{a, b}
			mu.Unlock()
		}
	})
	dups := checkReplies(t, r, 40, 10, true)
	t.Logf("replies resent after the kill (at-least-once): %d", dups)
}

func TestRedisOutageRefusesThenRecovers(t *testing.T) {
	url, redis := redisURL(t)
	r := newRig(t)
	e := r.executor(echoFlow, url)
	r.send(e, "444", "wamid.before", "before")
	if got := r.waitTexts("444", 1, 10*time.Second); !equal(got, []string{"you said before"}) {
		t.Fatalf("got %q", got)
	}
	redis.Stop()
	body, _ := procs.WhatsAppWebhook(phoneID, procs.WhatsAppMessage{From: "444", Name: "D", ID: "wamid.during", Text: "during"})
	code, err := procs.PostWebhook(context.Background(), r.client, e.URL, "/webhooks/whatsapp", body, appSecret)
	if err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("with Redis down the webhook got %d (%v), want 503 so the channel retries", code, err)
	}
	if resp, err := r.client.Get(e.URL + "/readyz"); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("with Redis down /readyz answered %v %v, want 503", resp, err)
	}
	redis.Restart()
	// The channel retries the unacknowledged webhook.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		code, err = procs.PostWebhook(context.Background(), r.client, e.URL, "/webhooks/whatsapp", body, appSecret)
		if err == nil && code == http.StatusOK {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code != http.StatusOK {
		t.Fatalf("after Redis came back the webhook still got %d", code)
	}
	if got := r.waitTexts("444", 2, 20*time.Second); !equal(got, []string{"you said before", "you said during"}) {
		t.Fatalf("got %q\n%s", got, e.Log())
	}
	// The outage is in the log as JSON records like every other line, the
	// Redis client's own complaints included (log pipelines parse them), and
	// those at most once per five seconds: every pooled connection's dial
	// fails several times a second.
	client := 0
	for _, line := range strings.Split(strings.TrimSpace(e.Log()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("a log line that is not JSON: %q", line)
		}
		if strings.Contains(line, `"redis client: `) {
			client++
		}
	}
	if client > 2 {
		t.Errorf("%d Redis client records for an outage of a few seconds, want at most 2:\n%s", client, e.Log())
	}
}

// TestSendRateSharedAcrossReplicas: an account's send rate holds for the
// flow, not per replica. Eight contacts, half on each of two replicas at 2
// messages/s (bursts of 2): one shared bucket spreads the eight replies
// over about 3 s, two private ones over 1 s. The bound checked is a floor
// on the spread, which a slow machine only widens.
func TestSendRateSharedAcrossReplicas(t *testing.T) {
	url, _ := redisURL(t)
	r := newRig(t)
	a := r.executor(echoFlow, url, "--send-rate", "2")
	b := r.executor(echoFlow, url, "--send-rate", "2")
	const contacts = 8
	r.sendAlternating([]*procs.Executor{a, b}, "66", contacts)
	var first, last time.Time
	for c := range contacts {
		got := r.waitMessages(fmt.Sprintf("66%02d", c), 1, 20*time.Second)
		if len(got) != 1 {
			t.Fatalf("contact %d: %d replies, want 1", c, len(got))
		}
		at := got[0].ReceivedAt
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	if spread := last.Sub(first); spread < 2*time.Second {
		t.Fatalf("8 sends at a shared 2/s (burst 2) spread over %v, want about 3 s: the replicas do not share the rate", spread)
	}
}

// sendAlternating sends "hi" from n contacts (prefix + two digits), each
// through the next replica in turn.
func (r *rig) sendAlternating(replicas []*procs.Executor, prefix string, n int) {
	r.t.Helper()
	for c := range n {
		from := fmt.Sprintf("%s%02d", prefix, c)
		r.send(replicas[c%len(replicas)], from, "wamid."+from, "hi")
	}
}

func TestTimersFireOnceAcrossReplicas(t *testing.T) {
	url, _ := redisURL(t)
	r := newRig(t)
	a := r.executor(timeoutFlow, url)
	b := r.executor(timeoutFlow, url)
	const contacts = 10
	r.sendAlternating([]*procs.Executor{a, b}, "55", contacts)
	time.Sleep(4 * time.Second) // the 1s timers are due; give both replicas time to race for them
	for c := range contacts {
		got := r.waitTexts(fmt.Sprintf("55%02d", c), 2, 10*time.Second)
		if want := []string{"hello", "timed out"}; !equal(got, want) {
			t.Errorf("contact %d: got %q, want %q", c, got, want)
		}
	}
}
