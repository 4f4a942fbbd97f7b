package twilio_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/twilio"
)

// FuzzImport: whatever the definition, Import returns a flow that
// compiles, an error about the definition, or a Refusal that names the
// widgets of the definition it could not translate.
func FuzzImport(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	public, _ := filepath.Glob("testdata/public/*.json")
	files = append(files, public...)
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
		var r *twilio.Refusal
		if !errors.As(err, &r) {
			return
		}
		if len(r.Items) == 0 {
			t.Fatalf("a refusal that names nothing\n%s", data)
		}
		for _, it := range r.Items {
			if it.Message == "" || it.State != "(the flow)" && !strings.Contains(string(data), it.State) {
				t.Fatalf("a refusal must name widgets of the definition: %+v\n%s", it, data)
			}
		}
	})
}
