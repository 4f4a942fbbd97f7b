// Package v1alpha1 holds the ChatFlow, ChannelBinding, LanguageModel and
// Campaign API types of the chatflow.dev group: their fields, documentation,
// defaults and schema markers. It must not import controllers, the runtime
// packages or anything beyond Kubernetes API machinery, so clients can
// vendor it cheaply.
//
// +kubebuilder:object:generate=true
// +groupName=chatflow.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// SchemeGroupVersion is the group and version of every type here.
	SchemeGroupVersion = schema.GroupVersion{Group: "chatflow.dev", Version: "v1alpha1"}
	// GroupVersion is an alias of SchemeGroupVersion, as kubebuilder names it.
	GroupVersion = SchemeGroupVersion

	// SchemeBuilder registers the types of this package.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion,
		&ChatFlow{}, &ChatFlowList{},
		&ChannelBinding{}, &ChannelBindingList{},
		&LanguageModel{}, &LanguageModelList{},
		&Campaign{}, &CampaignList{},
	)
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}
