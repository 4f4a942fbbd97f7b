package executor

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRunRegistration(t *testing.T) {
	calls := 0
	e := &Executor{flowName: "f", registerWebhook: func(context.Context) error {
		calls++
		if calls < 2 {
			return errors.New("the ingress is not ready")
		}
		return nil
	}}
	done := make(chan struct{})
	go func() { e.runRegistration(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no retry within 10s")
	}
	if calls != 2 {
		t.Fatalf("%d calls", calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.registerWebhook = func(context.Context) error { cancel(); return errors.New("down") }
	e.runRegistration(ctx) // returns once ctx is done
}
