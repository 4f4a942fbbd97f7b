package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CampaignSpec declares a campaign: which Manual flow each contact of an
// audience is started on, when, and how fast.
//
// +kubebuilder:validation:XValidation:rule="self.flowRef.name == oldSelf.flowRef.name",message="spec.flowRef is immutable: contacts already started on one flow would be started again on another; create a new Campaign instead",fieldPath=".flowRef.name",reason=FieldValueForbidden
type CampaignSpec struct {
	// flowRef names the ChatFlow of this namespace that every contact is
	// started on: a Published flow with trigger type Manual. Immutable.
	// +required
	FlowRef FlowReference `json:"flowRef"`

	// audience is who the campaign reaches: contacts listed inline, CSV
	// files in ConfigMap or Secret keys, or both (inline contacts first).
	// Contacts added later (an edited list, appended rows) are started too;
	// contacts already started never are again.
	// +required
	Audience Audience `json:"audience"`

	// inputs are values every contact's run gets as trigger.<name> and
	// vars.<name>; a contact's own inputs (inline, or its CSV columns) win.
	// Names must be inputs the flow declares in spec.trigger.inputs.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=50
	Inputs []CampaignInput `json:"inputs,omitempty"`

	// startTime is when the campaign may start its first contact. Unset:
	// at once.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// quietHours is a daily window, in a time zone, in which no contact is
	// started (runs already going on continue).
	// +optional
	QuietHours *QuietHours `json:"quietHours,omitempty"`

	// rate is how many contacts are started per second. It is shared with
	// the account's send rate (the ChannelBinding's spec.sendRate, or the
	// channel's default: 80 for WhatsApp, 300 for Messenger and Instagram,
	// 100 for Viber) and never exceeds it: a higher rate is lowered to it,
	// and the RateClamped condition says so.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	Rate int32 `json:"rate,omitempty"`

	// optOut names the contacts never to start (people who unsubscribed): a
	// ConfigMap or Secret key holding one contact per line, or a CSV with
	// the audience's contact column. Edits apply to contacts not started
	// yet.
	// +optional
	OptOut *AudienceSource `json:"optOut,omitempty"`

	// suspend pauses the campaign: no contact is started until it is false
	// again. Runs already started go on.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// discardAfter bounds how long a contact the campaign handed to the
	// executor may wait there to start (an executor that was down, a
	// backlog): a run not started in time is dropped and counted failed,
	// rather than reaching the contact late. Default 1h.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	DiscardAfter *metav1.Duration `json:"discardAfter,omitempty"`
}

// Audience is who a campaign reaches.
// +kubebuilder:validation:XValidation:rule="has(self.contacts) || has(self.sources)",message="an audience needs contacts listed inline or CSV sources (a ConfigMap or Secret key)"
type Audience struct {
	// contacts listed inline, at most 1000; put larger audiences in sources.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=1000
	Contacts []CampaignContact `json:"contacts,omitempty"`

	// sources are CSV files, each in a ConfigMap or Secret key of this
	// namespace (gzip-compressed content is accepted, e.g. in binaryData,
	// for audiences beyond a ConfigMap's 1 MiB). The first line of each is
	// its header. They are read in order, after the inline contacts.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	Sources []AudienceSource `json:"sources,omitempty"`

	// columns says which CSV columns hold what.
	// +optional
	Columns AudienceColumns `json:"columns,omitzero"`
}

// CampaignContact is one contact listed inline.
type CampaignContact struct {
	// id is the contact on the flow's channel: the phone number for
	// WhatsApp (digits, an optional leading +), the page-scoped id for
	// Messenger and Instagram, the user id for Viber.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	ID string `json:"id"`

	// name of the contact, readable as contact.name.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name,omitempty"`

	// inputs of this contact's run, by input name.
	// +optional
	// +kubebuilder:validation:MaxProperties=50
	Inputs map[string]string `json:"inputs,omitempty"`
}

// CampaignInput is a value every contact's run gets.
type CampaignInput struct {
	// name of a flow input.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	Name string `json:"name"`

	// value of the input.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Value string `json:"value,omitempty"`
}

// AudienceSource is a ConfigMap or Secret key.
// +kubebuilder:validation:XValidation:rule="has(self.configMapKeyRef) != has(self.secretKeyRef)",message="set exactly one of configMapKeyRef and secretKeyRef"
type AudienceSource struct {
	// configMapKeyRef selects a key of a ConfigMap in this namespace
	// (data or binaryData).
	// +optional
	ConfigMapKeyRef *ConfigMapKeySelector `json:"configMapKeyRef,omitempty"`

	// secretKeyRef selects a key of a Secret in this namespace.
	// +optional
	SecretKeyRef *SecretKeySelector `json:"secretKeyRef,omitempty"`
}

// ConfigMapKeySelector selects a key of a ConfigMap in the same namespace.
type ConfigMapKeySelector struct {
	// name of the ConfigMap.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key in the ConfigMap.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// AudienceColumns names the columns of the CSV sources.
type AudienceColumns struct {
	// contact is the header of the column with the contact id. Default contact.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Contact string `json:"contact,omitempty"`

	// name is the header of the column with the contact's name (optional
	// in the files). Default name.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Name string `json:"name,omitempty"`

	// inputs map columns to flow inputs. Without them, every column whose
	// header is the name of an input the flow declares is that input.
	// +optional
	// +listType=map
	// +listMapKey=column
	// +kubebuilder:validation:MaxItems=50
	Inputs []ColumnInput `json:"inputs,omitempty"`
}

// ColumnInput maps a CSV column to a flow input.
type ColumnInput struct {
	// column is the header of the column.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Column string `json:"column"`

	// input is the name of the flow input it fills.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	Input string `json:"input"`
}

// QuietHours is a daily window in which a campaign starts no contact, e.g.
// from 21:00 to 08:00 in Europe/Berlin. A window whose end is before its
// start runs over midnight.
// +kubebuilder:validation:XValidation:rule="self.start != self.end",message="quiet hours need different start and end times"
type QuietHours struct {
	// start of the window, HH:MM (24-hour clock).
	// +required
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	Start string `json:"start"`

	// end of the window, HH:MM (24-hour clock).
	// +required
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	End string `json:"end"`

	// timeZone of start and end, an IANA name such as Europe/Berlin.
	// Default UTC.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	TimeZone string `json:"timeZone,omitempty"`
}

// CampaignStatus is the progress of a campaign.
type CampaignStatus struct {
	// observedGeneration is the generation the status describes; -1 until
	// the operator first reconciled the campaign.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Complete, Reconciling, Stalled and RateClamped.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// total is the number of contacts in the audience (skipped ones included).
	// +optional
	Total int64 `json:"total,omitempty"`

	// pending contacts are not started or skipped yet.
	// +optional
	Pending int64 `json:"pending,omitempty"`

	// started contacts were handed to the flow's executor, which starts
	// each exactly once.
	// +optional
	Started int64 `json:"started,omitempty"`

	// skipped contacts were not started, by reason.
	// +optional
	Skipped SkippedCounts `json:"skipped,omitzero"`

	// done counts the started runs that reached an End node.
	// +optional
	Done int64 `json:"done,omitempty"`

	// failed counts the started runs that ended with an error or were
	// dropped (discardAfter passed).
	// +optional
	Failed int64 `json:"failed,omitempty"`

	// progress is the percentage of contacts with a final outcome: done,
	// failed or skipped.
	// +optional
	Progress int32 `json:"progress,omitempty"`

	// rate is the rate the campaign starts contacts at: spec.rate, or the
	// account's send rate when that is lower.
	// +optional
	Rate int32 `json:"rate,omitempty"`

	// startTime is when the first contact was started.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// finishTime is when every contact had a final outcome.
	// +optional
	FinishTime *metav1.Time `json:"finishTime,omitempty"`

	// checkpoint is where the campaign stands in its audience, so that a
	// restarted manager resumes there. Internal; do not edit.
	// +optional
	Checkpoint *CampaignCheckpoint `json:"checkpoint,omitempty"`
}

// SkippedCounts are the contacts a campaign did not start, by reason.
type SkippedCounts struct {
	// total of the skipped contacts.
	// +optional
	Total int64 `json:"total,omitempty"`
	// optedOut contacts are on the opt-out list.
	// +optional
	OptedOut int64 `json:"optedOut,omitempty"`
	// invalidInput contacts have an invalid id or lack a required input.
	// +optional
	InvalidInput int64 `json:"invalidInput,omitempty"`
	// duplicate contacts are listed more than once; the first is started.
	// +optional
	Duplicate int64 `json:"duplicate,omitempty"`
}

// CampaignCheckpoint is how far a campaign went through its audience.
type CampaignCheckpoint struct {
	// rows of the audience handled (started or skipped), in order.
	// +optional
	Rows int64 `json:"rows,omitempty"`
	// digest of those rows: when the audience no longer begins with them
	// (rows were edited rather than appended), the campaign goes through
	// the whole audience again, and the executor refuses to start anyone
	// twice.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Digest string `json:"digest,omitempty"`
	// sources identifies the versions of the ConfigMaps and Secrets read:
	// a completed campaign whose sources change goes on with the contacts
	// they add.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Sources string `json:"sources,omitempty"`
}

// Campaign starts a Published Manual ChatFlow for every contact of an
// audience, at most once per contact, at a rate, outside quiet hours,
// skipping opted-out contacts, with its progress in status.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=camp,categories=chatflow-all
// +kubebuilder:printcolumn:name="Flow",type=string,JSONPath=`.spec.flowRef.name`
// +kubebuilder:printcolumn:name="Total",type=integer,JSONPath=`.status.total`
// +kubebuilder:printcolumn:name="Started",type=integer,JSONPath=`.status.started`
// +kubebuilder:printcolumn:name="Done",type=integer,JSONPath=`.status.done`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.failed`
// +kubebuilder:printcolumn:name="Skipped",type=integer,JSONPath=`.status.skipped.total`
// +kubebuilder:printcolumn:name="Progress",type=integer,JSONPath=`.status.progress`,description="Percentage of contacts done, failed or skipped"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
type Campaign struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec declares the campaign.
	// +required
	Spec CampaignSpec `json:"spec"`

	// status is the campaign's progress.
	// +optional
	// +kubebuilder:default={"observedGeneration":-1}
	Status CampaignStatus `json:"status,omitzero"`
}

// CampaignList is a list of Campaigns.
//
// +kubebuilder:object:root=true
type CampaignList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	// items are the campaigns.
	Items []Campaign `json:"items"`
}

// Condition types of a Campaign besides Ready, Reconciling and Stalled.
// Complete is positive (True once every contact has a final outcome);
// RateClamped is negative: True while spec.rate exceeds the account's send
// rate and the campaign runs at the account's rate instead.
const (
	ConditionComplete    = "Complete"
	ConditionRateClamped = "RateClamped"
)

// Condition reasons of a Campaign.
const (
	// ReasonRunning: contacts are being started.
	ReasonRunning = "Running"
	// ReasonScheduled: spec.startTime is in the future.
	ReasonScheduled = "Scheduled"
	// ReasonQuietHours: inside spec.quietHours, nobody is started.
	ReasonQuietHours = "QuietHours"
	// ReasonSuspended: spec.suspend is true.
	ReasonSuspended = "Suspended"
	// ReasonFinishing: every contact was started or skipped; runs are still going on.
	ReasonFinishing = "Finishing"
	// ReasonCompleted: every contact has a final outcome.
	ReasonCompleted = "Completed"
	// ReasonFlowUnpublished: the flow is not live; the campaign waits.
	ReasonFlowUnpublished = "FlowUnpublished"
	// ReasonFlowNotManual: the flow is triggered by a channel, not the run API.
	ReasonFlowNotManual = "FlowNotManual"
	// ReasonAudienceUnavailable: a source is missing or unreadable.
	ReasonAudienceUnavailable = "AudienceUnavailable"
	// ReasonInvalidInputs: spec.inputs or the column mapping name inputs the flow does not declare.
	ReasonInvalidInputs = "InvalidInputs"
	// ReasonExecutorUnavailable: the flow's executor did not answer; the campaign retries.
	ReasonExecutorUnavailable = "ExecutorUnavailable"
	// ReasonRateClamped: spec.rate exceeds the account's send rate.
	ReasonRateClamped = "RateClamped"
	// ReasonWithinRate: spec.rate is within the account's send rate.
	ReasonWithinRate = "WithinRate"
)
