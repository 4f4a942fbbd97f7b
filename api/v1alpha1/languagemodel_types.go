package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LanguageModelSpec configures a chat model behind an OpenAI-compatible
// API, once per namespace: the AIReply, AIClassify and AIExtract nodes of
// the namespace's flows name it in their model field.
// +kubebuilder:validation:XValidation:rule="!has(self.apiKeyRef) || self.baseURL.startsWith('https://') || self.baseURL.matches('^http://(localhost|127[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}|[[]::1[]])(:[0-9]{1,5})?(/[^?#]*)?$')",message="baseURL must be https when apiKeyRef is set: the executor sends the API key to it (plain http is accepted only for localhost, 127.0.0.0/8 and [::1], for development and tests)",fieldPath=".baseURL"
type LanguageModelSpec struct {
	// baseURL of the OpenAI-compatible API, up to and including its
	// version: the executor POSTs to {baseURL}/chat/completions, e.g.
	// https://api.openai.com/v1. Like every address a flow calls, a
	// private, loopback or link-local one is refused unless the operator
	// allows its network. No query, fragment or credentials: the key goes
	// in apiKeyRef, and with a key the URL must be https (plain http only
	// to localhost, for development).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^\s?#@]+$`
	BaseURL string `json:"baseURL"`

	// model is the model name each request asks for, e.g. gpt-4o-mini.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[^\s]+$`
	Model string `json:"model"`

	// apiKeyRef selects the key of a Secret in this namespace that holds
	// the API key, sent as a bearer token. The Secret is mounted into the
	// executors of the flows that use the model; its value is never put in
	// arguments, logs or sessions. Leave it out for endpoints without
	// authentication (a model served inside the cluster).
	// +optional
	APIKeyRef *SecretKeySelector `json:"apiKeyRef,omitempty"`

	// timeout of one node's model call, retries included, between 1s and
	// 2m. Default 30s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// maxTokens caps the length of an answer (the request's max_tokens).
	// Default 512.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=32768
	MaxTokens int32 `json:"maxTokens,omitempty"`

	// temperature of the sampling, from "0" (most deterministic) to "2",
	// as a decimal string, e.g. "0.2". Unset leaves it to the endpoint.
	// +optional
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:Pattern=`^(0|1)(\.[0-9]{1,3})?$|^2(\.0{1,3})?$`
	Temperature string `json:"temperature,omitempty"`

	// requestsPerMinute caps the calls each executor pod makes to the
	// model; calls over it wait (within the node's timeout). Default 60.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	RequestsPerMinute int32 `json:"requestsPerMinute,omitempty"`
}

// LanguageModelStatus is what the operator observed of a model.
type LanguageModelStatus struct {
	// observedGeneration is the generation the status describes; -1 until
	// the operator first reconciled the model.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready and Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// LanguageModel is a chat model behind an OpenAI-compatible API (OpenAI,
// Azure OpenAI, vLLM, Ollama, LiteLLM, ...), with the Secret of its key and
// the limits of its use. Flows of the namespace use it by name; a flow
// whose model is missing or not Ready is not Ready either.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=lm,categories=chatflow-all
// +kubebuilder:printcolumn:name="Model",type=string,JSONPath=`.spec.model`
// +kubebuilder:printcolumn:name="BaseURL",type=string,JSONPath=`.spec.baseURL`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
type LanguageModel struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec declares the model.
	// +required
	Spec LanguageModelSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	// +kubebuilder:default={"observedGeneration":-1}
	Status LanguageModelStatus `json:"status,omitzero"`
}

// LanguageModelList is a list of LanguageModels.
//
// +kubebuilder:object:root=true
type LanguageModelList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	// items are the models.
	Items []LanguageModel `json:"items"`
}
