package v1alpha1

// Condition types of ChatFlow, ChannelBinding and LanguageModel. Ready, Valid, Bound and
// ExecutorAvailable have positive polarity (True is good); Reconciling and
// Stalled have negative polarity ("abnormal-true": absent or False is good),
// as kstatus expects.
const (
	// ConditionReady is True when the object is fully reconciled: for a
	// Published flow, its live revision is served by an available executor.
	ConditionReady = "Ready"
	// ConditionValid is True when the flow graph compiles.
	ConditionValid = "Valid"
	// ConditionBound is True when the flow has what it needs to receive
	// messages: a ready ChannelBinding of its trigger channel (or none
	// needed for a Manual flow).
	ConditionBound = "Bound"
	// ConditionExecutorAvailable is True when the executor Deployment of the
	// live revision has its replicas available.
	ConditionExecutorAvailable = "ExecutorAvailable"
	// ConditionReconciling is True while the operator works towards the
	// declared state, e.g. while an executor rolls out. Negative polarity.
	ConditionReconciling = "Reconciling"
	// ConditionWebhookOverride is True when the phone number's override
	// callback URL is registered with Meta (a WhatsApp ChannelBinding with
	// spec.webhookOverride); absent otherwise. Positive polarity.
	ConditionWebhookOverride = "WebhookOverride"
	// ConditionStalled is True when the operator cannot make progress
	// without a change by the user (an invalid graph, a missing Secret key,
	// a binding conflict). Negative polarity.
	ConditionStalled = "Stalled"
)

// Condition reasons.
const (
	ReasonSucceeded             = "Succeeded"
	ReasonProgressing           = "Progressing"
	ReasonInvalidGraph          = "InvalidGraph"
	ReasonLastGoodRevisionLive  = "LastGoodRevisionLive"
	ReasonUnpublished           = "Unpublished"
	ReasonBindingMissing        = "BindingMissing"
	ReasonBindingNotReady       = "BindingNotReady"
	ReasonNotNeeded             = "NotNeeded"
	ReasonDeploymentProgressing = "DeploymentProgressing"
	ReasonDeploymentAvailable   = "DeploymentAvailable"
	ReasonDeploymentUnavailable = "DeploymentUnavailable"
	ReasonFlowNotFound          = "FlowNotFound"
	ReasonChannelMismatch       = "ChannelMismatch"
	ReasonSecretNotFound        = "SecretNotFound"
	ReasonSecretKeyMissing      = "SecretKeyMissing"
	// ReasonCredentialsMissing: a Manual flow has neither a ChannelBinding
	// nor spec.trigger.credentialsRef, so its run API would refuse every run.
	ReasonCredentialsMissing = "CredentialsMissing"
	ReasonConflict           = "Conflict"
	// ReasonModelNotFound: an AI node of the flow names a LanguageModel
	// that does not exist in its namespace.
	ReasonModelNotFound = "ModelNotFound"
	// ReasonModelNotReady: a LanguageModel the flow's AI nodes use is not
	// Ready (its key's Secret is missing, for one).
	ReasonModelNotReady = "ModelNotReady"
	// ReasonInvalidSpec: the object's spec breaks a rule admission would
	// have refused (it was created while the webhook was not running).
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonReconcileFailed says the last reconcile hit an error (an API
	// call failed); the operator retries with backoff.
	ReasonReconcileFailed = "ReconcileFailed"
	// ReasonRegistered: the override callback URL is registered.
	ReasonRegistered = "Registered"
	// ReasonRegistrationFailed: the Graph API refused the override (its
	// error is in the message); the operator retries.
	ReasonRegistrationFailed = "RegistrationFailed"
	// ReasonOverrideNotRemoved: the binding went but the Graph API did not
	// remove its number's override callback (a Warning event on the
	// binding says why); remove it by hand in the Meta app's settings.
	ReasonOverrideNotRemoved = "OverrideNotRemoved"
	// ReasonPublicURLUnknown: the manager has no gateway public URL to
	// register (--gateway-public-url, the chart's gateway.publicURL).
	ReasonPublicURLUnknown = "PublicURLUnknown"
	// ReasonRemovingExecutor says an Unpublished flow's executor is being removed.
	ReasonRemovingExecutor = "RemovingExecutor"
	// ReasonProgressDeadlineExceeded says the executor rollout stopped
	// making progress (pods crash or cannot be scheduled); the previous
	// revision keeps serving where it still runs.
	ReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"
)
