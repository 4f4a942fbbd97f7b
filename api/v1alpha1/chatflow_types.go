package v1alpha1

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FlowState says whether a flow is live.
// +kubebuilder:validation:Enum=Published;Unpublished
type FlowState string

const (
	// StatePublished means the flow is live: an executor serves its channel.
	StatePublished FlowState = "Published"
	// StateUnpublished means the flow is saved but not live.
	StateUnpublished FlowState = "Unpublished"
)

// TriggerType is what starts a conversation of a flow.
// +kubebuilder:validation:Enum=Manual;WhatsApp;Instagram;Viber;Messenger
type TriggerType string

const (
	// TriggerManual flows are started through the executor's run API (campaigns, other systems).
	TriggerManual TriggerType = "Manual"
	// TriggerWhatsApp flows start when a contact writes to the bound WhatsApp number.
	TriggerWhatsApp TriggerType = "WhatsApp"
	// TriggerInstagram flows start when a contact writes to the bound Instagram account.
	TriggerInstagram TriggerType = "Instagram"
	// TriggerViber flows start when a contact writes to the bound Viber bot.
	TriggerViber TriggerType = "Viber"
	// TriggerMessenger flows start when a contact writes to the bound Facebook Page.
	TriggerMessenger TriggerType = "Messenger"
)

// ChatFlowSpec declares a chat flow: its trigger, its variables, its graph of
// nodes and whether it is live.
// +kubebuilder:validation:XValidation:rule="!(has(oldSelf.state) && oldSelf.state == 'Published' && has(self.state) && self.state == 'Published') || self.trigger.type == oldSelf.trigger.type",message="spec.trigger.type cannot change while the flow is Published: set spec.state: Unpublished first, then change the trigger",fieldPath=".trigger.type",reason=FieldValueForbidden
type ChatFlowSpec struct {
	// displayName is the human name of the flow ("Flow Name" in the console).
	// +optional
	// +kubebuilder:validation:MaxLength=128
	DisplayName string `json:"displayName,omitempty"`

	// remark is a free-form description of what the flow is for.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Remark string `json:"remark,omitempty"`

	// state says whether the flow is live. Published rolls out an executor
	// that serves the bound channel; Unpublished removes it (sessions are kept).
	// A Published flow cannot be deleted, rebound or change its trigger type.
	// +optional
	// +kubebuilder:default=Unpublished
	State FlowState `json:"state,omitempty"`

	// trigger says what starts a conversation.
	// +required
	Trigger Trigger `json:"trigger"`

	// logging controls the execution event log of the executor.
	// +optional
	Logging Logging `json:"logging,omitzero"`

	// variables are the flow variables with their initial values, available
	// to expressions and templates as vars.<name>.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=100
	Variables []Variable `json:"variables,omitempty"`

	// nodes is the graph: exactly one Start node, at least one End node, and
	// the components between them, linked by node id.
	// +required
	// +listType=map
	// +listMapKey=id
	// +kubebuilder:validation:MinItems=2
	// +kubebuilder:validation:MaxItems=1000
	Nodes []Node `json:"nodes"`

	// executor overrides the operator's defaults for the executor Deployment
	// of this flow.
	// +optional
	Executor *ExecutorSpec `json:"executor,omitempty"`

	// retention says how long the session store keeps what it holds of a
	// contact. Changing it rolls the executor but not the flow's revision.
	// +optional
	Retention Retention `json:"retention,omitzero"`
}

// DefaultSessionIdleTimeout is the retention of a session when
// spec.retention.sessionIdleTimeout is not set: 30 days.
const DefaultSessionIdleTimeout = 30 * 24 * time.Hour

// Retention bounds how long contact data is kept.
type Retention struct {
	// sessionIdleTimeout is how long a contact's session (variables, the
	// recent conversation, pending timers) is kept after the contact's last
	// activity, or after its last timer is due if that is later; the flow's
	// dead letters are kept as long. Between 1h and 8760h (a year); when
	// not set, 720h (30 days), applied by the executor (no default is
	// written into the object, so an export or a GitOps diff shows what was
	// written). To erase one contact at once, see the executor's
	// DELETE /v1/contacts/{id} (`chatflow contacts erase`).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h') && duration(self) <= duration('8760h')",message="spec.retention.sessionIdleTimeout must be between 1h and 8760h (a year)"
	SessionIdleTimeout *metav1.Duration `json:"sessionIdleTimeout,omitempty"`
}

// IdleTimeout is the session idle timeout in effect: the field, else
// DefaultSessionIdleTimeout.
func (r Retention) IdleTimeout() time.Duration {
	if r.SessionIdleTimeout != nil && r.SessionIdleTimeout.Duration > 0 {
		return r.SessionIdleTimeout.Duration
	}
	return DefaultSessionIdleTimeout
}

// Trigger says what starts a conversation of a flow.
// +kubebuilder:validation:XValidation:rule="!has(self.credentialsRef) || self.type == 'Manual'",message="spec.trigger.credentialsRef is for Manual flows: a channel trigger takes its credentials from its ChannelBinding",fieldPath=".credentialsRef",reason=FieldValueForbidden
type Trigger struct {
	// type is the channel whose inbound messages start the flow, or Manual
	// for runs started through the executor's run API. It cannot change while
	// the flow is Published.
	// +required
	Type TriggerType `json:"type"`

	// inputs are the variables a Manual run accepts; any other variable in
	// a run request is dropped. Ignored for channel triggers.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=50
	Inputs []TriggerInput `json:"inputs,omitempty"`

	// credentialsRef names the Secret in this namespace that a Manual flow
	// without a ChannelBinding takes its run API credentials from: runToken
	// (authorizes runs and hand-off resumes) and, optionally, handoffSecret
	// (signs hand-off notifications). Such a flow runs with no channel to
	// send through: it can call HTTP APIs only. With a binding, the
	// binding's Secret is used instead. Manual flows only.
	// +optional
	CredentialsRef *SecretReference `json:"credentialsRef,omitempty"`
}

// TriggerInput is one variable a Manual run accepts.
type TriggerInput struct {
	// name is the variable name, readable as trigger.<name> and vars.<name>.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	Name string `json:"name"`

	// required runs are rejected when this input is missing.
	// +optional
	Required bool `json:"required,omitempty"`

	// description tells callers what to pass.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Description string `json:"description,omitempty"`

	// sensitive values (a token, a date of birth) are redacted where people
	// read sessions: the executor's session inspector and `chatflow trace`.
	// The flow itself reads them as usual.
	// +optional
	Sensitive bool `json:"sensitive,omitempty"`
}

// Logging controls the execution event log.
type Logging struct {
	// enabled writes one JSON line per execution event (run started and
	// ended, node entered and left, message sent or failed, errors) to the
	// executor's stdout. Contact ids are hashed; secrets are never logged.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// modelText adds the prompts and answers of AI nodes to the event
	// log. They may hold what contacts wrote, so by default the log has
	// only each model call's outcome, latency and token counts.
	// +optional
	ModelText bool `json:"modelText,omitempty"`
}

// Variable is a flow variable with its initial value.
type Variable struct {
	// name is the variable name, readable as vars.<name>.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	Name string `json:"name"`

	// value is the initial value, a string.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Value string `json:"value,omitempty"`

	// sensitive values are redacted where people read sessions: the
	// executor's session inspector and `chatflow trace`, whatever node sets
	// the variable. The flow itself reads them as usual.
	// +optional
	Sensitive bool `json:"sensitive,omitempty"`
}

// ExecutorSpec overrides the operator's executor defaults for one flow.
type ExecutorSpec struct {
	// replicas is the number of executor pods. More than one needs the Redis
	// session store (the operator's default store setting).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Replicas *int32 `json:"replicas,omitempty"`

	// template is merged over the operator's executor pod template: labels
	// and annotations are added, scheduling fields replace the defaults, and
	// resources and env apply to the executor container. The restricted
	// security context is always kept.
	// +optional
	Template *ExecutorPodTemplate `json:"template,omitempty"`
}

// ExecutorPodTemplate is the part of a pod template a flow may override. It
// is a curated subset of PodTemplateSpec so that a partial override stays
// valid (a full PodSpec requires containers) and cannot weaken security.
type ExecutorPodTemplate struct {
	// metadata adds labels and annotations to the executor pods.
	// +optional
	Metadata ExecutorPodMetadata `json:"metadata,omitzero"`

	// spec overrides scheduling and resources of the executor pods.
	// +optional
	Spec ExecutorPodSpec `json:"spec,omitzero"`
}

// ExecutorPodMetadata is the metadata a flow may add to its executor pods.
type ExecutorPodMetadata struct {
	// labels are added to the executor pods; the operator's own labels win.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// annotations are added to the executor pods.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ExecutorPodSpec is the part of a PodSpec a flow may override.
type ExecutorPodSpec struct {
	// resources of the executor container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// env adds environment variables to the executor container.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Env []corev1.EnvVar `json:"env,omitempty"`

	// nodeSelector of the executor pods.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// tolerations of the executor pods.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// affinity of the executor pods.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// topologySpreadConstraints of the executor pods.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`

	// priorityClassName of the executor pods.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// serviceAccountName the executor pods run as.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// imagePullSecrets for the executor image.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// terminationGracePeriodSeconds gives in-flight turns time to finish on shutdown.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`
}

// ChatFlowStatus is what the operator observed of a flow.
type ChatFlowStatus struct {
	// observedGeneration is the generation the status describes. It is -1
	// until the operator first reconciled the flow, so a new object is never
	// reported up to date early.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// state is what is live now: Published once an executor serves the
	// flow, Unpublished otherwise.
	// +optional
	State FlowState `json:"state,omitempty"`

	// revision is the hash of the canonical graph that is live. When a new
	// graph of a Published flow is invalid, this stays at the last good one.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Revision string `json:"revision,omitempty"`

	// conditions: Ready, Valid, Bound, ExecutorAvailable, Reconciling, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// executor describes the executor objects of a Published flow.
	// +optional
	Executor *ExecutorStatus `json:"executor,omitempty"`

	// bindings is the number of ChannelBindings that refer to this flow.
	// +optional
	Bindings int32 `json:"bindings,omitempty"`
}

// ExecutorStatus describes the executor objects of a Published flow.
type ExecutorStatus struct {
	// deployment is the name of the executor Deployment.
	// +optional
	Deployment string `json:"deployment,omitempty"`

	// service is the name of the Service that receives the channel webhooks.
	// +optional
	Service string `json:"service,omitempty"`

	// configMap is the name of the immutable ConfigMap of the live revision.
	// +optional
	ConfigMap string `json:"configMap,omitempty"`

	// replicas is the desired number of executor pods.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// readyReplicas is the number of executor pods ready to serve.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// updatedReplicas is the number of executor pods running the live revision.
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty"`
}

// ChatFlow is a messaging automation: a graph of send, wait, branch, HTTP,
// delay, jump and hand-off nodes between a Start and End nodes, triggered by
// a channel or manually, and either Published (live) or Unpublished.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=cf,categories=chatflow-all
// +kubebuilder:printcolumn:name="Trigger",type=string,JSONPath=`.spec.trigger.type`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.spec.state`,description="Desired state"
// +kubebuilder:printcolumn:name="Live",type=string,JSONPath=`.status.state`,description="What is live now"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.revision`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
type ChatFlow struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec declares the flow.
	// +required
	Spec ChatFlowSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	// +kubebuilder:default={"observedGeneration":-1}
	Status ChatFlowStatus `json:"status,omitzero"`
}

// ChatFlowList is a list of ChatFlows.
//
// +kubebuilder:object:root=true
type ChatFlowList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	// items are the flows.
	Items []ChatFlow `json:"items"`
}
