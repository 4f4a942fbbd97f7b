package campaignload

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/sandbox"
)

// TestCampaignLoad runs a campaign of 10,000 contacts at 400 per second
// while it is suspended and resumed, the manager is killed and restarted,
// and the executor is killed and restarted: every contact is started once
// and gets its template; the sends never exceed the rate (but for the
// executor catching up with what it held when killed); the counts add up.
func TestCampaignLoad(t *testing.T) {
	const (
		contacts = 10000
		rate     = 400
		workers  = 16
	)
	r := Start(t, Options{SendRate: 1000, Workers: workers})
	r.Audience("ten-thousand", contacts)
	c := r.Campaign("spring", "ten-thousand", rate)
	started := func(atLeast int64) func() string {
		return func() string {
			if n := r.Get(c).Status.Started; n < atLeast {
				return fmt.Sprintf("started %d", n)
			}
			return ""
		}
	}

	r.Eventually(2*time.Minute, "2,000 contacts started", started(2000))
	t.Log("suspending")
	r.Update(c, func(c *v1alpha1.Campaign) { c.Spec.Suspend = true })
	r.Eventually(30*time.Second, "suspended", func() string {
		if cond := readyReason(r.Get(c)); cond != v1alpha1.ReasonSuspended {
			return "Ready reason " + cond
		}
		return ""
	})
	time.Sleep(300 * time.Millisecond) // a batch handed over before the suspension
	held, sentHeld := r.Get(c).Status.Started, len(r.Sent())
	time.Sleep(2 * time.Second)
	if n, m := r.Get(c).Status.Started, len(r.Sent()); n != held || m != sentHeld {
		t.Fatalf("while suspended: started %d → %d, sends %d → %d", held, n, sentHeld, m)
	}
	r.Update(c, func(c *v1alpha1.Campaign) { c.Spec.Suspend = false })

	r.Eventually(2*time.Minute, "4,000 contacts started", started(4000))
	t.Log("killing the manager")
	r.KillManager()
	time.Sleep(time.Second)
	r.StartManager()

	r.Eventually(2*time.Minute, "6,000 contacts started", started(6000))
	t.Log("killing the executor")
	killed := time.Now()
	r.Executor.Kill()
	time.Sleep(time.Second)
	if err := r.Executor.Start(); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()

	r.Eventually(3*time.Minute, "the campaign completes", func() string {
		if c := r.Get(c); !Complete(c) {
			return fmt.Sprintf("status %+v", c.Status)
		}
		return ""
	})
	st := r.Get(c).Status
	if st.Total != contacts || st.Started != contacts || st.Done != contacts || st.Failed != 0 || st.Skipped.Total != 0 || st.Progress != 100 {
		t.Errorf("status %+v", st)
	}
	counts, err := r.Counts(c)
	if err != nil || counts.Accepted != contacts || counts.Done != contacts {
		t.Errorf("the executor's ledger: %+v, %v; want every contact accepted once and done", counts, err)
	}

	// Every contact got its template; a second one only where the killed
	// executor was in the middle of that contact's turn (sends are
	// at-least-once), at most one per worker.
	sent := r.Sent()
	per := map[string]int{}
	for _, m := range sent {
		per[m.To]++
	}
	extra := 0
	for i := range contacts {
		switch n := per[Contact(i)]; {
		case n == 0:
			t.Errorf("contact %s got no message", Contact(i))
		case n > 1:
			extra += n - 1
		}
	}
	if extra > workers {
		t.Errorf("%d messages beyond one per contact: more than the %d turns the killed executor could have had in flight", extra, workers)
	}
	if len(per) != contacts {
		t.Errorf("%d recipients, want %d", len(per), contacts)
	}
	t.Logf("%d messages for %d contacts (%d resent after the executor kill)", len(sent), contacts, extra)

	// The rate: in every 5-second window, at most 5 s at the rate, plus the
	// campaign's burst (a tenth of a second of it) and a quarter of a
	// second for the executor's processing, which can bring sends handed
	// over just before a window into it. The seconds after the executor's
	// restart, when it starts what it held, are left out.
	const window = 5 * time.Second
	limit := int(window.Seconds())*rate + rate/10 + rate/4
	if worst, at := busiestWindow(sent, window, killed, restarted.Add(3*time.Second)); worst > limit {
		t.Errorf("%d sends in the %v from %s: more than %d at %d per second", worst, window, at.Format(time.RFC3339Nano), limit, rate)
	} else {
		t.Logf("busiest %v: %d sends (limit %d)", window, worst, limit)
	}
	first, last := sent[0].ReceivedAt, sent[len(sent)-1].ReceivedAt
	if avg := float64(len(sent)) / last.Sub(first).Seconds(); avg > rate*1.05 {
		t.Errorf("%.0f sends per second on average, above the rate %d", avg, rate)
	}
}

func readyReason(c *v1alpha1.Campaign) string {
	for _, cond := range c.Status.Conditions {
		if cond.Type == v1alpha1.ConditionReady {
			return cond.Reason
		}
	}
	return ""
}

// busiestWindow is the most sends within any window of length w that does
// not overlap [skipFrom, skipTo], and where it starts.
func busiestWindow(recs []sandbox.Record, w time.Duration, skipFrom, skipTo time.Time) (int, time.Time) {
	var ts []time.Time
	for _, r := range recs {
		ts = append(ts, r.ReceivedAt)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	best, at := 0, time.Time{}
	j := 0
	for i := range ts {
		for j < len(ts) && ts[j].Sub(ts[i]) < w {
			j++
		}
		end := ts[i].Add(w)
		if !(end.Before(skipFrom) || ts[i].After(skipTo)) {
			continue
		}
		if n := j - i; n > best {
			best, at = n, ts[i]
		}
	}
	return best, at
}
