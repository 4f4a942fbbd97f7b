package lint_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

const expectKey = "test.chatflow.dev/expect"

// Every rule has a case in testdata/rules: a document annotated with the
// problem it must produce. Documents without the annotation must lint
// clean. The full output is a golden file, so that a change of any
// message or line number is seen.
func TestEveryRule(t *testing.T) {
	files, err := filepath.Glob("testdata/rules/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatal("no rule cases", err)
	}
	cases := 0
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := manifest.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := manifest.Parse(src)
			if err != nil {
				t.Fatal(err)
			}
			r := lint.Lint([]manifest.Source{src})
			// A problem belongs to the object whose document it is in.
			owner := func(line int) int {
				k := -1
				for i, o := range objs {
					if o.Start().Line <= line {
						k = i
					}
				}
				return k
			}
			byObj := map[int][]string{}
			for _, p := range r.Problems {
				i := owner(p.Line)
				byObj[i] = append(byObj[i], p.Field+": "+p.Message)
			}
			for i, o := range objs {
				md, _ := o.Value["metadata"].(map[string]any)
				ann, _ := md["annotations"].(map[string]any)
				want, _ := ann[expectKey].(string)
				got := byObj[i]
				if want == "" {
					if len(got) > 0 && o.APIVersion == "chatflow.dev/v1alpha1" {
						t.Errorf("%s (line %d) should lint clean, got:\n  %s", o.Name, o.Start().Line, strings.Join(got, "\n  "))
					}
					continue
				}
				cases++
				found := false
				for _, g := range got {
					found = found || strings.Contains(g, want)
				}
				if !found {
					t.Errorf("%s (line %d): no problem contains %q; got:\n  %s", o.Name, o.Start().Line, want, strings.Join(got, "\n  "))
				}
			}
			var out bytes.Buffer
			if err := lint.WriteText(&out, r); err != nil {
				t.Fatal(err)
			}
			golden(t, "rules/"+strings.TrimSuffix(filepath.Base(file), ".yaml")+".golden", out.Bytes())
		})
	}
	if cases < 100 {
		t.Errorf("only %d rule cases", cases)
	}
}

// The samples lint clean: they are what users copy.
func TestSamplesLintClean(t *testing.T) {
	srcs, err := manifest.Read([]string{"../../config/samples"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := lint.Lint(srcs)
	for _, p := range r.Problems {
		t.Error(p)
	}
	if s := r.Summary(); s.ChatFlows < 3 || s.ChannelBindings < 3 {
		t.Errorf("the samples have %s", s)
	}
}

// The embedded CRDs are the ones `make manifests` generates.
func TestEmbeddedCRDsAreCurrent(t *testing.T) {
	for _, name := range []string{"chatflow.dev_chatflows.yaml", "chatflow.dev_channelbindings.yaml", "chatflow.dev_languagemodels.yaml", "chatflow.dev_campaigns.yaml"} {
		want, err := os.ReadFile(filepath.Join("../../config/crd/bases", name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("crds", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("internal/lint/crds/%s is stale: run go generate ./internal/lint", name)
		}
	}
}

func TestJSONOutput(t *testing.T) {
	src := manifest.Source{Name: "flow.yaml", Data: []byte(`apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: f}
spec:
  trigger: {type: WhatsApp}
  nodes:
  - {id: start, type: Start, next: nowhere}
  - {id: end, type: End}
`)}
	var out bytes.Buffer
	if err := lint.WriteJSON(&out, lint.Lint([]manifest.Source{src})); err != nil {
		t.Fatal(err)
	}
	golden(t, "json.golden", out.Bytes())

	out.Reset()
	if err := lint.WriteJSON(&out, lint.Lint(nil)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"problems": []`) {
		t.Errorf("no problems must be an empty list: %s", out.String())
	}
}

// An exported flow lints at its own lines.
func TestPortableFlowLintsAtItsOwnLines(t *testing.T) {
	src := manifest.Source{Name: "flow.json", Data: []byte(`{
  "format": "chatflow.dev/flow/v1alpha1",
  "name": "f",
  "extra": 1,
  "spec": {
    "trigger": {"type": "WhatsApp"},
    "nodes": [
      {"id": "start", "type": "Start", "next": "nowhere"},
      {"id": "end", "type": "End"}
    ]
  }
}`)}
	r := lint.Lint([]manifest.Source{src})
	var got []string
	for _, p := range r.Problems {
		got = append(got, p.String())
	}
	want := []string{
		"flow.json:4: extra: unknown field: check its spelling and indentation, or remove it",
		`flow.json:8: spec.nodes[0].next: Not found: "nowhere": no node has id "nowhere": must name the id of an existing node`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSyntaxErrorsAndIgnoredKinds(t *testing.T) {
	r := lint.Lint([]manifest.Source{
		{Name: "a.yaml", Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\nkind: [\n")},
		{Name: "b.yaml", Data: []byte("resources: [a.yaml]\n")},
	})
	if s := r.Summary(); s.Ignored != 2 || s.Problems != 1 {
		t.Errorf("summary %+v", s)
	}
	if len(r.Problems) == 1 && !strings.HasPrefix(r.Problems[0].String(), "a.yaml:5: invalid YAML") {
		t.Errorf("got %s", r.Problems[0])
	}
}

// The reference given to models covers the AI nodes, from the CRD.
func TestReference(t *testing.T) {
	ref, err := lint.Reference("ChatFlow", "spec.executor")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"spec.nodes[].type (string: Start | End | SendMessage | WaitForReply | Condition | SetVariables | HTTPRequest | Delay | Jump | Handoff | AIReply | AIClassify | AIExtract | ForwardToFlow, required)",
		"spec.nodes[].aiClassify.labels[].name (string, required): name of the label",
		"spec.state (string: Published | Unpublished, default \"Unpublished\")",
	} {
		if !strings.Contains(ref, want) {
			t.Errorf("the reference lacks %q", want)
		}
	}
	if strings.Contains(ref, "spec.executor.") {
		t.Error("a skipped subtree is in the reference")
	}
}
