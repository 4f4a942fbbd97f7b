package manifest

import (
	"strings"
	"testing"
)

const multi = `# leading comment
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
---
---
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata:
  name: f
  labels: {app.kubernetes.io/name: x}
spec:
  nodes:
  - id: start
    next: b
  - id: b
    type: End
---
apiVersion: v1
kind: List
items:
- apiVersion: chatflow.dev/v1alpha1
  kind: ChannelBinding
  metadata: {name: b1}
  spec:
    channel: WhatsApp
`

func TestParsePositionsAcrossDocuments(t *testing.T) {
	objs, err := Parse(Source{Name: "m.yaml", Data: []byte(multi)})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 3 {
		t.Fatalf("want 3 objects (the List expanded), got %d", len(objs))
	}
	f := objs[1]
	if f.Kind != "ChatFlow" || f.Name != "f" || f.Start().Line != 7 {
		t.Fatalf("object 1: %s %s at %d", f.Kind, f.Name, f.Start().Line)
	}
	for path, want := range map[string]int{
		"spec.nodes[0].next":                      15,
		"spec.nodes[1]":                           16,
		"spec.nodes[1].type":                      17,
		"spec.nodes[0].type":                      14, // missing: its node
		"spec.nodes[7].next":                      13, // missing: spec.nodes
		"metadata.labels[app.kubernetes.io/name]": 11,
		"metadata.labels.app.kubernetes.io/name":  11,
		"<root>.spec":                             12,
		"":                                        7,
	} {
		if p, _ := f.Pos.Lookup(path); p.Line != want {
			t.Errorf("%s: line %d, want %d", path, p.Line, want)
		}
	}
	b := objs[2]
	if b.Kind != "ChannelBinding" || b.Start().Line != 22 {
		t.Errorf("list item: %s at %d", b.Kind, b.Start().Line)
	}
	if p, _ := b.Pos.Lookup("spec.channel"); p.Line != 26 {
		t.Errorf("list item spec.channel at %d, want 26", p.Line)
	}
}

func TestParseErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		src  string
		want string
	}{
		"syntax":     {"a: [1\nb: 2\n", "m.yaml:1: invalid YAML: did not find expected"},
		"duplicate":  {"apiVersion: v1\nkind: X\nkind: Y\n", `m.yaml:3: duplicate field "kind"`},
		"not a map":  {"- a\n- b\n", "m.yaml:1: a manifest document must be an object"},
		"nan":        {"a: .nan\n", "m.yaml:1: .nan is not a number JSON can hold"},
		"alias bomb": {"a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n", "too large"},
		"merge":      {"x: &x {a: 1}\ny:\n  <<: *x\n  a: 2\n  a: 3\n", "duplicate field"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(Source{Name: "m.yaml", Data: []byte(tc.src)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestMergeKeys(t *testing.T) {
	objs, err := Parse(Source{Name: "m.yaml", Data: []byte("base: &b {a: 1, b: 2}\nx:\n  <<: *b\n  b: 3\n")})
	if err != nil {
		t.Fatal(err)
	}
	x := objs[0].Value["x"].(map[string]any)
	if x["a"] != int64(1) || x["b"] != int64(3) {
		t.Errorf("merged %v", x)
	}
}

func TestParent(t *testing.T) {
	for in, want := range map[string]string{
		"spec.nodes[3].next":         "spec.nodes[3]",
		"spec.nodes[3]":              "spec.nodes",
		"metadata.labels[a.b/c]":     "metadata.labels",
		"spec":                       "",
		"metadata.annotations[x[1]]": "metadata.annotations",
	} {
		if got := Parent(in); got != want {
			t.Errorf("Parent(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestYAMLKeepsFieldOrderAndQuotes(t *testing.T) {
	type node struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Text string `json:"text,omitempty"`
	}
	b, err := YAML(struct {
		Nodes []node `json:"nodes"`
		Num   string `json:"num"`
	}{[]node{{ID: "z", Type: "Start", Text: "line 1\nline 2"}}, "0"}, "a header")
	if err != nil {
		t.Fatal(err)
	}
	want := "# a header\nnodes:\n  - id: z\n    type: Start\n    text: |-\n      line 1\n      line 2\nnum: \"0\"\n"
	if string(b) != want {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}
}
