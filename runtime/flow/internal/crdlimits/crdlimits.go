// Package crdlimits generates runtime/flow's limits from the ChatFlow CRD:
// the sizes, lengths, ranges, patterns and enums the flow compiler checks
// are the ones the kubebuilder markers of api/v1alpha1 put in the CRD, so
// a limit changes in one place (the marker) and `make manifests` carries
// it to both. It reads the CRD as YAML and must not import the API types
// or runtime/flow, whose source it writes.
package crdlimits

import (
	"bytes"
	"fmt"
	"go/format"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// Limit is one generated declaration: a field of the schema and the
// keyword of it that the compiler checks.
type Limit struct {
	// Name of the Go constant (or variable, for an enum).
	Name string
	// Path in the schema: field names from the root, [] for list items.
	Path string
	// Keyword: maxItems, minItems, maxLength, minLength, minimum, maximum,
	// pattern or enum.
	Keyword string
}

// Limits are what runtime/flow's compiler checks itself, because it also
// compiles flows that never went through an API server.
var Limits = []Limit{
	{"MaxNodes", "spec.nodes", "maxItems"},
	{"MaxVariables", "spec.variables", "maxItems"},
	{"MaxInputs", "spec.trigger.inputs", "maxItems"},
	{"MaxBranches", "spec.nodes[].condition.branches", "maxItems"},
	{"MaxAssigns", "spec.nodes[].setVariables.variables", "maxItems"},
	{"MaxHeaders", "spec.nodes[].httpRequest.headers", "maxItems"},
	{"MaxQuery", "spec.nodes[].httpRequest.query", "maxItems"},
	{"MaxButtons", "spec.nodes[].sendMessage.buttons", "maxItems"},
	{"MaxQuickReplies", "spec.nodes[].sendMessage.quickReplies", "maxItems"},
	{"MaxListSections", "spec.nodes[].sendMessage.list.sections", "maxItems"},
	{"MaxListRows", "spec.nodes[].sendMessage.list.sections[].rows", "maxItems"},
	{"MaxTemplateComponents", "spec.nodes[].sendMessage.template.components", "maxItems"},
	{"MaxTemplateParameters", "spec.nodes[].sendMessage.template.components[].parameters", "maxItems"},
	{"MinTemplateLanguage", "spec.nodes[].sendMessage.template.language", "minLength"},
	{"MaxTemplateLanguage", "spec.nodes[].sendMessage.template.language", "maxLength"},
	{"templateNamePattern", "spec.nodes[].sendMessage.template.name", "pattern"},
	{"MaxNodeID", "spec.nodes[].id", "maxLength"},
	{"nodeIDPattern", "spec.nodes[].id", "pattern"},
	{"MaxVariableName", "spec.variables[].name", "maxLength"},
	{"variableNamePattern", "spec.variables[].name", "pattern"},
	{"MaxHeaderName", "spec.nodes[].httpRequest.headers[].name", "maxLength"},
	{"headerNamePattern", "spec.nodes[].httpRequest.headers[].name", "pattern"},
	{"MinMaxJumps", "spec.nodes[].jump.maxJumps", "minimum"},
	{"MaxMaxJumps", "spec.nodes[].jump.maxJumps", "maximum"},
	{"messageTags", "spec.nodes[].sendMessage.tag", "enum"},
	{"componentTypes", "spec.nodes[].sendMessage.template.components[].type", "enum"},
	{"subTypes", "spec.nodes[].sendMessage.template.components[].subType", "enum"},
	{"paramTypes", "spec.nodes[].sendMessage.template.components[].parameters[].type", "enum"},
	{"MinComponentIndex", "spec.nodes[].sendMessage.template.components[].index", "minimum"},
	{"MaxComponentIndex", "spec.nodes[].sendMessage.template.components[].index", "maximum"},
	{"MaxModelName", "spec.nodes[].aiReply.model", "maxLength"},
	{"modelNamePattern", "spec.nodes[].aiReply.model", "pattern"},
	{"MaxPromptLength", "spec.nodes[].aiReply.systemPrompt", "maxLength"},
	{"MinReplyHistory", "spec.nodes[].aiReply.history", "minimum"},
	{"MaxHistory", "spec.nodes[].aiReply.history", "maximum"},
	{"MaxLabels", "spec.nodes[].aiClassify.labels", "maxItems"},
	{"MaxLabelName", "spec.nodes[].aiClassify.labels[].name", "maxLength"},
	{"labelPattern", "spec.nodes[].aiClassify.labels[].name", "pattern"},
	{"MaxDescription", "spec.nodes[].aiClassify.labels[].description", "maxLength"},
	{"MaxFields", "spec.nodes[].aiExtract.fields", "maxItems"},
	{"aiFieldTypes", "spec.nodes[].aiExtract.fields[].type", "enum"},
	{"MaxEnum", "spec.nodes[].aiExtract.fields[].enum", "maxItems"},
	{"MaxEnumValue", "spec.nodes[].aiExtract.fields[].enum[]", "maxLength"},
}

// Generate writes the Go source of the limits of crd (the ChatFlow CRD as
// YAML) for package pkg; source names the CRD file in the header.
func Generate(crd []byte, pkg, source string) ([]byte, error) {
	root, err := schemaOf(crd)
	if err != nil {
		return nil, err
	}
	var consts, vars bytes.Buffer
	for _, l := range Limits {
		s, err := at(root, l.Path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.Name, err)
		}
		v, ok := s[l.Keyword]
		if !ok {
			return nil, fmt.Errorf("%s: %s has no %s in the CRD", l.Name, l.Path, l.Keyword)
		}
		comment := fmt.Sprintf("\t// %s is %s of %s.\n", l.Name, l.Keyword, l.Path)
		switch l.Keyword {
		case "enum":
			list, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("%s: enum of %s is not a list", l.Name, l.Path)
			}
			var items []string
			for _, x := range list {
				items = append(items, strconv.Quote(fmt.Sprint(x)))
			}
			fmt.Fprintf(&vars, "%s\t%s = []string{%s}\n", comment, l.Name, strings.Join(items, ", "))
		case "pattern":
			fmt.Fprintf(&consts, "%s\t%s = %s\n", comment, l.Name, strconv.Quote(fmt.Sprint(v)))
		default:
			n, ok := v.(float64)
			if !ok || n != float64(int64(n)) {
				return nil, fmt.Errorf("%s: %s of %s is not an integer", l.Name, l.Keyword, l.Path)
			}
			fmt.Fprintf(&consts, "%s\t%s = %d\n", comment, l.Name, int64(n))
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by runtime/flow/internal/crdlimits from %s; DO NOT EDIT.\n\n", source)
	fmt.Fprintf(&b, "package %s\n\n", pkg)
	b.WriteString("// The limits of the CRD's schema that Compile checks itself (see\n// runtime/flow/internal/crdlimits): change them with the kubebuilder\n// markers of api/v1alpha1 and `make manifests`.\n")
	fmt.Fprintf(&b, "const (\n%s)\n\n", consts.String())
	fmt.Fprintf(&b, "var (\n%s)\n", vars.String())
	return format.Source(b.Bytes())
}

// schemaOf is the openAPIV3Schema of the v1alpha1 version of crd.
func schemaOf(crd []byte) (map[string]any, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(crd, &doc); err != nil {
		return nil, err
	}
	spec, _ := doc["spec"].(map[string]any)
	versions, _ := spec["versions"].([]any)
	for _, v := range versions {
		vm, _ := v.(map[string]any)
		if vm["name"] != "v1alpha1" {
			continue
		}
		sch, _ := vm["schema"].(map[string]any)
		if s, ok := sch["openAPIV3Schema"].(map[string]any); ok {
			return s, nil
		}
	}
	return nil, fmt.Errorf("the CRD has no v1alpha1 openAPIV3Schema")
}

// at walks path from the root schema.
func at(s map[string]any, path string) (map[string]any, error) {
	for _, seg := range strings.Split(path, ".") {
		name, list := strings.CutSuffix(seg, "[]")
		props, _ := s["properties"].(map[string]any)
		next, ok := props[name].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: no field %q in the CRD", path, name)
		}
		s = next
		if list {
			if s, ok = s["items"].(map[string]any); !ok {
				return nil, fmt.Errorf("%s: %q is not a list in the CRD", path, name)
			}
		}
	}
	return s, nil
}

// Value is the keyword of the field at path in crd, for tests that hold
// other fields to a generated limit.
func Value(crd []byte, path, keyword string) (any, error) {
	root, err := schemaOf(crd)
	if err != nil {
		return nil, err
	}
	s, err := at(root, path)
	if err != nil {
		return nil, err
	}
	v, ok := s[keyword]
	if !ok {
		return nil, fmt.Errorf("%s has no %s", path, keyword)
	}
	return v, nil
}
