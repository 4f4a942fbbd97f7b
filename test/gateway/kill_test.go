package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/test/procs"
)

// TestGatewayReplicaKilledUnderLoad: two gateway replicas share the load;
// one is killed with SIGKILL mid-way. A sender that, like Meta, redelivers
// what was not answered 200 loses nothing: every message is answered, and
// answered once (what the killed replica had already forwarded is
// deduplicated by the executor).
func TestGatewayReplicaKilledUnderLoad(t *testing.T) {
	const contacts, turns = 20, 15
	r := newRig(t, flow{name: "orders", channel: "WhatsApp", account: "111"})
	gws := []*procs.Gateway{r.gateway(), r.gateway()}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	var acked, retries atomic.Int64
	killed := make(chan struct{})
	go func() {
		for acked.Load() < contacts*turns/3 {
			time.Sleep(time.Millisecond)
		}
		gws[0].Kill()
		close(killed)
	}()
	var wg sync.WaitGroup
	for c := range contacts {
		wg.Go(func() {
			from := fmt.Sprintf("1555100%02d", c)
			for k := range turns {
				body, err := procs.WhatsAppWebhook("111", procs.WhatsAppMessage{
					From: from, Name: "Load", ID: fmt.Sprintf("wamid.%s.%d", from, k), Text: fmt.Sprintf("m%d", k)})
				if err != nil {
					t.Error(err)
					return
				}
				for attempt := 0; ; attempt++ {
					g := gws[(c+k+attempt)%2]
					code, err := procs.PostWebhook(context.Background(), client, g.URL, "/webhooks/whatsapp", body, appSecret)
					if err == nil && code == http.StatusOK {
						acked.Add(1)
						break
					}
					retries.Add(1)
					if attempt > 50 {
						t.Errorf("message %s/%d: not accepted after %d attempts (%d, %v)", from, k, attempt, code, err)
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	<-killed
	for c := range contacts {
		from := fmt.Sprintf("1555100%02d", c)
		want := make([]string, turns)
		for k := range want {
			want[k] = fmt.Sprintf("orders: you said m%d", k)
		}
		r.expect(from, want...)
	}
	t.Logf("%d messages acknowledged, %d redeliveries after the kill", acked.Load(), retries.Load())
}
