package twilio_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/flowjson"
	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/internal/twilio"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// Each hand-written definition in testdata is imported; the manifest and
// the report are golden files, and the manifest lints clean. Together the
// definitions use every widget and condition type the importer knows and
// several it does not.
func TestImportGolden(t *testing.T) {
	for _, tc := range []struct {
		file    string
		trigger v1alpha1.TriggerType
		// dropped are states that must be reported as not translated.
		dropped []string
	}{
		{"support.json", "", []string{"Trigger", "say_hello", "gather_digits"}},
		{"survey.json", "", []string{"orphan_note"}},
		{"booking-resource.json", "", []string{"Log_Failure", "Redirect", "Subflow", "Mystery"}},
		{"booking-resource.json", v1alpha1.TriggerManual, nil},
	} {
		name := strings.TrimSuffix(tc.file, ".json")
		if tc.trigger != "" {
			name += "-" + strings.ToLower(string(tc.trigger))
		}
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			cf, rep, err := twilio.Import(data, twilio.Options{Name: name, Trigger: tc.trigger})
			if err != nil {
				t.Fatal(err)
			}
			var header strings.Builder
			for _, it := range rep.Items {
				header.WriteString(it.String() + "\n")
			}
			b, err := flowjson.Manifest(cf, header.String())
			if err != nil {
				t.Fatal(err)
			}
			r := lint.Lint([]manifest.Source{{Name: name + ".yaml", Data: b}})
			for _, p := range r.Problems {
				t.Errorf("lint: %s", p)
			}
			for _, s := range tc.dropped {
				found := false
				for _, it := range rep.Items {
					found = found || it.State == s && it.Dropped
				}
				if !found {
					t.Errorf("%s is not reported as not translated", s)
				}
			}
			golden(t, name+".yaml", b)
		})
	}
}

// Every condition type of the summary in products.md §2 is translated,
// not reported.
func TestConditionTypes(t *testing.T) {
	var all bytes.Buffer
	for _, f := range []string{"support.json", "survey.json"} {
		b, _ := os.ReadFile(filepath.Join("testdata", f))
		all.Write(b)
	}
	for _, typ := range []string{"equal_to", "matches_any_of", "contains", "starts_with", "regex", "is_blank", "greater_than", "less_than",
		"not_equal_to", "does_not_match_any_of"} {
		if !strings.Contains(all.String(), `"type": "`+typ+`"`) {
			t.Errorf("no test definition uses %s", typ)
		}
	}
	for _, f := range []string{"support.json", "survey.json"} {
		b, _ := os.ReadFile(filepath.Join("testdata", f))
		_, rep, err := twilio.Import(b, twilio.Options{Name: "x"})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range rep.Items {
			if strings.Contains(it.Message, "condition type") && !strings.Contains(it.Message, "is_after") {
				t.Errorf("%s", it)
			}
		}
	}
}

func TestImportErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		src  string
		opts twilio.Options
		want string
	}{
		"not json":      {"{", twilio.Options{Name: "x"}, "not a Studio flow definition"},
		"no states":     {`{"initial_state": "T", "states": []}`, twilio.Options{Name: "x"}, "no states"},
		"no name":       {`{}`, twilio.Options{}, "--name"},
		"bad initial":   {`{"initial_state": "X", "states": [{"name": "T", "type": "trigger", "transitions": []}]}`, twilio.Options{Name: "x"}, "initial_state"},
		"voice only":    {`{"initial_state": "T", "states": [{"name": "T", "type": "trigger", "transitions": [{"event": "incomingCall", "next": "s"}]}, {"name": "s", "type": "say-play", "transitions": []}]}`, twilio.Options{Name: "x"}, "starts nothing"},
		"bad trigger":   {`{"initial_state": "T", "states": [{"name": "T", "type": "trigger", "transitions": [{"event": "incomingMessage", "next": "s"}]}, {"name": "s", "type": "send-message", "properties": {"body": "hi"}, "transitions": []}]}`, twilio.Options{Name: "x", Trigger: "SMS"}, "--trigger"},
		"no REST entry": {`{"initial_state": "T", "states": [{"name": "T", "type": "trigger", "transitions": [{"event": "incomingMessage", "next": "s"}]}, {"name": "s", "type": "send-message", "properties": {"body": "hi"}, "transitions": []}]}`, twilio.Options{Name: "x", Trigger: "Manual"}, "no incomingRequest entry"},
		"dup states":    {`{"initial_state": "T", "states": [{"name": "T", "type": "trigger"}, {"name": "T", "type": "trigger"}]}`, twilio.Options{Name: "x"}, "two states"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := twilio.Import([]byte(tc.src), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

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
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n%s", path, got)
	}
}
