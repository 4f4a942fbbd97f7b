// Package secretrefs knows which Secrets each Chatflow kind references,
// with the field path of every reference. It is the one list that
// admission (may the requester read them?), the field indexes (which
// objects reference this Secret?) and the Secret labels
// (builders.LabelReferenced) are derived from, so a reference that one of
// them sees, all of them see.
//
// A new kind that references Secrets (a model's API key, a campaign's
// audience) adds one Kind to Kinds: a function listing its references with
// their field paths, and the name of its field index.
//
// It must not import the reconcilers, the webhooks or controllers/index
// (which imports it).
package secretrefs

import (
	"context"
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// Ref is one reference of an object to a Secret of its own namespace.
type Ref struct {
	// Name of the Secret.
	Name string
	// Path of the field that names it, e.g.
	// spec.nodes[3].httpRequest.headers[0].valueFrom.secretKeyRef.name.
	Path *field.Path
}

// Kind is a Chatflow kind whose objects reference Secrets.
type Kind struct {
	// Object is an empty object of the kind.
	Object client.Object
	// NewList returns an empty list of the kind.
	NewList func() client.ObjectList
	// Field is the key of the field index that maps a Secret name to the
	// objects of the kind that reference it (registered by
	// controllers/index with Names(Refs(obj)) as values).
	Field string
	// Refs lists the Secrets an object of the kind references, in field
	// order.
	Refs func(obj client.Object) []Ref
}

// Field index keys of the kinds (see Kind.Field).
const (
	// ChatFlowField indexes ChatFlows by the Secrets they reference.
	ChatFlowField = "spec.nodes.httpRequest.headers.secretRefs"
	// ChannelBindingField indexes ChannelBindings by their credentials
	// Secret (spec.credentialsRef.name).
	ChannelBindingField = "spec.credentialsRef.name"
	// LanguageModelField indexes LanguageModels by the Secret of their
	// API key (spec.apiKeyRef.name).
	LanguageModelField = "spec.apiKeyRef.name"
	// CampaignField indexes Campaigns by the Secrets their audience and
	// opt-out list read.
	CampaignField = "spec.audience.secretRefs"
)

// Kinds are every kind that references Secrets.
var Kinds = []Kind{
	{
		Object:  &v1alpha1.ChatFlow{},
		NewList: func() client.ObjectList { return &v1alpha1.ChatFlowList{} },
		Field:   ChatFlowField,
		Refs: func(o client.Object) []Ref {
			if f, ok := o.(*v1alpha1.ChatFlow); ok {
				return OfChatFlow(&f.Spec)
			}
			return nil
		},
	},
	{
		Object:  &v1alpha1.ChannelBinding{},
		NewList: func() client.ObjectList { return &v1alpha1.ChannelBindingList{} },
		Field:   ChannelBindingField,
		Refs: func(o client.Object) []Ref {
			if b, ok := o.(*v1alpha1.ChannelBinding); ok {
				return OfChannelBinding(&b.Spec)
			}
			return nil
		},
	},
	{
		Object:  &v1alpha1.LanguageModel{},
		NewList: func() client.ObjectList { return &v1alpha1.LanguageModelList{} },
		Field:   LanguageModelField,
		Refs: func(o client.Object) []Ref {
			if m, ok := o.(*v1alpha1.LanguageModel); ok {
				return OfLanguageModel(&m.Spec)
			}
			return nil
		},
	},
	{
		// A campaign reads its audience and opt-out list from the Secret
		// keys it names (the manager does): who creates one must be
		// allowed to read them.
		Object:  &v1alpha1.Campaign{},
		NewList: func() client.ObjectList { return &v1alpha1.CampaignList{} },
		Field:   CampaignField,
		Refs: func(o client.Object) []Ref {
			if c, ok := o.(*v1alpha1.Campaign); ok {
				return OfCampaign(&c.Spec)
			}
			return nil
		},
	},
}

// OfCampaign lists the Secrets a campaign reads: audience sources and the
// opt-out list kept in Secret keys.
func OfCampaign(spec *v1alpha1.CampaignSpec) []Ref {
	var refs []Ref
	for i, src := range spec.Audience.Sources {
		if r := src.SecretKeyRef; r != nil && r.Name != "" {
			refs = append(refs, Ref{Name: r.Name, Path: field.NewPath("spec", "audience", "sources").Index(i).Child("secretKeyRef", "name")})
		}
	}
	if o := spec.OptOut; o != nil && o.SecretKeyRef != nil && o.SecretKeyRef.Name != "" {
		refs = append(refs, Ref{Name: o.SecretKeyRef.Name, Path: field.NewPath("spec", "optOut", "secretKeyRef", "name")})
	}
	return refs
}

// Of lists the Secrets obj references, whatever its kind (nil for a kind
// that references none).
func Of(obj client.Object) []Ref {
	for _, k := range Kinds {
		if reflect.TypeOf(k.Object) == reflect.TypeOf(obj) {
			return k.Refs(obj)
		}
	}
	return nil
}

// OfChatFlow lists the Secrets a flow references: those its HTTPRequest
// headers send, a Manual flow's run credentials (spec.trigger.credentialsRef)
// and those its executor pod template reads (environment variables and
// image pull Secrets).
func OfChatFlow(spec *v1alpha1.ChatFlowSpec) []Ref {
	refs := OfHTTPHeaders(spec)
	if r := spec.Trigger.CredentialsRef; r != nil && r.Name != "" {
		refs = append(refs, Ref{Name: r.Name, Path: field.NewPath("spec", "trigger", "credentialsRef", "name")})
	}
	if spec.Executor == nil || spec.Executor.Template == nil {
		return refs
	}
	pod := field.NewPath("spec", "executor", "template", "spec")
	for i, e := range spec.Executor.Template.Spec.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name != "" {
			refs = append(refs, Ref{Name: e.ValueFrom.SecretKeyRef.Name,
				Path: pod.Child("env").Index(i).Child("valueFrom", "secretKeyRef", "name")})
		}
	}
	for i, s := range spec.Executor.Template.Spec.ImagePullSecrets {
		if s.Name != "" {
			refs = append(refs, Ref{Name: s.Name, Path: pod.Child("imagePullSecrets").Index(i).Child("name")})
		}
	}
	return refs
}

// OfHTTPHeaders lists the Secrets a flow's HTTPRequest headers send: the
// ones the executor mounts for the flow.
func OfHTTPHeaders(spec *v1alpha1.ChatFlowSpec) []Ref {
	var refs []Ref
	nodes := field.NewPath("spec", "nodes")
	for i := range spec.Nodes {
		h := spec.Nodes[i].HTTPRequest
		if h == nil {
			continue
		}
		for j, hd := range h.Headers {
			if hd.ValueFrom != nil && hd.ValueFrom.SecretKeyRef.Name != "" {
				refs = append(refs, Ref{Name: hd.ValueFrom.SecretKeyRef.Name,
					Path: nodes.Index(i).Child("httpRequest", "headers").Index(j).Child("valueFrom", "secretKeyRef", "name")})
			}
		}
	}
	return refs
}

// OfChannelBinding lists the Secret a binding references: its credentials.
func OfChannelBinding(spec *v1alpha1.ChannelBindingSpec) []Ref {
	if spec.CredentialsRef.Name == "" {
		return nil
	}
	return []Ref{{Name: spec.CredentialsRef.Name, Path: field.NewPath("spec", "credentialsRef", "name")}}
}

// Names returns the distinct Secret names of refs, in the order they first
// appear.
func Names(refs []Ref) []string {
	var names []string
	seen := map[string]bool{}
	for _, r := range refs {
		if !seen[r.Name] {
			seen[r.Name] = true
			names = append(names, r.Name)
		}
	}
	return names
}

// InUse says whether any object of any kind in the namespace references
// the Secret, looked up through the field indexes of Kinds (so r is the
// manager's cache, or a fake client with controllers/index registered).
func InUse(ctx context.Context, r client.Reader, namespace, name string) (bool, error) {
	for _, k := range Kinds {
		list := k.NewList()
		if err := r.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{k.Field: name}); err != nil {
			return false, fmt.Errorf("listing what references Secret %s: %w", name, err)
		}
		if meta.LenList(list) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// OfLanguageModel lists the Secret a model references: its API key's.
func OfLanguageModel(spec *v1alpha1.LanguageModelSpec) []Ref {
	if spec.APIKeyRef == nil || spec.APIKeyRef.Name == "" {
		return nil
	}
	return []Ref{{Name: spec.APIKeyRef.Name, Path: field.NewPath("spec", "apiKeyRef", "name")}}
}
