package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
)

// kubectlRead is how kubectl reads a file (apimachinery's
// YAMLOrJSONDecoder into raw JSON, a List's items as objects) and how the
// API server decodes what it sends (sigs.k8s.io/json, integers kept): the
// reference Parse must agree with.
func kubectlRead(data []byte) ([]map[string]any, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []map[string]any
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		// kubectl skips what is empty once trimmed, or null.
		if raw = bytes.TrimSpace(raw); len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var m map[string]any
		if err := kjson.UnmarshalCaseSensitivePreserveInts(raw, &m); err != nil {
			return out, err
		}
		if m == nil {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if isList(newObject("", m, nil)) {
			l, err := u.ToList()
			if err != nil {
				return out, err
			}
			for _, it := range l.Items {
				out = append(out, it.Object)
			}
			continue
		}
		out = append(out, m)
	}
}

// agree checks that Parse reads data as kubectl does: the same objects
// with the same values, or both refuse it. Parse may refuse more (a
// duplicate key, an alias bomb): beyond says whether it did.
func agree(t *testing.T, data []byte) (beyond bool) {
	t.Helper()
	want, kerr := kubectlRead(data)
	objs, err := Parse(Source{Name: "in.yaml", Data: data})
	if err != nil {
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("Parse returned %T, not a *SyntaxError: %v", err, err)
		}
		if kerr == nil {
			if strings.Contains(se.Msg, "duplicate field") || strings.Contains(se.Msg, "too large") || strings.Contains(se.Msg, "nested too deeply") {
				return true
			}
			t.Fatalf("kubectl reads %q, Parse refuses it: %v", data, err)
		}
		return false
	}
	if kerr != nil {
		t.Fatalf("kubectl refuses %q (%v), Parse reads it: %v", data, kerr, objs)
	}
	var got []map[string]any
	for _, o := range objs {
		got = append(got, o.Value)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\nParse   %#v\nkubectl %#v", data, got, want)
	}
	return false
}

func TestParseAgreesWithKubectl(t *testing.T) {
	for name, src := range map[string]string{
		"YAML 1.1 booleans": "a: y\nb: n\nc: yes\nd: No\ne: on\nf: OFF\ng: true\nh: 'n'\ni: \"yes\"\nj: !!str on\n",
		"numbers":           "a: 0755\nb: 0x1F\nc: 1_000\nd: 1e3\ne: 1.5\nf: .5\ng: -12\nh: 9223372036854775807\ni: 1:20\nj: 0b101\n",
		"nulls and times":   "a: ~\nb: null\nc:\nd: 2001-12-14\ne: 2001-12-14T21:59:43.10-05:00\n",
		"keys":              "on: 1\n1: 2\nyes: 3\n\"no\": 4\n1.5: 5\n",
		"anchors":           "base: &b {a: 1, b: [x, y]}\nx:\n  <<: *b\n  b: 3\ny: *b\n",
		"documents":         "# c\n---\na: 1\n--- # note\n---\n# only a comment\n---\nb: 2\n...\n",
		"CRLF":              "a: 1\r\nb: n\r\n---\r\nc: 3\r\n",
		"block scalars":     "a: |\n  line n\n  yes\nb: >-\n  folded\n  on\n",
		"a List":            "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: ConfigMap, data: {k: on}}\n",
		"JSON":              `{"a": 1, "b": "n", "c": [true, null, 1.5]}`,
		"a JSON stream":     "{\"a\": 1}\n{\"b\": 2}\n",
		"JSON then YAML":    "{\"a\": 1}\nb: 2\n",
		"bad separator":     "a: 1\n--- b: 2\n",
		"not YAML":          "a: [1\nb: 2\n",
		"a scalar":          "just text\n",
		"a list":            "- a\n- b\n",
		"tabs":              "a:\n\tb: 1\n",
		"NaN":               "a: .nan\n",
	} {
		t.Run(name, func(t *testing.T) { agree(t, []byte(src)) })
	}
}

// Parse refuses a key written twice, where kubectl keeps one of them.
func TestParseRefusesDuplicateKeys(t *testing.T) {
	if !agree(t, []byte("a: 1\nb: 2\na: 3\n")) {
		t.Error("a duplicate key was not refused")
	}
}

func TestParsePositionsOfJSONAndCRLF(t *testing.T) {
	objs, err := Parse(Source{Name: "s.json", Data: []byte("{\"kind\": \"A\",\n \"spec\": {\"x\": 1}}\n\n{\"kind\": \"B\",\n\n \"spec\": {\"y\": 2}}\n")})
	if err != nil || len(objs) != 2 {
		t.Fatalf("%v %v", objs, err)
	}
	if p, _ := objs[0].Pos.Lookup("spec.x"); p.Line != 2 {
		t.Errorf("first object spec.x at line %d, want 2", p.Line)
	}
	if p, _ := objs[1].Pos.Lookup("spec.y"); p.Line != 6 {
		t.Errorf("second object spec.y at line %d, want 6", p.Line)
	}
	objs, err = Parse(Source{Name: "s.yaml", Data: []byte("a: 1\r\n---\r\n\r\nb:\r\n  c: n\r\n")})
	if err != nil || len(objs) != 2 {
		t.Fatalf("%v %v", objs, err)
	}
	if p, _ := objs[1].Pos.Lookup("b.c"); p.Line != 5 {
		t.Errorf("b.c at line %d, want 5", p.Line)
	}
	if text, plain, ok := objs[1].Pos.Written("b.c"); text != "n" || !plain || !ok {
		t.Errorf("b.c written as %q plain=%v ok=%v", text, plain, ok)
	}
	if objs[1].Value["b"].(map[string]any)["c"] != false {
		t.Errorf("b.c = %v, want the boolean false", objs[1].Value["b"])
	}
}

// What YAML writes, kubectl reads back unchanged: strings that YAML 1.1
// takes for booleans, numbers or nulls are quoted.
func TestYAMLReadsBackAsWritten(t *testing.T) {
	for _, s := range []string{"n", "y", "yes", "No", "on", "OFF", "0755", "0x1F", "1_000", "1e3", "~", "null", "2001-12-14", "1:20", "0b101", "+12", ".5", "-.inf", "<<", "=", "a: b", "#x", "- x", " lead", "trail ", "multi\nline", "multi\nline \n"} {
		v := map[string]any{"k": s, s: "v", "l": []any{s}}
		b, err := YAML(v, "")
		if err != nil {
			t.Fatal(err)
		}
		objs, err := Parse(Source{Name: "w.yaml", Data: b})
		if err != nil || len(objs) != 1 || !reflect.DeepEqual(objs[0].Value, v) {
			t.Errorf("%q written as\n%s\nreads back as %v (%v)", s, b, objs, err)
		}
		agree(t, b)
	}
}
