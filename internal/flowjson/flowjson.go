// Package flowjson owns the portable flow format of `chatflow export` and
// `chatflow import`: a ChatFlow without what a cluster adds to it, as JSON
// that moves between clusters, repositories and tools.
//
//	{
//	  "format": "chatflow.dev/flow/v1alpha1",
//	  "name": "order-status",
//	  "labels": {...},            // omitted when empty
//	  "annotations": {...},       // omitted when empty
//	  "revision": "5f1c2a9e0b",   // flow.Revision of the spec, informational
//	  "spec": {...}               // the ChatFlow spec, as the API serialises it
//	}
//
// Left out: the namespace, uid, resourceVersion, generation, timestamps,
// managed fields, owner references, finalizers, status, and the labels and
// annotations that tools add (kubectl's last-applied configuration, Argo
// CD's tracking id, Flux's kustomize labels).
//
// The round trip is exact: Marshal(Parse(Marshal(f))) == Marshal(f), and a
// manifest written by Manifest decodes to the same ChatFlow that was
// exported, minus the left-out metadata.
//
// It imports the API types, runtime/flow (for the revision) and
// internal/manifest; nothing that talks to a cluster.
package flowjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/runtime/flow"
)

// Format identifies the portable flow format and its version.
const Format = "chatflow.dev/flow/v1alpha1"

// Flow is a portable flow.
type Flow struct {
	Format      string                `json:"format"`
	Name        string                `json:"name"`
	Labels      map[string]string     `json:"labels,omitempty"`
	Annotations map[string]string     `json:"annotations,omitempty"`
	Revision    string                `json:"revision,omitempty"`
	Spec        v1alpha1.ChatFlowSpec `json:"spec"`
}

// toolAnnotations and toolLabels are metadata that deployment tools add:
// they describe one cluster's copy, not the flow.
var (
	toolAnnotations = []string{
		"kubectl.kubernetes.io/last-applied-configuration",
		"argocd.argoproj.io/tracking-id",
	}
	toolPrefixes = []string{
		"kustomize.toolkit.fluxcd.io/",
		"helm.toolkit.fluxcd.io/",
		"meta.helm.sh/",
	}
)

func keepMeta(m map[string]string, drop []string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		skip := false
		for _, d := range drop {
			skip = skip || k == d
		}
		for _, p := range toolPrefixes {
			skip = skip || strings.HasPrefix(k, p)
		}
		if !skip {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// FromChatFlow makes the portable form of a ChatFlow.
func FromChatFlow(cf *v1alpha1.ChatFlow) (*Flow, error) {
	f := &Flow{
		Format:      Format,
		Name:        cf.Name,
		Labels:      keepMeta(cf.Labels, nil),
		Annotations: keepMeta(cf.Annotations, toolAnnotations),
	}
	cf.Spec.DeepCopyInto(&f.Spec)
	rev, err := flow.Revision(&f.Spec)
	if err != nil {
		return nil, err
	}
	f.Revision = rev
	return f, nil
}

// Marshal writes the flow as indented JSON with a final newline.
func (f *Flow) Marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Parse reads a portable flow with the manifest decoder every command
// uses (internal/manifest): strictly, so an unknown or wrongly typed field
// is an error at its path and line, and another format is refused.
func Parse(src manifest.Source) (*Flow, error) {
	objs, err := manifest.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("not a portable flow: %w", err)
	}
	if len(objs) != 1 {
		return nil, fmt.Errorf("not a portable flow: %s holds %d objects; a portable flow is one JSON object", src.Name, len(objs))
	}
	o := objs[0]
	if f, _ := o.Value["format"].(string); f != Format {
		return nil, fmt.Errorf("not a portable flow: format is %q, want %q", f, Format)
	}
	var f Flow
	if err := o.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a valid portable flow:\n%w", err)
	}
	if f.Name == "" {
		return nil, fmt.Errorf("the portable flow has no name: set \"name\", or import with --name")
	}
	return &f, nil
}

// Check compares the recorded revision with the spec's: a difference means
// the spec was edited after the export (fine, but worth saying).
func (f *Flow) Check() (warning string) {
	if f.Revision == "" {
		return ""
	}
	rev, err := flow.Revision(&f.Spec)
	if err != nil || rev == f.Revision {
		return ""
	}
	return fmt.Sprintf("the file records revision %s but its spec hashes to %s: it was edited after the export", f.Revision, rev)
}

// ChatFlow makes the ChatFlow of a portable flow, in namespace (may be empty).
func (f *Flow) ChatFlow(namespace string) *v1alpha1.ChatFlow {
	cf := &v1alpha1.ChatFlow{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ChatFlow"},
		ObjectMeta: metav1.ObjectMeta{
			Name: f.Name, Namespace: namespace,
			Labels: maps.Clone(f.Labels), Annotations: maps.Clone(f.Annotations),
		},
	}
	f.Spec.DeepCopyInto(&cf.Spec)
	return cf
}

// manifestDoc fixes the key order and content of a written manifest: no
// status, no empty metadata fields.
type manifestDoc struct {
	APIVersion string                `json:"apiVersion"`
	Kind       string                `json:"kind"`
	Metadata   manifestMeta          `json:"metadata"`
	Spec       v1alpha1.ChatFlowSpec `json:"spec"`
}

type manifestMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Manifest writes a ChatFlow manifest as YAML, with header as comments.
func Manifest(cf *v1alpha1.ChatFlow, header string) ([]byte, error) {
	return manifest.YAML(manifestDoc{
		APIVersion: v1alpha1.GroupVersion.String(),
		Kind:       "ChatFlow",
		Metadata:   manifestMeta{Name: cf.Name, Namespace: cf.Namespace, Labels: cf.Labels, Annotations: cf.Annotations},
		Spec:       cf.Spec,
	}, header)
}

// IsPortable reports whether a parsed document is a portable flow.
func IsPortable(o manifest.Object) bool {
	f, _ := o.Value["format"].(string)
	return o.Kind == "" && strings.HasPrefix(f, "chatflow.dev/flow/")
}

// topLevel are the fields of the portable format.
var topLevel = []string{"format", "name", "labels", "annotations", "revision", "spec"}

// AsManifest turns a parsed portable flow into the ChatFlow object it
// stands for, keeping the positions of its fields: spec paths are the same
// in both forms, and the metadata is placed where name, labels and
// annotations were written. Linting a portable file then reports its own
// lines. unknown lists top-level fields the format does not have; a format
// of another version is reported as an error.
func AsManifest(o manifest.Object) (out manifest.Object, unknown []string, err error) {
	v := o.Value
	if f, _ := v["format"].(string); f != Format {
		err = fmt.Errorf("format %q is not supported: this chatflow reads %q", f, Format)
	}
	for k := range v {
		if !slices.Contains(topLevel, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	meta := map[string]any{}
	for _, k := range []string{"name", "labels", "annotations"} {
		if x, ok := v[k]; ok {
			meta[k] = x
		}
	}
	obj := map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(),
		"kind":       "ChatFlow",
		"metadata":   meta,
	}
	if s, ok := v["spec"]; ok {
		obj["spec"] = s
	}
	out = o
	out.Value = obj
	out.APIVersion, out.Kind = v1alpha1.GroupVersion.String(), "ChatFlow"
	out.Name, _ = v["name"].(string)
	out.Namespace = ""
	out.Pos = o.Pos.Rebase(map[string]string{"metadata.name": "name", "metadata.labels": "labels", "metadata.annotations": "annotations", "metadata": "name"})
	return out, unknown, err
}
