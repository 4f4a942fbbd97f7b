package lint

import (
	"fmt"
	"slices"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// Reference is the API reference of a kind's spec, one line per field,
// from the embedded CRD (the kubebuilder markers' documentation): path,
// type, enum values, required, and the first sentences of its
// description. Subtrees under skip (e.g. "spec.executor") are left out.
// `chatflow generate` gives it to a model with the examples.
func Reference(kind string, skip ...string) (string, error) {
	name := map[string]string{
		"ChatFlow": "crds/chatflow.dev_chatflows.yaml", "ChannelBinding": "crds/chatflow.dev_channelbindings.yaml",
		"LanguageModel": "crds/chatflow.dev_languagemodels.yaml",
	}[kind]
	if name == "" {
		return "", fmt.Errorf("no CRD of kind %s", kind)
	}
	b, err := crdFiles.ReadFile(name)
	if err != nil {
		return "", err
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(b, &crd); err != nil {
		return "", err
	}
	for _, v := range crd.Spec.Versions {
		if v.Name != "v1alpha1" || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			continue
		}
		spec, ok := v.Schema.OpenAPIV3Schema.Properties["spec"]
		if !ok {
			break
		}
		var out strings.Builder
		describe(&out, "spec", spec, false, skip)
		return out.String(), nil
	}
	return "", fmt.Errorf("the %s CRD has no v1alpha1 spec schema", kind)
}

func describe(out *strings.Builder, path string, s apiextensionsv1.JSONSchemaProps, required bool, skip []string) {
	if slices.Contains(skip, path) {
		return
	}
	typ := s.Type
	if s.XIntOrString {
		typ = "int or string"
	}
	if len(s.Enum) > 0 {
		var vals []string
		for _, e := range s.Enum {
			vals = append(vals, strings.Trim(string(e.Raw), `"`))
		}
		typ += ": " + strings.Join(vals, " | ")
	}
	if s.Default != nil {
		typ += ", default " + string(s.Default.Raw)
	}
	if required {
		typ += ", required"
	}
	fmt.Fprintf(out, "%s (%s)", path, typ)
	if d := firstSentences(s.Description, 2); d != "" {
		out.WriteString(": " + d)
	}
	out.WriteByte('\n')
	switch {
	case s.Items != nil && s.Items.Schema != nil:
		describe(out, path+"[]", *s.Items.Schema, false, skip)
	case len(s.Properties) > 0:
		names := make([]string, 0, len(s.Properties))
		for n := range s.Properties {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			describe(out, path+"."+n, s.Properties[n], slices.Contains(s.Required, n), skip)
		}
	}
}

// firstSentences keeps up to n sentences of a description, on one line.
func firstSentences(d string, n int) string {
	d = strings.Join(strings.Fields(d), " ")
	end := 0
	for i := 0; i < n; i++ {
		j := strings.Index(d[end:], ". ")
		if j < 0 {
			return d
		}
		end += j + 1
	}
	return d[:end]
}
