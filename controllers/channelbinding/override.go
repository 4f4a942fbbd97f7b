package channelbinding

import (
	"context"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/controllers/policy"
	"github.com/chatflow-dev/chatflow/runtime/channel"
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
func (r *Reconciler) reconcileOverride(ctx context.Context, b *v1alpha1.ChannelBinding, in policy.BindingInput) ctrl.Result {
	registered := b.Status.WebhookOverride
	if memo, ok := r.overrides.Load(b.UID); ok {
		if registered == nil {
			// The cache has not caught up with the status patch of the
			// registration this manager just made: trust what it made
			// rather than registering again.
			registered = new(memo.(v1alpha1.RegisteredWebhook))
		} else {
			r.overrides.Delete(b.UID) // the status has it now
		}
	}
	if !overrideWanted(b) {
		if registered == nil {
			meta.RemoveStatusCondition(&b.Status.Conditions, v1alpha1.ConditionWebhookOverride)
			return ctrl.Result{}
		}
		secret, err := r.credentials(ctx, b)
		if err == nil {
			err = r.setOverride(ctx, b, secret, "", "")
		}
		if err != nil {
			r.overrideFailed(b, fmt.Sprintf("removing the override callback %s: %v", registered.URL, err))
			return ctrl.Result{RequeueAfter: overrideRetry}
		}
		b.Status.WebhookOverride = nil
		r.overrides.Delete(b.UID)
		meta.RemoveStatusCondition(&b.Status.Conditions, v1alpha1.ConditionWebhookOverride)
		return ctrl.Result{}
	}
	if reason, msg, ok := policy.BindingChecks.Evaluate(in); !ok {
		setCondition(b, v1alpha1.ConditionWebhookOverride, metav1.ConditionFalse, reason,
			"not registered while the binding cannot serve: "+msg)
		return ctrl.Result{}
	}
	url := WebhookURL(r.GatewayPublicURL, b)
	if url == "" {
		setCondition(b, v1alpha1.ConditionWebhookOverride, metav1.ConditionFalse, v1alpha1.ReasonPublicURLUnknown,
			"the manager has no gateway public URL to register: set the chart's gateway.publicURL (the manager's --gateway-public-url)")
		return ctrl.Result{}
	}
	if in.Secret.Labels[builders.LabelCredentials] != "true" {
		// Meta checks the URL with the binding's verify token, which the
		// gateway reads only from Secrets labelled for it: register once
		// the label is there (its patch wakes this binding again).
		setCondition(b, v1alpha1.ConditionWebhookOverride, metav1.ConditionFalse, v1alpha1.ReasonProgressing,
			fmt.Sprintf("waiting for Secret %s to be labelled %s=true, so the gateway can answer Meta's check", b.Spec.CredentialsRef.Name, builders.LabelCredentials))
		return ctrl.Result{RequeueAfter: 5 * time.Second}
	}
	done := fmt.Sprintf("Meta sends phone number %s's webhooks to %s", b.Spec.Account.ID, url)
	if registered != nil && registered.URL == url && registered.CredentialsVersion == in.Secret.ResourceVersion &&
		(meta.IsStatusConditionTrue(b.Status.Conditions, v1alpha1.ConditionWebhookOverride) || b.Status.WebhookOverride == nil) {
		b.Status.WebhookOverride = registered
		setCondition(b, v1alpha1.ConditionWebhookOverride, metav1.ConditionTrue, v1alpha1.ReasonRegistered, done)
		return ctrl.Result{}
	}
	secret, err := r.credentials(ctx, b)
	if err != nil {
		r.overrideFailed(b, err.Error())
		return ctrl.Result{RequeueAfter: overrideRetry}
	}
	if err := r.setOverride(ctx, b, secret, url, string(secret.Data[channel.KeyVerifyToken])); err != nil {
		r.overrideFailed(b, fmt.Sprintf("registering %s as the override callback of phone number %s: %v", url, b.Spec.Account.ID, err))
		return ctrl.Result{RequeueAfter: overrideRetry}
	}
	b.Status.WebhookOverride = &v1alpha1.RegisteredWebhook{URL: url, CredentialsVersion: secret.ResourceVersion}
	r.overrides.Store(b.UID, *b.Status.WebhookOverride)
	setCondition(b, v1alpha1.ConditionWebhookOverride, metav1.ConditionTrue, v1alpha1.ReasonRegistered, done)
	if r.Recorder != nil {
		r.Recorder.Eventf(b, nil, corev1.EventTypeNormal, v1alpha1.ReasonRegistered, "RegisterWebhook", "%s", done)
	}
	return ctrl.Result{}
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
