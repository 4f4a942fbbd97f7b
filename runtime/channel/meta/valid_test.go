package meta

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validSeeds are the bodies FuzzValidJSON starts from and TestValidJSON
// checks: every fixture, and the corners of the grammar.
func validSeeds(t testing.TB) [][]byte {
	seeds := [][]byte{}
	for _, s := range []string{
		``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `01`, `-`, `1.`, `1.5e`, `1.5e+3`, `1E-2`, `.5`, `+1`,
		`true`, `tru`, `falsey`, `null`, `nul`, `{"a":1,}`, `[1,]`, `[,1]`, `{"a" 1}`, `{1:2}`,
		`"\u12"`, `"\u12g4"`, `"\uABCD"`, `"\x"`, "\"a\tb\"", "\"\x7f\xff\"", `"\/"`, `{"a":[{"b":null}]}`,
		"\t\r\n{ }\n", `{} {}`, `[1 2]`, `"abc`, `{"a":}`,
		strings.Repeat("[", maxNesting) + strings.Repeat("]", maxNesting),
		strings.Repeat("[", maxNesting+1) + strings.Repeat("]", maxNesting+1),
		strings.Repeat(`{"a":`, maxNesting) + "1" + strings.Repeat("}", maxNesting),
		strings.Repeat(`{"a":`, maxNesting+1) + "1" + strings.Repeat("}", maxNesting+1),
	} {
		seeds = append(seeds, []byte(s))
	}
	// Copies of the channels' fixtures (shared/channel-fixtures).
	files, _ := filepath.Glob("../*/testdata/*.json")
	more, _ := filepath.Glob("../*/testdata/*/*.json")
	if len(files) == 0 {
		t.Fatal("no fixtures found")
	}
	for _, f := range append(files, more...) {
		if b, err := os.ReadFile(f); err == nil {
			seeds = append(seeds, b)
		}
	}
	return seeds
}

func TestValidJSON(t *testing.T) {
	for _, b := range validSeeds(t) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Errorf("validJSON(%.60q) = %v, json.Valid says %v", b, got, want)
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, b := range validSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}
