package flow_test

import (
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/runtime/flow"
)

// At each limit the compiler and the API server's schema (as chatflow
// lint runs it) both accept the flow, and one past it they both refuse it
// at the same field: neither is stricter nor looser than the other.
func TestCompilerAndSchemaRefuseTheSameLimits(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{
			"trigger": map[string]any{"type": "Manual"},
			"nodes": []any{
				map[string]any{"id": "start", "type": "Start", "next": "say"},
				map[string]any{"id": "say", "type": "SendMessage", "sendMessage": map[string]any{"text": "Hi"}, "next": "end"},
				map[string]any{"id": "end", "type": "End"},
			},
		}
	}
	send := func(s map[string]any) map[string]any {
		return s["nodes"].([]any)[1].(map[string]any)["sendMessage"].(map[string]any)
	}
	items := func(n int, f func(i int) any) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		field string
		limit int
		edit  func(s map[string]any, n int)
	}{
		{"variables", "spec.variables", flow.MaxVariables, func(s map[string]any, n int) {
			s["variables"] = items(n, func(i int) any { return map[string]any{"name": fmt.Sprintf("v%d", i)} })
		}},
		{"inputs", "spec.trigger.inputs", flow.MaxInputs, func(s map[string]any, n int) {
			s["trigger"].(map[string]any)["inputs"] = items(n, func(i int) any { return map[string]any{"name": fmt.Sprintf("v%d", i)} })
		}},
		{"variable name", "spec.variables[0].name", flow.MaxVariableName, func(s map[string]any, n int) {
			s["variables"] = []any{map[string]any{"name": strings.Repeat("v", n)}}
		}},
		{"node id", "spec.nodes[1].id", flow.MaxNodeID, func(s map[string]any, n int) {
			id := strings.Repeat("a", n)
			s["nodes"].([]any)[1].(map[string]any)["id"] = id
			s["nodes"].([]any)[0].(map[string]any)["next"] = id
		}},
		{"buttons", "spec.nodes[1].sendMessage.buttons", flow.MaxButtons, func(s map[string]any, n int) {
			send(s)["buttons"] = items(n, func(i int) any { return map[string]any{"id": fmt.Sprint(i), "title": fmt.Sprint(i)} })
		}},
		{"quick replies", "spec.nodes[1].sendMessage.quickReplies", flow.MaxQuickReplies, func(s map[string]any, n int) {
			send(s)["quickReplies"] = items(n, func(i int) any { return map[string]any{"id": fmt.Sprint(i), "title": fmt.Sprint(i)} })
		}},
		{"tag", "spec.nodes[1].sendMessage.tag", 0, func(s map[string]any, n int) {
			send(s)["tag"] = []string{"HUMAN_AGENT", "ACCOUNT_UPDATE"}[n] // the enum, then a retired tag
		}},
		{"template language", "spec.nodes[1].sendMessage.template.language", flow.MaxTemplateLanguage, func(s map[string]any, n int) {
			delete(send(s), "text")
			send(s)["template"] = map[string]any{"name": "hello", "language": strings.Repeat("e", n)}
		}},
		{"template component index", "spec.nodes[1].sendMessage.template.components[0].index", flow.MaxComponentIndex, func(s map[string]any, n int) {
			delete(send(s), "text")
			send(s)["template"] = map[string]any{"name": "hello", "language": "en", "components": []any{
				map[string]any{"type": "button", "subType": "url", "index": n}}}
		}},
		{"maxJumps", "spec.nodes[1].jump.maxJumps", flow.MaxMaxJumps, func(s map[string]any, n int) {
			s["nodes"].([]any)[1] = map[string]any{"id": "say", "type": "Jump", "jump": map[string]any{"target": "say", "maxJumps": n}, "next": "end"}
		}},
		{"AI labels", "spec.nodes[1].aiClassify.labels", flow.MaxLabels, func(s map[string]any, n int) {
			s["nodes"].([]any)[1] = map[string]any{"id": "say", "type": "AIClassify", "aiClassify": map[string]any{"model": "m", "default": "end",
				"labels": items(n, func(i int) any { return map[string]any{"name": fmt.Sprintf("l%d", i), "next": "end"} })}}
		}},
		{"AI label name", "spec.nodes[1].aiClassify.labels[0].name", flow.MaxLabelName, func(s map[string]any, n int) {
			s["nodes"].([]any)[1] = map[string]any{"id": "say", "type": "AIClassify", "aiClassify": map[string]any{"model": "m", "default": "end",
				"labels": []any{map[string]any{"name": strings.Repeat("l", n), "next": "end"}}}}
		}},
		{"AI fields", "spec.nodes[1].aiExtract.fields", flow.MaxFields, func(s map[string]any, n int) {
			s["nodes"].([]any)[1] = map[string]any{"id": "say", "type": "AIExtract", "next": "end", "aiExtract": map[string]any{"model": "m",
				"fields": items(n, func(i int) any { return map[string]any{"name": fmt.Sprintf("f%d", i)} })}}
		}},
		{"AI history", "spec.nodes[1].aiReply.history", flow.MaxHistory, func(s map[string]any, n int) {
			s["nodes"].([]any)[1] = map[string]any{"id": "say", "type": "AIReply", "next": "end", "aiReply": map[string]any{"model": "m", "systemPrompt": "p", "history": n}}
		}},
		{"AI model name", "spec.nodes[1].aiReply.model", flow.MaxModelName, func(s map[string]any, n int) {
			s["nodes"].([]any)[1] = map[string]any{"id": "say", "type": "AIReply", "next": "end", "aiReply": map[string]any{"model": strings.Repeat("m", n), "systemPrompt": "p"}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := refusals(t, base, tc.edit, tc.limit, tc.field)
			if at.schema != "" || at.compiler != "" {
				t.Errorf("at the limit (%d): the schema refuses %q, the compiler %q; want neither", tc.limit, at.schema, at.compiler)
			}
			past := refusals(t, base, tc.edit, tc.limit+1, tc.field)
			if past.schema == "" || past.compiler == "" {
				t.Errorf("past the limit (%d): the schema refuses %q, the compiler %q; want both", tc.limit+1, past.schema, past.compiler)
			}
		})
	}
}

type verdicts struct{ schema, compiler string }

// refusals lints a flow edited with n and returns the fields under field
// that the schema and the compiler refuse.
func refusals(t *testing.T, base func() map[string]any, edit func(map[string]any, int), n int, field string) verdicts {
	t.Helper()
	spec := base()
	edit(spec, n)
	doc, err := yaml.Marshal(map[string]any{"apiVersion": "chatflow.dev/v1alpha1", "kind": "ChatFlow", "metadata": map[string]any{"name": "limits"}, "spec": spec})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := manifest.Parse(manifest.Source{Name: "limits.yaml", Data: doc})
	if err != nil {
		t.Fatal(err)
	}
	var v verdicts
	for _, p := range lint.Admission(objs[0]) {
		if strings.HasPrefix(p.Field, field) {
			v.schema = p.Field
		}
	}
	f, err := lint.Lint([]manifest.Source{{Name: "limits.yaml", Data: doc}}).Flow("limits")
	if err != nil || f.Admitted == nil {
		t.Fatalf("the flow does not decode: %v", err)
	}
	_, errs := flow.Compile(&f.Admitted.Spec, flow.Options{FlowName: "limits"})
	for _, e := range errs {
		if strings.HasPrefix(e.Field, field) {
			v.compiler = e.Field
		}
	}
	return v
}
