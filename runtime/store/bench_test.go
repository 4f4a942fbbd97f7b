package store_test

import (
	"context"
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/store"
	"github.com/chatflow-dev/chatflow/runtime/store/redistest"
	"github.com/chatflow-dev/chatflow/runtime/store/storetest"
)

func BenchmarkEnqueueAcquireCommit(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		s := store.NewMemory(store.Options{})
		defer s.Close()
		storetest.BenchEnqueueAcquireCommit(b, s)
	})
	b.Run("redis", func(b *testing.B) {
		url, _ := redistest.Start(b)
		s, err := store.NewRedis(context.Background(), url, store.Options{Namespace: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		storetest.BenchEnqueueAcquireCommit(b, s)
	})
}
