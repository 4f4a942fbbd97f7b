package templates_test

import (
	"testing"

	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/internal/templates"
	"github.com/chatflow-dev/chatflow/internal/transcript"
)

// Every template, for every trigger it offers, lints clean and passes its
// transcript tests.
func TestTemplatesLintCleanAndPassTheirTests(t *testing.T) {
	for _, tmpl := range templates.All {
		for _, trigger := range tmpl.Triggers {
			t.Run(tmpl.Name+"/"+trigger, func(t *testing.T) {
				flow, tests, err := tmpl.Render("my-"+tmpl.Name, trigger)
				if err != nil {
					t.Fatal(err)
				}
				src := manifest.Source{Name: "my-" + tmpl.Name + ".yaml", Data: flow}
				r := lint.Lint([]manifest.Source{src})
				for _, p := range r.Problems {
					t.Errorf("lint: %s", p)
				}
				if s := r.Summary(); s.ChatFlows != 1 || s.ChannelBindings != 1 {
					t.Errorf("want a ChatFlow and a ChannelBinding, got %s", s)
				}
				tf, prog, ch, err := transcript.Load(src, manifest.Source{Name: "my-" + tmpl.Name + ".test.yaml", Data: tests})
				if err != nil {
					t.Fatal(err)
				}
				results := transcript.Run(tf, prog, ch, nil)
				if len(results) < 3 {
					t.Errorf("want at least 3 tests, got %d", len(results))
				}
				for _, res := range results {
					if !res.Passed() {
						t.Errorf("%s:\n%s", res.Name, res.Failure)
					}
				}
			})
		}
	}
}

func TestRenderRefusesBadNamesAndTriggers(t *testing.T) {
	tmpl, err := templates.Find("faq-menu")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tmpl.Render("Bad_Name", ""); err == nil {
		t.Error("a bad flow name was accepted")
	}
	if _, _, err := tmpl.Render("ok", "Manual"); err == nil {
		t.Error("a trigger the template does not offer was accepted")
	}
	if _, err := templates.Find("nope"); err == nil {
		t.Error("an unknown template was found")
	}
}
