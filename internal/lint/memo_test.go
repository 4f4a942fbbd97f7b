package lint_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/internal/templates"
)

// Lint remembers what it found about the nodes of the flows it linted
// (and the expressions it compiled), so that linting a flow again after
// an edit redoes only what the edit changed. Remembering must change
// nothing: after any edits, Lint says exactly what a lint with nothing
// remembered says, byte for byte, about valid and invalid flows alike.

// editCorpus is what the studio edits: the samples, every template for
// every trigger, the rule cases (mostly invalid flows) and a generated
// 500-node flow.
func editCorpus(t testing.TB) []manifest.Source {
	t.Helper()
	var out []manifest.Source
	samples, _ := filepath.Glob("../../config/samples/*.yaml")
	rules, _ := filepath.Glob("testdata/rules/*.yaml")
	for _, p := range append(samples, rules...) {
		if strings.HasSuffix(p, ".test.yaml") || filepath.Base(p) == "kustomization.yaml" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, manifest.Source{Name: filepath.Base(p), Data: b})
	}
	for _, tm := range templates.All {
		for _, trigger := range tm.Triggers {
			b, _, err := tm.Render("tmpl-"+strings.ToLower(trigger), trigger)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, manifest.Source{Name: tm.Name + "-" + trigger + ".yaml", Data: b})
		}
	}
	out = append(out, manifest.Source{Name: "big.yaml", Data: []byte(bigFlow(500))})
	if len(out) < 30 {
		t.Fatalf("a corpus of %d files", len(out))
	}
	return out
}

// sameAsAfresh fails when Lint and LintAfresh differ on src: in their
// output (every problem, its place, field and message), and in the flows
// and bindings they hand to other commands.
func sameAsAfresh(t testing.TB, src manifest.Source, what string) {
	t.Helper()
	got := lint.Lint([]manifest.Source{src})
	want := lint.LintAfresh([]manifest.Source{src})
	var g, w bytes.Buffer
	if err := lint.WriteJSON(&g, got); err != nil {
		t.Fatal(err)
	}
	if err := lint.WriteJSON(&w, want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.Bytes(), w.Bytes()) {
		t.Fatalf("%s: remembered and fresh lints differ\n--- remembered\n%s\n--- fresh\n%s\n--- input\n%s", what, g.Bytes(), w.Bytes(), src.Data)
	}
	if len(got.Flows) != len(want.Flows) || len(got.Bindings) != len(want.Bindings) {
		t.Fatalf("%s: %d flows and %d bindings remembered, %d and %d fresh", what, len(got.Flows), len(got.Bindings), len(want.Flows), len(want.Bindings))
	}
	for i, f := range got.Flows {
		fw := want.Flows[i]
		if !reflect.DeepEqual(f.Admitted, fw.Admitted) || !reflect.DeepEqual(f.Written, fw.Written) {
			t.Fatalf("%s: the flow %s decodes differently when remembered", what, f.Object.Name)
		}
		if (f.Program == nil) != (fw.Program == nil) || f.Channel != fw.Channel {
			t.Fatalf("%s: the flow %s compiles differently when remembered", what, f.Object.Name)
		}
		if f.Program != nil && (f.Program.Revision() != fw.Program.Revision() || !bytes.Equal(f.Program.Canonical(), fw.Program.Canonical()) ||
			f.Program.Len() != fw.Program.Len() || !reflect.DeepEqual(f.Program.Inputs(), fw.Program.Inputs())) {
			t.Fatalf("%s: the program of %s differs when remembered", what, f.Object.Name)
		}
	}
	for i, b := range got.Bindings {
		if !reflect.DeepEqual(b.Admitted, want.Bindings[i].Admitted) {
			t.Fatalf("%s: the binding %s decodes differently when remembered", what, b.Object.Name)
		}
	}
}

// editor makes random edits of the kinds the studio makes, valid or not,
// mostly to one node at a time.
type editor struct {
	r *rand.Rand
}

var (
	nodeTypes   = []string{"Start", "End", "SendMessage", "WaitForReply", "Condition", "SetVariables", "HTTPRequest", "Delay", "Jump", "Handoff"}
	editStrings = []string{
		"", "x", "n2", "end", "start", "nowhere", "UPPER_ID", "with space", "10m", "5s", "-1s", "0s", "GET", "POST", "DELETE",
		"Manual", "WhatsApp", "Viber", "Published", "Unpublished", "{{ vars.x", "{{ contact.name }}", "Hi {{ vars.order.status }}!",
		`message.text == "1"`, "vars.x +", "1 + 'a'", "vars.count > 3", "https://api.example.com/{{ vars.x }}", "{{ vars.host }}/x",
		"http://169.254.169.254/latest", "button", "header", strings.Repeat("a", 5000), "a\nb",
	}
	editValues = []any{int64(0), int64(3), int64(-1), int64(100000), 1.5, true, false, nil, map[string]any{}, []any{},
		map[string]any{"text": "hi"}, []any{map[string]any{"name": "a", "value": "1"}}}
)

func (e *editor) value() any {
	if e.r.IntN(3) > 0 {
		return editStrings[e.r.IntN(len(editStrings))]
	}
	return runtime.DeepCopyJSONValue(editValues[e.r.IntN(len(editValues))])
}

// edit changes one ChatFlow of objs in place.
func (e *editor) edit(objs []map[string]any) {
	var flows []map[string]any
	for _, o := range objs {
		if o["kind"] == "ChatFlow" {
			flows = append(flows, o)
		}
	}
	if len(flows) == 0 {
		return
	}
	f := flows[e.r.IntN(len(flows))]
	spec, _ := f["spec"].(map[string]any)
	nodes, _ := spec["nodes"].([]any)
	if spec == nil || len(nodes) == 0 || e.r.IntN(8) == 0 {
		e.editFlow(f)
		return
	}
	i := e.r.IntN(len(nodes))
	switch e.r.IntN(10) {
	case 0: // a new node, as the palette adds it: last
		spec["nodes"] = append(nodes, map[string]any{"id": fmt.Sprintf("new-%d", e.r.IntN(1000)), "type": nodeTypes[e.r.IntN(len(nodeTypes))]})
	case 1: // a node deleted: the ones after it move up
		spec["nodes"] = slices.Delete(nodes, i, i+1)
	case 2: // a copy of a node elsewhere (a duplicate id)
		spec["nodes"] = slices.Insert(nodes, e.r.IntN(len(nodes)+1), runtime.DeepCopyJSONValue(nodes[i]))
	case 3:
		if n, ok := nodes[i].(map[string]any); ok {
			n["type"] = nodeTypes[e.r.IntN(len(nodeTypes))]
		}
	case 4:
		if n, ok := nodes[i].(map[string]any); ok {
			n["next"] = []string{"end", "nowhere", "start", "n5"}[e.r.IntN(4)]
		}
	case 5:
		if n, ok := nodes[i].(map[string]any); ok {
			n["bogus"] = "unknown field"
		}
	default: // a field of the node, at any depth
		e.editValue(nodes[i])
	}
}

// editFlow changes the flow outside its nodes.
func (e *editor) editFlow(f map[string]any) {
	spec, _ := f["spec"].(map[string]any)
	if spec == nil {
		f["spec"] = map[string]any{"trigger": map[string]any{"type": "WhatsApp"}}
		return
	}
	switch e.r.IntN(5) {
	case 0:
		spec["trigger"] = map[string]any{"type": []string{"WhatsApp", "Manual", "Instagram", "Fax"}[e.r.IntN(4)]}
	case 1:
		spec["state"] = []string{"Published", "Unpublished", "Paused"}[e.r.IntN(3)]
	case 2:
		spec["variables"] = []any{map[string]any{"name": []string{"x", "my-var", "count"}[e.r.IntN(3)], "value": "0"}}
	case 3:
		f["metadata"] = map[string]any{"name": []string{"big", "Bad_Name", ""}[e.r.IntN(3)]}
	default:
		e.editValue(spec)
	}
}

// editValue replaces, removes or adds a field somewhere inside v.
func (e *editor) editValue(v any) {
	for {
		switch c := v.(type) {
		case map[string]any:
			if len(c) == 0 || e.r.IntN(4) == 0 {
				c[[]string{"text", "timeout", "saveAs", "when", "default", "extra"}[e.r.IntN(6)]] = e.value()
				return
			}
			keys := slices.Sorted(func(yield func(string) bool) {
				for k := range c {
					if !yield(k) {
						return
					}
				}
			})
			k := keys[e.r.IntN(len(keys))]
			switch sub := c[k]; {
			case e.r.IntN(3) == 0:
				delete(c, k)
				return
			case e.r.IntN(2) == 0 || sub == nil:
				c[k] = e.value()
				return
			default:
				v = sub
			}
		case []any:
			if len(c) == 0 {
				return
			}
			v = c[e.r.IntN(len(c))]
		default:
			return
		}
	}
}

// objectsOf reads the objects of a file as plain values, to edit.
func objectsOf(t testing.TB, src manifest.Source) []map[string]any {
	t.Helper()
	objs, err := manifest.Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, o := range objs {
		out = append(out, runtime.DeepCopyJSON(o.Value))
	}
	return out
}

// write writes objects as a YAML file.
func write(t testing.TB, name string, objs []map[string]any) manifest.Source {
	t.Helper()
	var b bytes.Buffer
	for _, o := range objs {
		y, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return manifest.Source{Name: name, Data: b.Bytes()}
}

// editAndCompare makes steps edits of src, one after the other, and
// holds Lint to LintAfresh after each.
func editAndCompare(t testing.TB, src manifest.Source, seed uint64, steps int) {
	t.Helper()
	e := &editor{r: rand.New(rand.NewPCG(seed, seed>>32|1))}
	sameAsAfresh(t, src, src.Name+" as written")
	objs := objectsOf(t, src)
	for step := range steps {
		e.edit(objs)
		sameAsAfresh(t, write(t, src.Name, objs), fmt.Sprintf("%s after %d edits (seed %d)", src.Name, step+1, seed))
	}
}

func TestRememberedLintIsLintAfresh(t *testing.T) {
	for i, src := range editCorpus(t) {
		steps := 8
		switch {
		case src.Name == "big.yaml":
			steps = 4 // a fresh lint of 500 nodes is the slow part
		case len(bytes.Split(src.Data, []byte("\n---"))) > 10:
			steps = 4 // a rule file: dozens of flows
		}
		t.Run(src.Name, func(t *testing.T) { editAndCompare(t, src, uint64(i)+1, steps) })
	}
}

// FuzzRememberedLint: any sequence of edits of any file of the corpus
// lints the same remembered and afresh. The input picks the file and
// seeds the edits.
func FuzzRememberedLint(f *testing.F) {
	corpus := editCorpus(f)
	for i := 0; i < len(corpus); i += 5 {
		f.Add(binary.LittleEndian.AppendUint64(nil, uint64(i)), uint64(i)*7919)
	}
	f.Fuzz(func(t *testing.T, pick []byte, seed uint64) {
		var i uint64
		for _, b := range pick {
			i = i*31 + uint64(b)
		}
		editAndCompare(t, corpus[i%uint64(len(corpus))], seed, 3)
	})
}

// Lints at the same time (the studio's requests) share what is remembered.
func TestRememberedLintConcurrently(t *testing.T) {
	for i, src := range editCorpus(t) {
		if src.Name == "big.yaml" {
			continue
		}
		t.Run(src.Name, func(t *testing.T) {
			t.Parallel()
			editAndCompare(t, src, uint64(1000+i), 2)
		})
	}
}
