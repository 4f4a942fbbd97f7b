package channelbinding

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/controllers/policy"
	"github.com/chatflow-dev/chatflow/runtime/channel"
	metachannel "github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/channel/whatsapp"
)

// overrideRetry is how long a refused override registration waits before
// the next attempt (Meta's handshake fails while the gateway does not
// know the binding's verify token yet, or its ingress is not ready).
const overrideRetry = 30 * time.Second

// overrideWanted says whether a binding asks for a number's override.
func overrideWanted(b *v1alpha1.ChannelBinding) bool {
	return b.Spec.WebhookOverride && b.Spec.Channel == v1alpha1.ChannelWhatsApp
}

// reconcileOverride registers the gateway's URL as the WhatsApp number's
// override callback when the binding asks for it and can serve, again when
// the URL or the credentials changed, and removes it when the binding no
// longer asks. It reports in the WebhookOverride condition and remembers
// what it registered in status.webhookOverride.
func (r *Reconciler) reconcileOverride(ctx context.Context, b *v1alpha1.ChannelBinding, in policy.BindingInput) (ctrl.Result, error) {
	memo, remembered := r.registration(b)
	if remembered && !memo.removed.IsZero() {
		return ctrl.Result{}, nil // a stale read of a binding that went
	}
	registered := b.Status.WebhookOverride
	if registered == nil && remembered {
		// The cache has not caught up with the status patch of the
		// registration this manager just made: trust what it made
		// rather than registering again.
		registered = new(memo.webhook)
	}
	if !overrideWanted(b) {
		if registered == nil {
			meta.RemoveStatusCondition(&b.Status.Conditions, v1alpha1.ConditionWebhookOverride)
			return ctrl.Result{}, r.setFinalizer(ctx, b, false)
		}
		secret, err := r.credentials(ctx, b)
		if err == nil {
			err = r.setOverride(ctx, b, secret, "", "")
		}
		if err != nil {
			r.overrideFailed(b, fmt.Sprintf("removing the override callback %s: %v", registered.URL, err))
			return ctrl.Result{RequeueAfter: overrideRetry}, nil
		}
		b.Status.WebhookOverride = nil
		r.overrides.Delete(b.UID)
		meta.RemoveStatusCondition(&b.Status.Conditions, v1alpha1.ConditionWebhookOverride)
		return ctrl.Result{}, r.setFinalizer(ctx, b, false)
	}
	if reason, msg, ok := policy.BindingChecks.Evaluate(in); !ok {
		setCondition(b, v1alpha1.ConditionWebhookOverride, metav1.ConditionFalse, reason,
			"not registered while the binding cannot serve: "+msg)
		return ctrl.Result{}, nil
	}
	url := WebhookURL(r.GatewayPublicURL, b)
	if url == "" {
		setCondition(b, v1alpha1.ConditionWebhookOverride, metav1.ConditionFalse, v1alpha1.ReasonPublicURLUnknown,
			"the manager has no gateway public URL to register: set the chart's gateway.publicURL (the manager's --gateway-public-url)")
		return ctrl.Result{}, nil
	}
	if in.Secret.Labels[builders.LabelCredentials] != "true" {
		// Meta checks the URL with the binding's verify token, which the
		// gateway reads only from Secrets labelled for it: register once
		// the label is there (its patch wakes this binding again).
		setCondition(b, v1alpha1.ConditionWebhookOverride, metav1.ConditionFalse, v1alpha1.ReasonProgressing,
			fmt.Sprintf("waiting for Secret %s to be labelled %s=true, so the gateway can answer Meta's check", b.Spec.CredentialsRef.Name, builders.LabelCredentials))
		return ctrl.Result{RequeueAfter: 5 * time.Second}, nil
	}
	done := fmt.Sprintf("Meta sends phone number %s's webhooks to %s", b.Spec.Account.ID, url)
	if registered != nil && registered.URL == url && registered.CredentialsVersion == in.Secret.ResourceVersion &&
		(meta.IsStatusConditionTrue(b.Status.Conditions, v1alpha1.ConditionWebhookOverride) || b.Status.WebhookOverride == nil) {
		b.Status.WebhookOverride = registered
		setCondition(b, v1alpha1.ConditionWebhookOverride, metav1.ConditionTrue, v1alpha1.ReasonRegistered, done)
		return ctrl.Result{}, nil
	}
	secret, err := r.credentials(ctx, b)
	if err != nil {
		r.overrideFailed(b, err.Error())
		return ctrl.Result{RequeueAfter: overrideRetry}, nil
	}
	verifyToken := string(secret.Data[channel.KeyVerifyToken])
	digest := r.digest(url, verifyToken)
	if registered != nil && remembered && memo.digest == digest && registered.URL == url &&
		(meta.IsStatusConditionTrue(b.Status.Conditions, v1alpha1.ConditionWebhookOverride) || b.Status.WebhookOverride == nil) {
		// The Secret changed, but not what Meta was given (its labels, or
		// the access token): nothing to register again.
		b.Status.WebhookOverride = &v1alpha1.RegisteredWebhook{URL: url, CredentialsVersion: secret.ResourceVersion}
		r.overrides.Store(b.UID, registration{webhook: *b.Status.WebhookOverride, digest: digest})
		setCondition(b, v1alpha1.ConditionWebhookOverride, metav1.ConditionTrue, v1alpha1.ReasonRegistered, done)
		return ctrl.Result{}, nil
	}
	// The finalizer first: a binding deleted right after the registration
	// must still take its override away from Meta.
	if err := r.setFinalizer(ctx, b, true); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.setOverride(ctx, b, secret, url, verifyToken); err != nil {
		r.overrideFailed(b, fmt.Sprintf("registering %s as the override callback of phone number %s: %v", url, b.Spec.Account.ID, err))
		return ctrl.Result{RequeueAfter: overrideRetry}, nil
	}
	b.Status.WebhookOverride = &v1alpha1.RegisteredWebhook{URL: url, CredentialsVersion: secret.ResourceVersion}
	r.overrides.Store(b.UID, registration{webhook: *b.Status.WebhookOverride, digest: digest})
	setCondition(b, v1alpha1.ConditionWebhookOverride, metav1.ConditionTrue, v1alpha1.ReasonRegistered, done)
	if r.Recorder != nil {
		r.Recorder.Eventf(b, nil, corev1.EventTypeNormal, v1alpha1.ReasonRegistered, "RegisterWebhook", "%s", done)
	}
	return ctrl.Result{}, nil
}

// FinalizerWebhookOverride holds a WhatsApp binding with an override
// callback until the operator removed the override from Meta, so a
// deleted binding does not leave the number's webhooks pointing at the
// gateway, where nothing routes them any more.
const FinalizerWebhookOverride = "chatflow.dev/webhook-override"

// overrideRemovalGrace is how long a deleted binding waits for the Graph
// API to remove its override before it goes anyway (with a warning): an
// unreachable Meta must not hold a namespace's deletion forever.
const overrideRemovalGrace = 10 * time.Minute

// finalizeOverride removes a deleted binding's override callback from
// Meta, then releases the binding.
func (r *Reconciler) finalizeOverride(ctx context.Context, b *v1alpha1.ChannelBinding) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(b, FinalizerWebhookOverride) {
		return ctrl.Result{}, nil
	}
	registered := b.Status.WebhookOverride
	memo, ok := r.registration(b)
	if ok && registered == nil {
		registered = new(memo.webhook)
	}
	if ok && !memo.removed.IsZero() {
		// Removed already: this is a stale read of a binding that is
		// going or gone.
		registered = nil
	}
	if registered != nil {
		secret, err := r.credentials(ctx, b)
		if err == nil {
			err = r.setOverride(ctx, b, secret, "", "")
		}
		if err != nil {
			retry, why := keepTryingRemoval(err, b.DeletionTimestamp.Time, time.Now())
			msg := fmt.Sprintf("removing the override callback %s of phone number %s: %v", registered.URL, b.Spec.Account.ID, err)
			if retry {
				log.FromContext(ctx).Info(msg + "; retrying")
				return ctrl.Result{RequeueAfter: overrideRetry}, nil
			}
			if r.Recorder != nil {
				r.Recorder.Eventf(b, nil, corev1.EventTypeWarning, v1alpha1.ReasonOverrideNotRemoved, "RemoveWebhook",
					"%s; %s: remove it in the Meta app's WhatsApp settings", msg, why)
			}
		}
	}
	r.forget(b.UID, time.Now())
	return ctrl.Result{}, r.setFinalizer(ctx, b, false)
}

// tombstoneTTL is how long a deleted binding's removal is remembered:
// longer than the cache takes to see the binding gone.
const tombstoneTTL = 10 * time.Minute

// forget replaces what was registered for a deleted binding with the time
// its override was removed, and drops the marks older than tombstoneTTL,
// so the map holds only bindings that exist or just went.
func (r *Reconciler) forget(uid types.UID, now time.Time) {
	r.overrides.Store(uid, registration{removed: now})
	r.overrides.Range(func(k, v any) bool {
		if t := v.(registration).removed; !t.IsZero() && now.Sub(t) > tombstoneTTL {
			r.overrides.Delete(k)
		}
		return true
	})
}

// keepTryingRemoval decides whether a failed removal of a deleted
// binding's override is tried again: not when it cannot succeed (the
// Secret is gone, or Meta refused with a permanent error such as a revoked
// token) nor after overrideRemovalGrace; otherwise yes (Meta unreachable,
// a transient Graph error).
func keepTryingRemoval(err error, deleted, now time.Time) (bool, string) {
	var graph *metachannel.GraphError
	switch {
	case apierrors.IsNotFound(err):
		return false, "the credentials Secret is gone"
	case errors.As(err, &graph) && !graph.IsTransient:
		return false, "the Graph API refused it"
	case now.Sub(deleted) >= overrideRemovalGrace:
		return false, fmt.Sprintf("gave up after %s", overrideRemovalGrace)
	}
	return true, ""
}

// setFinalizer adds or removes FinalizerWebhookOverride, leaving b's
// status to the reconcile's own patch. Adding is an optimistic-lock patch,
// so a stale read fails before Meta is called. Removing is a JSON patch
// that tests the entry it removes: a stale read of the other fields does
// not fail it, so a removal Meta already did is not done again.
func (r *Reconciler) setFinalizer(ctx context.Context, b *v1alpha1.ChannelBinding, on bool) error {
	if controllerutil.ContainsFinalizer(b, FinalizerWebhookOverride) == on {
		return nil
	}
	patched := b.DeepCopy()
	var patch client.Patch
	if on {
		controllerutil.AddFinalizer(patched, FinalizerWebhookOverride)
		patch = client.MergeFromWithOptions(b, client.MergeFromWithOptimisticLock{})
	} else {
		i := slices.Index(b.Finalizers, FinalizerWebhookOverride)
		ops, err := json.Marshal([]map[string]any{
			{"op": "test", "path": fmt.Sprintf("/metadata/finalizers/%d", i), "value": FinalizerWebhookOverride},
			{"op": "remove", "path": fmt.Sprintf("/metadata/finalizers/%d", i)},
		})
		if err != nil {
			return err
		}
		patch = client.RawPatch(types.JSONPatchType, ops)
	}
	if err := r.Client.Patch(ctx, patched, patch); err != nil {
		return client.IgnoreNotFound(err)
	}
	b.Finalizers = patched.Finalizers
	return nil
}

// registration is what this manager last registered for a binding: the
// callback, and a digest of what Meta was given (the URL and the verify
// token), so that a Secret change that does not touch those (a label the
// operator adds, a rotated access token) registers nothing again.
type registration struct {
	webhook v1alpha1.RegisteredWebhook
	digest  [sha256.Size]byte
	// removed is when a deleted binding's override was removed.
	removed time.Time
}

// registration returns what this manager registered for b, if anything.
func (r *Reconciler) registration(b *v1alpha1.ChannelBinding) (registration, bool) {
	v, ok := r.overrides.Load(b.UID)
	if !ok {
		return registration{}, false
	}
	return v.(registration), true
}

// digest is an HMAC of what a registration gives Meta, under a key made
// when the manager starts: the manager keeps no Secret value, nor a plain
// hash one could test guesses of a verify token against.
func (r *Reconciler) digest(url, verifyToken string) [sha256.Size]byte {
	r.digestOnce.Do(func() {
		r.digestKey = make([]byte, 32)
		_, _ = rand.Read(r.digestKey)
	})
	m := hmac.New(sha256.New, r.digestKey)
	m.Write([]byte(url))
	m.Write([]byte{0})
	m.Write([]byte(verifyToken))
	var d [sha256.Size]byte
	m.Sum(d[:0])
	return d
}

// credentials reads the binding's Secret, uncached: its values are used
// for one call and dropped, never kept in the manager's memory.
func (r *Reconciler) credentials(ctx context.Context, b *v1alpha1.ChannelBinding) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	if err := r.SecretReader.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.CredentialsRef.Name}, s); err != nil {
		return nil, fmt.Errorf("reading Secret %s: %w", b.Spec.CredentialsRef.Name, err)
	}
	return s, nil
}

// setOverride calls the Graph API with the access token of the binding's
// Secret: url as the number's override callback ("" removes it).
func (r *Reconciler) setOverride(ctx context.Context, b *v1alpha1.ChannelBinding, s *corev1.Secret, url, verifyToken string) error {
	client := r.Graph
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return whatsapp.WebhookOverride{
		HTTP: client, APIBaseURL: b.Spec.APIBaseURL, PhoneNumberID: b.Spec.Account.ID,
		AccessToken: string(s.Data[channel.KeyAccessToken]),
	}.Set(cctx, url, verifyToken)
}

// overrideFailed reports a failed registration in the condition, and as a
// warning event when the message is new.
func (r *Reconciler) overrideFailed(b *v1alpha1.ChannelBinding, msg string) {
	old := meta.FindStatusCondition(b.Status.Conditions, v1alpha1.ConditionWebhookOverride)
	setCondition(b, v1alpha1.ConditionWebhookOverride, metav1.ConditionFalse, v1alpha1.ReasonRegistrationFailed, msg)
	if r.Recorder != nil && (old == nil || old.Message != msg) {
		r.Recorder.Eventf(b, nil, corev1.EventTypeWarning, v1alpha1.ReasonRegistrationFailed, "RegisterWebhook", "%s", msg)
	}
}
