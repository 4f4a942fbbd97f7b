package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Channel is a messaging channel an account belongs to.
// +kubebuilder:validation:Enum=WhatsApp;Instagram;Viber;Messenger
type Channel string

// The channels.
const (
	ChannelWhatsApp  Channel = "WhatsApp"
	ChannelInstagram Channel = "Instagram"
	ChannelViber     Channel = "Viber"
	ChannelMessenger Channel = "Messenger"
)

// Channels lists every channel.
var Channels = []Channel{ChannelWhatsApp, ChannelInstagram, ChannelViber, ChannelMessenger}

// ChannelBindingSpec binds a channel account to a flow.
// +kubebuilder:validation:XValidation:rule="!has(self.webhookOverride) || !self.webhookOverride || self.channel == 'WhatsApp'",message="spec.webhookOverride is for WhatsApp bindings (a phone number's override callback URL): remove it, or register the gateway's URL in the app dashboard",fieldPath=".webhookOverride"
type ChannelBindingSpec struct {
	// flowRef names the ChatFlow in this namespace that serves the account.
	// It cannot change while that flow is Published (that is a rebind).
	// +required
	FlowRef FlowReference `json:"flowRef"`

	// channel of the account. It must equal the flow's trigger type (any
	// channel may be bound to a Manual flow, to send through). Immutable.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.channel is immutable: create a new ChannelBinding for another channel"
	Channel Channel `json:"channel"`

	// account identifies the channel account. It cannot change while the
	// flow is Published.
	// +required
	Account Account `json:"account"`

	// credentialsRef names the Secret in this namespace with the account's
	// credentials: accessToken, appSecret and verifyToken for WhatsApp,
	// Messenger and Instagram; authToken for Viber; runToken (optional)
	// authorizes Manual runs. The content may rotate at any time.
	// +required
	CredentialsRef SecretReference `json:"credentialsRef"`

	// apiBaseURL overrides the channel's send API base URL, e.g. to use the
	// channel sandbox or an egress proxy. Empty means the channel's own API.
	// The executor sends the account's access token there, so it must be
	// https; plain http is accepted only for a loopback host (localhost,
	// 127.0.0.0/8, ::1), for development and tests. The operator may
	// restrict it to a list of hosts.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://') || self.matches('^http://(localhost|127[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}|[[]::1[]])(:[0-9]{1,5})?(/[^?#]*)?$')",message="apiBaseURL must be https: the executor sends the account's access token to it (plain http is accepted only for localhost, 127.0.0.0/8 and [::1], for development and tests)"
	APIBaseURL string `json:"apiBaseURL,omitempty"`

	// webhook says how the channel reaches the executor.
	// +optional
	Webhook WebhookSettings `json:"webhook,omitzero"`

	// webhookOverride (WhatsApp only) makes the operator register the
	// gateway's URL (status.webhookURL) as the phone number's override
	// callback URL through the Graph API, so Meta sends the number's
	// messages webhooks there whatever the app's callback URL is (the app
	// may serve other systems too). It needs the manager's gateway public
	// URL, the Secret's accessToken (with whatsapp_business_management) and
	// verifyToken; the WebhookOverride condition says how it went. Setting
	// it back to false removes the override; deleting the binding leaves
	// it, pointing at the gateway, which acknowledges and drops the
	// number's events.
	// +optional
	WebhookOverride bool `json:"webhookOverride,omitempty"`

	// sendRate is how many messages per second the flow may send for the
	// account, across all its executor replicas (with the Redis session
	// store they share one token bucket). Unset means the channel's own
	// default: 80 for a WhatsApp number (raise it once Meta has raised the
	// number's throughput), 300 for a Messenger Page or Instagram account,
	// 100 for a Viber bot.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	SendRate int32 `json:"sendRate,omitempty"`
}

// FlowReference names a ChatFlow in the same namespace.
type FlowReference struct {
	// name of the ChatFlow.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// SecretReference names a Secret in the same namespace.
type SecretReference struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// Account identifies a channel account.
// +kubebuilder:validation:XValidation:rule="has(self.id)",message="account.id is required: the phone_number_id, Page id, Instagram account id or Viber bot id"
type Account struct {
	// name is the human name of the account ("Account Name").
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name,omitempty"`

	// phoneNumber of a WhatsApp account in E.164 ("Mobile Number").
	// +optional
	// +kubebuilder:validation:Pattern=`^\+[1-9][0-9]{6,14}$`
	PhoneNumber string `json:"phoneNumber,omitempty"`

	// id is the channel's id of the account: the WhatsApp phone_number_id,
	// the Facebook Page id, the Instagram account id or the Viber bot id.
	// Inbound events addressed to another id are rejected.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._-]+$`
	ID string `json:"id,omitempty"`
}

// WebhookSettings says how the channel reaches the executor.
type WebhookSettings struct {
	// publicURL is the externally reachable base URL of the bot's webhook;
	// the channel's path (/webhooks/viber/<account id>) is appended.
	// Default: the gateway's public URL (the chart's gateway.publicURL).
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https://[^\s]+$`
	PublicURL string `json:"publicURL,omitempty"`

	// register makes the executor register publicURL with the channel at
	// start (Viber set_webhook). Meta channels are registered in the app
	// dashboard instead.
	// +optional
	Register bool `json:"register,omitempty"`
}

// ChannelBindingStatus is what the operator observed of a binding.
type ChannelBindingStatus struct {
	// observedGeneration is the generation the status describes; -1 until
	// the operator first reconciled the binding.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready and Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// webhookPath is the channel's path on the Chatflow gateway (and on
	// the executor Service), e.g. /webhooks/whatsapp: one path per channel,
	// shared by every binding of the channel; Viber's carries the bot id.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	WebhookPath string `json:"webhookPath,omitempty"`

	// webhookURL is the URL to register as the channel's callback URL: the
	// gateway's public URL (the manager's --gateway-public-url, the chart's
	// gateway.publicURL) and webhookPath. Empty while the manager does not
	// know the gateway's public URL.
	// +optional
	// +kubebuilder:validation:MaxLength=2304
	WebhookURL string `json:"webhookURL,omitempty"`

	// webhookOverride is the phone number's override callback the operator
	// registered with Meta (spec.webhookOverride).
	// +optional
	WebhookOverride *RegisteredWebhook `json:"webhookOverride,omitempty"`
}

// RegisteredWebhook is a callback URL the operator registered with the
// channel.
type RegisteredWebhook struct {
	// url registered.
	// +required
	// +kubebuilder:validation:MaxLength=2304
	URL string `json:"url"`
	// credentialsVersion is the resourceVersion of the credentials Secret
	// whose verify token Meta checked; a change registers the URL again.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	CredentialsVersion string `json:"credentialsVersion,omitempty"`
}

// ChannelBinding binds a WhatsApp, Instagram, Viber or Messenger account to a
// ChatFlow, with the Secret holding the account's credentials. One account
// serves one flow; a flow has at most one binding.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=cb,categories=chatflow-all
// +kubebuilder:selectablefield:JSONPath=`.spec.flowRef.name`
// +kubebuilder:printcolumn:name="Channel",type=string,JSONPath=`.spec.channel`
// +kubebuilder:printcolumn:name="Account",type=string,JSONPath=`.spec.account.name`
// +kubebuilder:printcolumn:name="Flow",type=string,JSONPath=`.spec.flowRef.name`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Webhook URL",type=string,JSONPath=`.status.webhookURL`,priority=1
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
type ChannelBinding struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec declares the binding.
	// +required
	Spec ChannelBindingSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	// +kubebuilder:default={"observedGeneration":-1}
	Status ChannelBindingStatus `json:"status,omitzero"`
}

// ChannelBindingList is a list of ChannelBindings.
//
// +kubebuilder:object:root=true
type ChannelBindingList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	// items are the bindings.
	Items []ChannelBinding `json:"items"`
}
