package channelbinding

import (
	"errors"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"

	metachannel "github.com/chatflow-dev/chatflow/runtime/channel/meta"
)

func TestKeepTryingRemoval(t *testing.T) {
	deleted := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	soon := deleted.Add(time.Minute)
	tests := []struct {
		name  string
		err   error
		now   time.Time
		retry bool
		why   string
	}{
		{"Meta unreachable: try again", errors.New("dial tcp: connection refused"), soon, true, ""},
		{"a transient Graph error: try again", fmt.Errorf("wrapped: %w", &metachannel.GraphError{Code: 2, IsTransient: true}), soon, true, ""},
		{"a revoked token never succeeds", &metachannel.GraphError{Code: 190, Message: "Invalid OAuth access token"}, soon, false, "the Graph API refused it"},
		{"no Secret, no token", apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, "wa"), soon, false, "the credentials Secret is gone"},
		{"unreachable for the whole grace", errors.New("timeout"), deleted.Add(overrideRemovalGrace), false, "gave up after 10m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			retry, why := keepTryingRemoval(tt.err, deleted, tt.now)
			if retry != tt.retry || why != tt.why {
				t.Errorf("keepTryingRemoval = %v, %q; want %v, %q", retry, why, tt.retry, tt.why)
			}
		})
	}
}

func TestForgetKeepsTombstonesForAWhile(t *testing.T) {
	r := &Reconciler{}
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	r.overrides.Store(types.UID("live"), registration{webhook: v1alpha1.RegisteredWebhook{URL: "https://chat.example.com/webhooks/whatsapp"}})
	r.forget("old", now)
	r.forget("recent", now.Add(tombstoneTTL))
	if _, ok := r.registration(bindingWithUID("old")); !ok {
		t.Fatal("a removal is forgotten before tombstoneTTL")
	}
	r.forget("new", now.Add(tombstoneTTL+time.Second))
	for uid, want := range map[types.UID]bool{"live": true, "old": false, "recent": true, "new": true} {
		if _, ok := r.registration(bindingWithUID(uid)); ok != want {
			t.Errorf("%s remembered: %v, want %v", uid, ok, want)
		}
	}
	if m, _ := r.registration(bindingWithUID("live")); !m.removed.IsZero() {
		t.Errorf("a live binding's registration was marked removed")
	}
}

func bindingWithUID(uid types.UID) *v1alpha1.ChannelBinding {
	b := &v1alpha1.ChannelBinding{}
	b.UID = uid
	return b
}
