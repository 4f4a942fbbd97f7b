package flow

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

var (
	modelName = regexp.MustCompile(modelNamePattern)
	labelName = regexp.MustCompile(labelPattern)
)

// aiCommon checks and compiles what the three AI nodes share: the model,
// the prompt text (systemPrompt or instructions), the input and the history.
func (c *compiler) aiCommon(p *field.Path, model, system, systemField, input string, history *int32, minHistory, defHistory int) *aiNode {
	out := &aiNode{model: model, def: none, history: defHistory}
	mp := p.Child("model")
	switch {
	case model == "":
		c.add(field.Required(mp, "name the LanguageModel of the flow's namespace to ask, e.g. support-llm"))
	case len(model) > MaxModelName || !modelName.MatchString(model):
		c.add(field.Invalid(mp, clip(model), "must be the name of a LanguageModel: lower-case letters, digits, '-' and '.', e.g. support-llm"))
	}
	if len(system) > MaxPromptLength {
		c.add(field.TooLong(p.Child(systemField), "", MaxPromptLength))
	} else if system != "" {
		out.system = c.compileTemplate(p.Child(systemField), system)
	}
	if input != "" {
		if len(input) > MaxPromptLength {
			c.add(field.TooLong(p.Child("input"), "", MaxPromptLength))
		} else {
			out.input, out.hasInput = c.compileTemplate(p.Child("input"), input), true
		}
	}
	if history != nil {
		if h := int(*history); h < minHistory || h > MaxHistory {
			c.add(field.Invalid(p.Child("history"), *history, fmt.Sprintf(
				"must be between %d and %d: the session keeps the last %d messages", minHistory, MaxHistory, MaxRecent)))
		} else {
			out.history = h
		}
	}
	return out
}

func (c *compiler) saveAsName(p *field.Path, name string) {
	if name != "" {
		c.checkName(p, name, "saveAs variable")
	}
}

func (c *compiler) aiReply(p *field.Path, r *v1alpha1.AIReplyNode) *aiNode {
	if r.SystemPrompt == "" {
		c.add(field.Required(p.Child("systemPrompt"), "tell the model who it is and how to answer, e.g. \"You are the assistant of Harbour Yoga; answer in two sentences.\""))
	}
	out := c.aiCommon(p, r.Model, r.SystemPrompt, "systemPrompt", "", r.History, MinReplyHistory, DefaultReplyHistory)
	if len(r.Context) > MaxPromptLength {
		c.add(field.TooLong(p.Child("context"), "", MaxPromptLength))
	} else if r.Context != "" {
		out.context = c.compileTemplate(p.Child("context"), r.Context)
	}
	out.saveAs = r.SaveAs
	c.saveAsName(p.Child("saveAs"), r.SaveAs)
	if c.hasCaps {
		out.textMax = c.caps.TextMax
	}
	return out
}

func (c *compiler) aiClassify(i int, p *field.Path, a *v1alpha1.AIClassifyNode) *aiNode {
	out := c.aiCommon(p, a.Model, a.Instructions, "instructions", a.Input, a.History, 0, 0)
	out.saveAs = a.SaveAs
	c.saveAsName(p.Child("saveAs"), a.SaveAs)
	lp := p.Child("labels")
	switch {
	case len(a.Labels) == 0:
		c.add(field.Required(lp, "an AIClassify node needs at least one label: {name, description, next}"))
	case len(a.Labels) > MaxLabels:
		c.add(field.TooMany(lp, len(a.Labels), MaxLabels))
	}
	seen := map[string]int{}
	names := make([]string, 0, len(a.Labels))
	var list strings.Builder
	for j, l := range a.Labels {
		pj := lp.Index(j)
		np := pj.Child("name")
		switch {
		case l.Name == "":
			c.add(field.Required(np, "the label needs a name: what the model answers, e.g. order"))
		case len(l.Name) > MaxLabelName || !labelName.MatchString(l.Name):
			c.add(field.Invalid(np, clip(l.Name), "must be letters, digits, '_' and '-', starting with a letter or digit (at most 64), e.g. order"))
		}
		if k, dup := seen[l.Name]; dup && l.Name != "" {
			c.add(dupErr(np, l.Name, fmt.Sprintf("%s has the same name; the answer could not tell them apart", lp.Index(k))))
		} else {
			seen[l.Name] = j
			names = append(names, l.Name)
		}
		if len(l.Description) > MaxDescription {
			c.add(field.TooLong(pj.Child("description"), "", MaxDescription))
		}
		next := c.requiredLink(i, pj.Child("next"), l.Next, "a label needs next: the id of the node that runs when the model picks it")
		out.labels = append(out.labels, aiLabel{name: l.Name, next: next})
		fmt.Fprintf(&list, "- %s", l.Name)
		if d := strings.TrimSpace(l.Description); d != "" {
			fmt.Fprintf(&list, ": %s", d)
		}
		list.WriteByte('\n')
	}
	out.def = c.requiredLink(i, p.Child("default"), a.Default, "an AIClassify node needs default: the id of the node that runs when the answer names no label")
	out.preamble = "Classify the input into exactly one of these labels:\n" + list.String() +
		"Answer with the label that fits best, and your confidence from 0 to 1 (or null)."
	out.schema = classifySchema(names)
	return out
}

func (c *compiler) aiExtract(p *field.Path, a *v1alpha1.AIExtractNode) *aiNode {
	out := c.aiCommon(p, a.Model, a.Instructions, "instructions", a.Input, a.History, 0, 0)
	fp := p.Child("fields")
	switch {
	case len(a.Fields) == 0:
		c.add(field.Required(fp, "an AIExtract node needs at least one field: {name, type, description, required}"))
	case len(a.Fields) > MaxFields:
		c.add(field.TooMany(fp, len(a.Fields), MaxFields))
	}
	seen := map[string]int{}
	var list strings.Builder
	for j, f := range a.Fields {
		pj := fp.Index(j)
		np := pj.Child("name")
		c.checkName(np, f.Name, "field")
		if k, dup := seen[f.Name]; dup && f.Name != "" {
			c.add(dupErr(np, f.Name, fmt.Sprintf("%s has the same name; field names must be unique", fp.Index(k))))
			continue
		}
		seen[f.Name] = j
		typ := f.Type
		if typ == "" {
			typ = v1alpha1.AIFieldString
		}
		if !slices.Contains(aiFieldTypes, string(typ)) {
			c.add(field.NotSupported(pj.Child("type"), f.Type, aiFieldTypes))
		}
		if len(f.Description) > MaxDescription {
			c.add(field.TooLong(pj.Child("description"), "", MaxDescription))
		}
		ep := pj.Child("enum")
		switch {
		case len(f.Enum) > 0 && typ != v1alpha1.AIFieldString:
			c.add(field.Forbidden(ep, "enum applies to String fields only: remove it or set type: String"))
		case len(f.Enum) > MaxEnum:
			c.add(field.TooMany(ep, len(f.Enum), MaxEnum))
		}
		values := map[string]bool{}
		for k, v := range f.Enum {
			switch {
			case v == "":
				c.add(field.Required(ep.Index(k), "an enum value must not be empty"))
			case len(v) > MaxEnumValue:
				c.add(field.TooLong(ep.Index(k), "", MaxEnumValue))
			case values[v]:
				c.add(field.Duplicate(ep.Index(k), v))
			}
			values[v] = true
		}
		out.fields = append(out.fields, aiField{name: f.Name, typ: typ, required: f.Required, enum: f.Enum, description: strings.TrimSpace(f.Description)})
		req := "optional"
		if f.Required {
			req = "required"
		}
		fmt.Fprintf(&list, "- %s (%s, %s)", f.Name, typ, req)
		if d := strings.TrimSpace(f.Description); d != "" {
			fmt.Fprintf(&list, ": %s", d)
		}
		if len(f.Enum) > 0 {
			fmt.Fprintf(&list, " One of: %s.", strings.Join(f.Enum, ", "))
		}
		list.WriteByte('\n')
	}
	out.preamble = "Extract these fields from the input:\n" + list.String() +
		"Use null for a field the input does not give; never guess."
	out.schema = extractSchema(out.fields)
	return out
}

// classifySchema is the structured output of an AIClassify node: one of
// the labels, and a confidence (strict mode: every property required,
// the optional one nullable).
func classifySchema(labels []string) *OutputSchema {
	s := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"label":      map[string]any{"type": "string", "enum": nonNil(labels)},
			"confidence": map[string]any{"type": []string{"number", "null"}, "minimum": 0, "maximum": 1},
		},
		"required":             []string{"label", "confidence"},
		"additionalProperties": false,
	}
	b, _ := json.Marshal(s)
	return &OutputSchema{Name: "classification", Schema: b}
}

// extractSchema is the structured output of an AIExtract node: one
// property per field, optional ones nullable.
func extractSchema(fields []aiField) *OutputSchema {
	props := map[string]any{}
	required := make([]string, 0, len(fields))
	for _, f := range fields {
		t := jsonType(f.typ)
		prop := map[string]any{"type": t}
		if f.description != "" {
			prop["description"] = f.description
		}
		if !f.required {
			prop["type"] = []string{t, "null"}
		}
		if len(f.enum) > 0 {
			enum := make([]any, 0, len(f.enum)+1)
			for _, v := range f.enum {
				enum = append(enum, v)
			}
			if !f.required {
				enum = append(enum, nil)
			}
			prop["enum"] = enum
		}
		props[f.name] = prop
		required = append(required, f.name)
	}
	s := map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false}
	b, _ := json.Marshal(s)
	return &OutputSchema{Name: "extraction", Schema: b}
}

func jsonType(t v1alpha1.AIFieldType) string {
	switch t {
	case v1alpha1.AIFieldNumber:
		return "number"
	case v1alpha1.AIFieldInteger:
		return "integer"
	case v1alpha1.AIFieldBoolean:
		return "boolean"
	}
	return "string"
}
