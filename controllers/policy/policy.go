// Package policy holds the operator's decisions as named, pure predicates:
// which Secret keys a channel needs, where its webhook is served, which of
// several bindings is the one in effect, and whether a binding can serve
// its flow. Reconcilers and admission validators share them, so the status
// a binding shows and the answer a webhook gives never disagree.
//
// It must not do I/O: callers gather the objects, policy decides.
package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// RequiredSecretKeys returns the keys a channel's credentials Secret must
// hold: the Meta channels sign with the app secret, verify the webhook
// handshake with the verify token and send with the access token; Viber
// signs and sends with its auth token.
func RequiredSecretKeys(ch v1alpha1.Channel) []string {
	switch ch {
	case v1alpha1.ChannelWhatsApp, v1alpha1.ChannelMessenger, v1alpha1.ChannelInstagram:
		return []string{channel.KeyAccessToken, channel.KeyAppSecret, channel.KeyVerifyToken}
	case v1alpha1.ChannelViber:
		return []string{channel.KeyAuthToken}
	}
	return nil
}

// WebhookPath is the path on the executor Service where a channel delivers
// its events. Viber payloads do not name the bot, so its path carries the
// account id.
func WebhookPath(ch v1alpha1.Channel, accountID string) string {
	return channel.WebhookPath(message.Channel(ch), accountID)
}

// InEffect returns the binding in effect among bindings that compete for
// the same flow or account (an account across all namespaces). The one
// already serving keeps its place (its status says Ready for its current
// generation), so a newcomer never displaces it; otherwise the oldest
// wins, then the first by namespace and name. Bindings being deleted never
// win. It returns nil when none qualifies.
func InEffect(bindings []v1alpha1.ChannelBinding) *v1alpha1.ChannelBinding {
	var best *v1alpha1.ChannelBinding
	for i := range bindings {
		b := &bindings[i]
		if !b.DeletionTimestamp.IsZero() {
			continue
		}
		if best == nil || ranksBefore(b, best) {
			best = b
		}
	}
	return best
}

// Serving says a binding's status shows it Ready for its current spec.
func Serving(b *v1alpha1.ChannelBinding) bool {
	return b.Status.ObservedGeneration == b.Generation &&
		meta.IsStatusConditionTrue(b.Status.Conditions, v1alpha1.ConditionReady)
}

func ranksBefore(a, b *v1alpha1.ChannelBinding) bool {
	if sa, sb := Serving(a), Serving(b); sa != sb {
		return sa
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

// Same reports whether a and b are the same binding.
func Same(a, b *v1alpha1.ChannelBinding) bool {
	return a.Namespace == b.Namespace && a.Name == b.Name
}

// BindingInput is what a binding's readiness depends on, gathered by the
// caller.
type BindingInput struct {
	// Binding is the binding under judgement.
	Binding *v1alpha1.ChannelBinding
	// Flow is the flow it names, nil when there is none.
	Flow *v1alpha1.ChatFlow
	// FlowBindings are the bindings naming the same flow, Binding included.
	FlowBindings []v1alpha1.ChannelBinding
	// AccountBindings are the bindings of the same channel account in
	// every namespace, Binding included: an account serves one flow in the
	// cluster, so that no team can claim (or throttle: the send rate is the
	// account's) an account another team binds.
	AccountBindings []v1alpha1.ChannelBinding
	// Secret is the credentials Secret, nil when it does not exist.
	Secret *corev1.Secret
}

// Check is one named readiness predicate of a binding. It returns ok, or
// the condition reason and a message that says what to fix.
type Check func(in BindingInput) (reason, message string, ok bool)

// Chain is an ordered list of checks; the first failure decides.
type Chain []Check

// Evaluate runs the checks in order and stops at the first failure.
func (c Chain) Evaluate(in BindingInput) (reason, message string, ok bool) {
	for _, check := range c {
		if reason, message, ok := check(in); !ok {
			return reason, message, false
		}
	}
	return "", "", true
}

// BindingChecks is the readiness policy of a ChannelBinding.
var BindingChecks = Chain{
	FlowExists,
	ChannelMatchesTrigger,
	OnlyBindingOfFlow,
	AccountBoundOnce,
	SecretExists,
	SecretHasKeys,
}

// FlowExists: the binding names a ChatFlow of its namespace.
func FlowExists(in BindingInput) (string, string, bool) {
	if in.Flow == nil {
		return v1alpha1.ReasonFlowNotFound, fmt.Sprintf(
			"ChatFlow %q does not exist in namespace %s: create it, or point spec.flowRef.name at an existing flow",
			in.Binding.Spec.FlowRef.Name, in.Binding.Namespace), false
	}
	return "", "", true
}

// ChannelMatchesTrigger: the binding's channel is the flow's trigger, or
// the flow is Manual (any channel to send through).
func ChannelMatchesTrigger(in BindingInput) (string, string, bool) {
	t := in.Flow.Spec.Trigger.Type
	if t == v1alpha1.TriggerManual || string(t) == string(in.Binding.Spec.Channel) {
		return "", "", true
	}
	return v1alpha1.ReasonChannelMismatch, fmt.Sprintf(
		"channel %s does not match the trigger %s of ChatFlow %q: bind a %s account, or change the flow's trigger while it is Unpublished",
		in.Binding.Spec.Channel, t, in.Flow.Name, t), false
}

// OnlyBindingOfFlow: a flow has one binding; a later one conflicts.
func OnlyBindingOfFlow(in BindingInput) (string, string, bool) {
	first := InEffect(in.FlowBindings)
	if first == nil || Same(first, in.Binding) {
		return "", "", true
	}
	return v1alpha1.ReasonConflict, fmt.Sprintf(
		"ChatFlow %q is already bound by ChannelBinding %q: a flow has one binding; delete this one or point it at another flow",
		in.Flow.Name, first.Name), false
}

// AccountBoundOnce: an account serves one flow in the cluster; a later
// binding of the same account, in any namespace, conflicts. The message
// names both bindings and which one holds the account.
func AccountBoundOnce(in BindingInput) (string, string, bool) {
	first := InEffect(in.AccountBindings)
	if first == nil || Same(first, in.Binding) {
		return "", "", true
	}
	return v1alpha1.ReasonConflict, AccountConflict(in.Binding, first), false
}

// AccountConflict says that b cannot have its account because holder
// binds it.
func AccountConflict(b, holder *v1alpha1.ChannelBinding) string {
	return fmt.Sprintf(
		"%s account %s is already bound to ChatFlow %s/%s by ChannelBinding %s/%s, which holds it; ChannelBinding %s/%s cannot claim it: "+
			"an account serves one flow in the cluster, so unbind it there first",
		b.Spec.Channel, b.Spec.Account.ID, holder.Namespace, holder.Spec.FlowRef.Name, holder.Namespace, holder.Name, b.Namespace, b.Name)
}

// SecretExists: the credentials Secret exists.
func SecretExists(in BindingInput) (string, string, bool) {
	if in.Secret == nil {
		return v1alpha1.ReasonSecretNotFound, fmt.Sprintf(
			"Secret %q does not exist in namespace %s: create it with the keys %s",
			in.Binding.Spec.CredentialsRef.Name, in.Binding.Namespace,
			strings.Join(RequiredSecretKeys(in.Binding.Spec.Channel), ", ")), false
	}
	return "", "", true
}

// SecretHasKeys: the credentials Secret holds every key its channel needs,
// each non-empty.
func SecretHasKeys(in BindingInput) (string, string, bool) {
	missing := MissingKeys(in.Binding.Spec.Channel, in.Secret)
	if len(missing) == 0 {
		return "", "", true
	}
	noun := "key"
	if len(missing) > 1 {
		noun = "keys"
	}
	return v1alpha1.ReasonSecretKeyMissing, fmt.Sprintf(
		"Secret %q lacks the %s %s that %s needs: add %s to the Secret",
		in.Secret.Name, noun, strings.Join(missing, ", "), in.Binding.Spec.Channel, noun), false
}

// MissingKeys returns the required keys of a channel that a Secret lacks
// or holds empty, sorted.
func MissingKeys(ch v1alpha1.Channel, s *corev1.Secret) []string {
	var missing []string
	for _, k := range RequiredSecretKeys(ch) {
		if s == nil || len(s.Data[k]) == 0 {
			missing = append(missing, k)
		}
	}
	slices.SortFunc(missing, cmp.Compare)
	return missing
}
