package storetest

import (
	"context"
	"strconv"
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/store"
)

// BenchEnqueueAcquireCommit measures one executor turn end to end: enqueue
// an inbound message, acquire its contact, load, commit the step (state
// and pop), release.
func BenchEnqueueAcquireCommit(b *testing.B, s store.Store) {
	ctx := context.Background()
	payload := []byte(`{"from":"15550001111","text":{"body":"order 12345"},"type":"text"}`)
	state := make([]byte, 512)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		contact := "bench-" + strconv.Itoa(i%64)
		if _, err := s.Enqueue(ctx, contact, store.Item{ID: "wa:" + strconv.Itoa(i), Payload: payload}); err != nil {
			b.Fatal(err)
		}
		for {
			l, err := s.Acquire(ctx)
			if err != nil {
				b.Fatal(err)
			}
			snap, err := s.Load(ctx, l)
			if err != nil {
				b.Fatal(err)
			}
			done := false
			if len(snap.Inbox) > 0 {
				if err := s.Commit(ctx, l, store.Commit{State: state, Consumed: len(snap.Inbox)}); err != nil {
					b.Fatal(err)
				}
				done = true
			}
			if err := s.Release(ctx, l); err != nil {
				b.Fatal(err)
			}
			if done {
				break
			}
		}
	}
}
