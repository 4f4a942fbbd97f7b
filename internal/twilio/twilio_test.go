package twilio_test

import (
	"bytes"
	"errors"
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

// Real flows from public repositories (testdata/public/README.md says
// where from) are imported and lint clean, with every widget that was
// left out or approximated named in the report, or refused with the
// names of what could not be translated.
func TestPublicStudioFlows(t *testing.T) {
	files, err := filepath.Glob("testdata/public/*.json")
	if err != nil || len(files) < 3 {
		t.Fatalf("public flows: %v %v", files, err)
	}
	// leftOut are widgets each flow must report as not translated, with
	// the reason.
	leftOut := map[string]map[string]string{
		"twilio-webchat-react-app":                 {"loop_checker": "no transition reaches it"},
		"function-templates-vaccine-standby-list":  {"http_1": "no transition reaches it", "SaveToAirtable": "without a URL"},
		"function-templates-outreach-pcp-followup": {},
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			cf, rep, err := twilio.Import(data, twilio.Options{Name: "public"})
			var refused *twilio.Refusal
			if errors.As(err, &refused) {
				for _, it := range refused.Items {
					if !bytes.Contains(data, []byte(`"`+it.State+`"`)) {
						t.Errorf("the refusal names %q, which is not a widget of the flow", it.State)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var header strings.Builder
			for _, it := range rep.Items {
				if !bytes.Contains(data, []byte(`"`+it.State+`"`)) {
					t.Errorf("the report names %q, which is not a widget of the flow", it.State)
				}
				header.WriteString(it.String() + "\n")
			}
			for state, why := range leftOut[name] {
				found := false
				for _, it := range rep.Items {
					found = found || it.State == state && it.Dropped && strings.Contains(it.Message, why)
				}
				if !found {
					t.Errorf("%s is not reported as left out (%q):\n%s", state, why, header.String())
				}
			}
			b, err := flowjson.Manifest(cf, header.String())
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range lint.Lint([]manifest.Source{{Name: name + ".yaml", Data: b}}).Problems {
				t.Errorf("lint: %s", p)
			}
			golden(t, filepath.Join("public", name+".yaml"), b)
		})
	}
}

// Widgets only a voice path or a failed hand-off reaches are left out with
// the transition that would have reached them, drafts with no transition
// at all, and the flow compiles without them.
func TestLeftOutWidgets(t *testing.T) {
	def := `{"initial_state": "Trigger", "states": [
 {"name": "Trigger", "type": "trigger", "transitions": [{"event": "incomingMessage", "next": "ask"}, {"event": "incomingCall", "next": "voice_menu"}]},
 {"name": "ask", "type": "send-and-wait-for-reply", "transitions": [{"event": "incomingMessage", "next": "route"}], "properties": {"body": "Agent or call?"}},
 {"name": "route", "type": "split-based-on", "transitions": [{"event": "noMatch", "next": "agent"}, {"event": "match", "next": "dial", "conditions": [{"type": "equal_to", "arguments": ["{{widgets.ask.inbound.Body}}"], "value": "call", "friendly_name": "call"}]}], "properties": {"input": "{{widgets.ask.inbound.Body}}"}},
 {"name": "dial", "type": "connect-call-to", "transitions": [{"event": "callCompleted", "next": "after_call"}]},
 {"name": "after_call", "type": "send-message", "transitions": [{"event": "sent"}], "properties": {"body": "Thanks for calling"}},
 {"name": "agent", "type": "send-to-flex", "transitions": [{"event": "callComplete"}, {"event": "failedToEnqueue", "next": "sorry"}], "properties": {"workflow": "WW1"}},
 {"name": "sorry", "type": "send-message", "transitions": [{"event": "sent"}], "properties": {"body": "No agent"}},
 {"name": "voice_menu", "type": "gather-input-on-call", "transitions": [{"event": "keypress", "next": "after_call"}]},
 {"name": "draft", "type": "send-message", "transitions": [{"event": "sent"}], "properties": {"body": "unused"}}
]}`
	cf, rep, err := twilio.Import([]byte(def), twilio.Options{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"voice_menu": "reached only from the trigger's incomingCall entry",
		"after_call": "reached only through the callCompleted transition of dial (connect-call-to)",
		"sorry":      "reached only through the failedToEnqueue transition of agent (send-to-flex)",
		"draft":      "no transition reaches it",
		"dial":       "a voice widget",
	}
	for state, msg := range want {
		found := false
		for _, it := range rep.Items {
			found = found || it.State == state && it.Dropped && strings.Contains(it.Message, msg)
		}
		if !found {
			t.Errorf("%s: no item says %q; report:\n%v", state, msg, rep.Items)
		}
	}
	for _, n := range cf.Spec.Nodes {
		if n.ID == "after-call" || n.ID == "sorry" || n.ID == "draft" || n.ID == "voice-menu" {
			t.Errorf("%s was translated, though nothing in the chat flow reaches it", n.ID)
		}
	}
}

// A flow whose every transition leads back into it cannot end, which a
// ChatFlow must be able to: it is refused with the widgets that wait.
func TestRefusesFlowsThatNeverEnd(t *testing.T) {
	def := `{"initial_state": "Trigger", "states": [
 {"name": "Trigger", "type": "trigger", "transitions": [{"event": "incomingMessage", "next": "menu"}]},
 {"name": "menu", "type": "send-and-wait-for-reply", "transitions": [{"event": "incomingMessage", "next": "pick"}, {"event": "timeout", "next": "menu"}, {"event": "deliveryFailure"}], "properties": {"body": "1 or 2?"}},
 {"name": "pick", "type": "split-based-on", "transitions": [{"event": "noMatch", "next": "menu"}], "properties": {"input": "{{widgets.menu.inbound.Body}}"}}
]}`
	_, _, err := twilio.Import([]byte(def), twilio.Options{Name: "x"})
	var r *twilio.Refusal
	if !errors.As(err, &r) || len(r.Items) != 1 || r.Items[0].State != "menu" || !strings.Contains(r.Items[0].Message, "nothing ever ends it") {
		t.Fatalf("got %v", err)
	}
}
