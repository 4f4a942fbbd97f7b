//go:build benchcampaign

package campaignload

import (
	"flag"
	"fmt"
	"testing"
	"time"
)

var (
	benchContacts = flag.Int("contacts", 100000, "contacts of the campaign")
	benchRates    = flag.String("rates", "1000,10000", "campaign rates to run, one campaign each, comma-separated")
	benchWorkers  = flag.Int("workers", 32, "executor workers")
)

// TestCampaignBench measures, per rate, how fast a campaign of -contacts
// hands its contacts to one executor replica and how fast their runs end
// (each sends a template to the sandbox), and the manager's memory. Run it
// with `make bench-campaign`; it fails only when a campaign does not
// complete, never on a timing.
func TestCampaignBench(t *testing.T) {
	r := Start(t, Options{SendRate: 10000, Workers: *benchWorkers})
	var rates []int32
	for _, s := range splitComma(*benchRates) {
		var v int32
		if _, err := fmt.Sscan(s, &v); err != nil || v < 1 {
			t.Fatalf("-rates: %q", s)
		}
		rates = append(rates, v)
	}
	baseRSS, _ := RSS(r.Manager.Process.Pid)
	for i, rate := range rates {
		name := fmt.Sprintf("bench-%d", i)
		r.Audience(name, *benchContacts)
		sentBefore := len(r.Sent())
		start := time.Now()
		c := r.Campaign(name, name, rate)
		var handedOver, completed time.Duration
		var maxRSS int64
		deadline := start.Add(time.Duration(*benchContacts/int(rate)+300) * time.Second)
		for time.Now().Before(deadline) {
			st := r.Get(c).Status
			if rss, err := RSS(r.Manager.Process.Pid); err == nil && rss > maxRSS {
				maxRSS = rss
			}
			if handedOver == 0 && st.Started+st.Skipped.Total >= int64(*benchContacts) {
				handedOver = time.Since(start)
			}
			if Complete(r.Get(c)) {
				completed = time.Since(start)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if completed == 0 {
			t.Fatalf("rate %d: the campaign did not complete: %+v\n%s", rate, r.Get(c).Status, r.ManagerLog())
		}
		st := r.Get(c).Status
		sent := r.Sent()[sentBefore:]
		// The start rate: sends per second between the first and the last.
		span := sent[len(sent)-1].ReceivedAt.Sub(sent[0].ReceivedAt).Seconds()
		peak, _ := PeakRSS(r.Manager.Process.Pid)
		execPeak, _ := PeakRSS(r.Executor.Pid())
		t.Logf("rate %d: %d contacts handed over in %v (%.0f/s), all runs ended after %v (%.0f/s); sends %.0f/s; done %d failed %d",
			rate, *benchContacts, handedOver.Round(time.Millisecond), float64(*benchContacts)/handedOver.Seconds(),
			completed.Round(time.Millisecond), float64(*benchContacts)/completed.Seconds(), float64(len(sent))/span, st.Done, st.Failed)
		t.Logf("manager RSS: %.1f MiB before, up to %.1f MiB during (peak of the process %.1f MiB); executor peak %.1f MiB",
			float64(baseRSS)/(1<<20), float64(maxRSS)/(1<<20), float64(peak)/(1<<20), float64(execPeak)/(1<<20))
		fmt.Printf("BENCH contacts=%d rate=%d handover_per_s=%.0f complete_per_s=%.0f sends_per_s=%.0f manager_rss_mib=%.1f manager_peak_rss_mib=%.1f executor_peak_rss_mib=%.1f\n",
			*benchContacts, rate, float64(*benchContacts)/handedOver.Seconds(), float64(*benchContacts)/completed.Seconds(),
			float64(len(sent))/span, float64(maxRSS)/(1<<20), float64(peak)/(1<<20), float64(execPeak)/(1<<20))
	}
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}
