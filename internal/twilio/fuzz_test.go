package twilio_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/twilio"
)

// FuzzImport: whatever the definition, Import returns an error or a flow
// that compiles; "does not compile" is an importer bug.
func FuzzImport(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
		f.Add(b, "Manual")
	}
	f.Add([]byte(`{"initial_state":"T","states":[{"name":"T","type":"trigger","transitions":[{"event":"incomingMessage","next":"a"}]},{"name":"a","type":"split-based-on","properties":{"input":"{{x | default: 'y' | upcase}}"},"transitions":[{"event":"match","next":"a","conditions":[{"type":"equal_to","value":"{{a}}","arguments":["{{b}}"]}]}]}]}`), "")
	f.Fuzz(func(t *testing.T, data []byte, trigger string) {
		_, _, err := twilio.Import(data, twilio.Options{Name: "fuzz", Trigger: v1alpha1.TriggerType(trigger)})
		if err != nil && strings.Contains(err.Error(), "does not compile") {
			t.Fatalf("%v\n%s", err, data)
		}
	})
}
