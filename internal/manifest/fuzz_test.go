package manifest

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	kjson "sigs.k8s.io/json"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

func fuzzSeeds(f *testing.F) {
	files, _ := filepath.Glob("../../config/samples/*.yaml")
	rules, _ := filepath.Glob("../lint/testdata/rules/*.yaml")
	for _, p := range append(files, rules...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"a: y\nb: [n, on, 0755, 1e3, ~]\n",
		"base: &b {a: 1}\nx: {<<: *b, b: 2}\n",
		"{\"a\": 1}\n{\"b\": 2}\n",
		"{\"a\": 1}\nb: 2\n",
		"apiVersion: v1\nkind: List\nitems:\n- {kind: ChatFlow, spec: {variables: [{name: n}]}}\n",
		"a: 1\r\n---\r\nb: .nan\r\n",
		"--- x\n",
		"a: 1\n--- # c\n...\n",
	} {
		f.Add([]byte(s))
	}
}

// FuzzParse: whatever the input, Parse does not panic, reads it as
// kubectl does (the same objects and values, or a refusal where kubectl
// refuses), and places every field of what it reads on a line of the
// input.
func FuzzParse(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		agree(t, data)
		objs, _ := Parse(Source{Name: "fuzz.yaml", Data: data})
		lines := 1
		for _, c := range data {
			if c == '\n' {
				lines++
			}
		}
		for _, o := range objs {
			for path := range o.Pos.m {
				if p, _ := o.Pos.Lookup(path); p.Line < 1 || p.Line > lines {
					t.Fatalf("%s at line %d of %d", path, p.Line, lines)
				}
			}
		}
	})
}

// FuzzDecode: the strict typed decode agrees with the API server's
// decoder (sigs.k8s.io/json): what it accepts decodes to the same
// ChatFlow, a value of the wrong type is refused by both, and an unknown
// field is one the strict decoder reports too.
func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, _ := Parse(Source{Name: "fuzz.yaml", Data: data})
		for _, o := range objs {
			var got v1alpha1.ChatFlow
			err := o.Decode(&got)
			b, merr := json.Marshal(o.Value)
			if merr != nil {
				t.Fatal(merr)
			}
			var want v1alpha1.ChatFlow
			strict, kerr := kjson.UnmarshalStrict(b, &want, kjson.DisallowUnknownFields)
			var de *DecodeError
			switch {
			case err == nil:
				if kerr != nil || len(strict) > 0 {
					t.Fatalf("Decode accepts what the API server's decoder refuses (%v %v): %s", kerr, strict, b)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("Decode and the API server's decoder differ on %s", b)
				}
			case !errors.As(err, &de):
				t.Fatalf("not a *DecodeError: %v", err)
			case len(de.Invalid) > 0 && kerr == nil:
				t.Fatalf("Decode refuses a value the API server's decoder takes: %v\n%s", err, b)
			case len(de.Invalid) == 0 && len(strict) == 0:
				t.Fatalf("Decode reports unknown fields the API server's decoder does not: %v\n%s", err, b)
			}
		}
	})
}
