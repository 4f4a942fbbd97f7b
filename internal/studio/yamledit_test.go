package studio

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
)

// flowObject is the ChatFlow name of a file as the front end gets it.
func flowObject(t *testing.T, src []byte, name string) map[string]any {
	t.Helper()
	objs, err := manifest.Parse(manifest.Source{Name: "f", Data: src})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.Kind == "ChatFlow" && o.Name == name {
			return o.Value
		}
	}
	t.Fatalf("no flow %s", name)
	return nil
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../config/samples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWriteFlowUnchangedKeepsTheFileByteForByte(t *testing.T) {
	for _, f := range []string{"order-status.yaml", "instagram-faq.yaml", "appointment-reminder.yaml"} {
		src := readSample(t, f)
		name := strings.TrimSuffix(f, ".yaml")
		if f == "instagram-faq.yaml" {
			name = "faq-menu"
		}
		out, err := WriteFlow(src, name, mustJSON(t, flowObject(t, src, name)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if string(out) != string(src) {
			t.Errorf("%s: an unchanged flow changed the file:\n%s", f, unifiedDiff(f, string(src), string(out)))
		}
	}
}

// changedLines are the lines of the diff that changed, without the header.
func changedLines(d string) []string {
	var out []string
	for _, l := range strings.Split(d, "\n") {
		if (strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-")) && !strings.HasPrefix(l, "+++") && !strings.HasPrefix(l, "---") {
			out = append(out, l)
		}
	}
	return out
}

func TestWriteFlowChangesOnlyWhatChanged(t *testing.T) {
	src := []byte(`# The header comment stays.
apiVersion: v1
kind: Secret
metadata: {name: s}
stringData: {a: b}
---
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata:
  name: f
  annotations:
    team: support   # who owns it
spec:
  trigger:
    type: WhatsApp
  futureField: kept   # a field this version does not know
  nodes:
  # the entry point
  - {id: start, type: Start, next: hello}
  - id: hello
    type: SendMessage
    sendMessage:
      text: "Hi {{ contact.name }}!"   # greeting
    next: end
  - id: end
    type: End
---
apiVersion: v1
kind: ConfigMap
metadata: {name: after}
`)
	obj := flowObject(t, src, "f")
	spec := obj["spec"].(map[string]any)
	nodes := spec["nodes"].([]any)
	nodes[1].(map[string]any)["sendMessage"].(map[string]any)["text"] = "Hello {{ contact.name }}!"
	// A new node, inserted before end in the list, and linked.
	nodes[1].(map[string]any)["next"] = "note"
	extra := map[string]any{"id": "note", "type": "SetVariables", "setVariables": map[string]any{"variables": []any{map[string]any{"name": "seen", "value": "yes: really"}}}, "next": "end"}
	spec["nodes"] = []any{nodes[0], nodes[1], extra, nodes[2]}

	out, err := WriteFlow(src, "f", mustJSON(t, obj))
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, keep := range []string{
		"# The header comment stays.\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {a: b}\n---\n",
		"team: support # who owns it",
		"futureField: kept # a field this version does not know",
		"# the entry point\n  - {id: start, type: Start, next: hello}",
		`text: "Hello {{ contact.name }}!" # greeting`,
		"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: after}\n",
		"  - id: note\n    type: SetVariables\n    setVariables:\n      variables:\n      - name: seen\n        value: 'yes: really'\n    next: end\n  - id: end",
	} {
		if !strings.Contains(got, keep) {
			t.Errorf("the written file lacks %q:\n%s", keep, got)
		}
	}
	if ch := changedLines(unifiedDiff("f", string(src), got)); len(ch) > 14 { // the spaces before a line comment become one
		t.Errorf("a small edit changed %d lines:\n%s", len(ch), strings.Join(ch, "\n"))
	}
	// The result is what lint reads back: the same flow.
	back := flowObject(t, out, "f")
	if string(mustJSON(t, back)) != string(mustJSON(t, obj)) {
		t.Errorf("reading the file back gives another flow:\n%s\nwant\n%s", mustJSON(t, back), mustJSON(t, obj))
	}
}

func TestWriteFlowRemovesDeletedNodesAndKeysAndKeepsOthers(t *testing.T) {
	src := readSample(t, "order-status.yaml")
	obj := flowObject(t, src, "order-status")
	spec := obj["spec"].(map[string]any)
	var kept []any
	for _, n := range spec["nodes"].([]any) {
		if n.(map[string]any)["id"] != "bye" {
			kept = append(kept, n)
		}
	}
	spec["nodes"] = kept
	delete(spec, "remark")
	out, err := WriteFlow(src, "order-status", mustJSON(t, obj))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "id: bye") || strings.Contains(string(out), "remark:") {
		t.Errorf("the deleted node or key is still there:\n%s", out)
	}
	// The file's other documents and the header comment are untouched.
	if !strings.HasPrefix(string(out), string(src[:strings.Index(string(src), "kind: ChatFlow")])) {
		t.Error("the documents before the flow changed")
	}
	// The removed node leaves dangling references: lint says where.
	r := lint.Lint([]manifest.Source{{Name: "order-status.yaml", Data: out}})
	found := false
	for _, p := range r.Problems {
		if strings.Contains(p.Message, "bye") {
			found = true
		}
	}
	if !found {
		t.Errorf("lint does not report the references to the removed node: %v", r.Problems)
	}
}

func TestWriteFlowNewFileAndErrors(t *testing.T) {
	obj := map[string]any{"apiVersion": "chatflow.dev/v1alpha1", "kind": "ChatFlow", "metadata": map[string]any{"name": "n"},
		"spec": map[string]any{"trigger": map[string]any{"type": "Manual"}, "nodes": []any{
			map[string]any{"id": "start", "type": "Start", "next": "end"}, map[string]any{"id": "end", "type": "End"}}}}
	out, err := WriteFlow(nil, "n", mustJSON(t, obj))
	if err != nil {
		t.Fatal(err)
	}
	// kubectl reads a plain n as false: the name is quoted.
	want := "apiVersion: chatflow.dev/v1alpha1\nkind: ChatFlow\nmetadata:\n  name: \"n\"\nspec:\n  trigger:\n    type: Manual\n  nodes:\n  - id: start\n    type: Start\n    next: end\n  - id: end\n    type: End\n"
	if string(out) != want {
		t.Errorf("a new file:\n%s\nwant\n%s", out, want)
	}
	if _, err := WriteFlow(out, "other", mustJSON(t, obj)); err == nil || !strings.Contains(err.Error(), `no ChatFlow named "other"`) {
		t.Errorf("writing a flow the file lacks: %v", err)
	}
	if _, err := WriteFlow(out, "n", []byte(`[1,2]`)); err == nil {
		t.Error("a list is not a flow")
	}
}

func TestDetectStyle(t *testing.T) {
	for _, c := range []struct {
		src  string
		want style
	}{
		{"a:\n  b:\n  - x\n", style{2, true}},
		{"a:\n    b:\n      - x\n", style{4, false}},
		{"a:\n  - x\n", style{2, false}},
		{"a: 1\n", style{2, true}},
	} {
		if got := detectStyle([]byte(c.src)); got != c.want {
			t.Errorf("%q: %+v, want %+v", c.src, got, c.want)
		}
	}
}

func FuzzWriteFlow(f *testing.F) {
	f.Add([]byte("kind: ChatFlow\nmetadata: {name: a}\nspec: {x: 1}\n"), []byte(`{"kind":"ChatFlow","metadata":{"name":"a"},"spec":{"x":2,"y":[1,"a\nb"]}}`))
	f.Add([]byte("---\n--- # c\nkind: ChatFlow\nmetadata:\n  name: a\n"), []byte(`{"kind":"ChatFlow","metadata":{"name":"a"}}`))
	f.Fuzz(func(t *testing.T, src, obj []byte) {
		out, err := WriteFlow(src, "a", obj)
		if err != nil {
			return
		}
		// The parse WriteFlow remembered writes the same again, and so
		// does a parse afresh: a write does not change what it remembers.
		if again, err := WriteFlow(src, "a", obj); err != nil || !bytes.Equal(again, out) {
			t.Fatalf("a second write of the same edit differs: %v\n%s\n---\n%s", err, again, out)
		}
		parsedFlows.Clear()
		if afresh, err := WriteFlow(src, "a", obj); err != nil || !bytes.Equal(afresh, out) {
			t.Fatalf("a write from a fresh parse differs: %v\n%s\n---\n%s", err, afresh, out)
		}
		// Whatever was written reads back as the flow given.
		var want any
		if json.Unmarshal(obj, &want) != nil {
			return
		}
		objs, err := manifest.Parse(manifest.Source{Name: "f", Data: out})
		if err != nil {
			t.Fatalf("the written file does not parse: %v\n%s", err, out)
		}
		for _, o := range objs {
			if o.Kind == "ChatFlow" && o.Name == "a" {
				if string(mustJSON(t, o.Value)) != string(mustJSON(t, want)) {
					t.Fatalf("wrote %s\nfor %s", mustJSON(t, o.Value), obj)
				}
				return
			}
		}
	})
}

// sameValue decides what decoding both nodes and comparing the values
// decides, whatever the YAML: aliases, merge keys, tags, numbers written
// differently, duplicate keys.
func FuzzSameValue(f *testing.F) {
	f.Add("a: 1\nb: [x, y]\n", "{b: [x, y], a: 1}")
	f.Add("a: 0x10\n", "a: 16\n")
	f.Add("a: &x {k: v}\nb: *x\n", "a: {k: v}\nb: {k: v}\n")
	f.Add("<<: {k: v}\nk: w\n", "k: w\n")
	f.Add("a: !!str 1\n", "a: '1'\n")
	f.Add("a: 1\na: 2\n", "a: 2\n")
	f.Add("[1, 2.0, true, null, ~, '']", "[1, 2, True, null, null, \"\"]")
	f.Add("1: a\n", "'1': a\n")
	f.Fuzz(func(t *testing.T, a, b string) {
		na, errA := parseDocument([]byte(a))
		nb, errB := parseDocument([]byte(b))
		if errA != nil || errB != nil || na == nil || nb == nil {
			return
		}
		want := reflect.DeepEqual(value(na.Content[0]), value(nb.Content[0]))
		if got := sameValue(na.Content[0], nb.Content[0]); got != want {
			t.Fatalf("sameValue = %v, decoding says %v:\n%s\n---\n%s", got, want, a, b)
		}
	})
}
