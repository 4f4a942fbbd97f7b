// Package flowimport turns a flow from another format into a ChatFlow
// manifest: the portable flow JSON of `chatflow export` (internal/flowjson)
// or a Twilio Studio Flow Definition (internal/twilio). It is the one
// import path of `chatflow import` and the studio, so both write the same
// manifest and the same report for the same input.
//
// It decodes and translates only; callers lint the result. It must not
// import internal/cli or internal/studio.
package flowimport

import (
	"fmt"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/flowjson"
	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/internal/twilio"
)

// The formats Import reads.
const (
	FromChatflow     = "chatflow"
	FromTwilioStudio = "twilio-studio"
)

// Options say how to import.
type Options struct {
	// From is FromChatflow (the default when empty) or FromTwilioStudio.
	From string
	// Name is the ChatFlow's name: required for a Twilio Studio flow, an
	// override of the exported name for a portable flow.
	Name string
	// Namespace goes into the manifest when set.
	Namespace string
	// Trigger is the trigger type of a Twilio Studio flow (default: the
	// importer's choice from its entry).
	Trigger string
	// Tool names the program in the manifest's header comment.
	Tool string
}

// Result is an imported flow.
type Result struct {
	// Manifest is the ChatFlow as YAML.
	Manifest []byte
	// Report lists, one line each, what the import left out, approximated
	// or warns about.
	Report []string
	// Dropped counts Twilio Studio widgets that were not translated.
	Dropped int
}

// Import translates src as o says.
func Import(src manifest.Source, o Options) (*Result, error) {
	switch o.From {
	case "", FromChatflow:
		pf, err := flowjson.Parse(src)
		if err != nil {
			return nil, err
		}
		if o.Name != "" {
			pf.Name = o.Name
		}
		r := &Result{}
		if w := pf.Check(); w != "" {
			r.Report = append(r.Report, "warning: "+w)
		}
		if r.Manifest, err = flowjson.Manifest(pf.ChatFlow(o.Namespace), ""); err != nil {
			return nil, err
		}
		return r, nil
	case FromTwilioStudio:
		cf, rep, err := twilio.Import(src.Data, twilio.Options{Name: o.Name, Namespace: o.Namespace, Trigger: v1alpha1.TriggerType(o.Trigger)})
		if err != nil {
			return nil, err
		}
		r := &Result{Dropped: rep.Dropped()}
		header := fmt.Sprintf("Imported from the Twilio Studio flow %s by %s.", src.Name, o.Tool)
		for _, it := range rep.Items {
			r.Report = append(r.Report, it.String())
			header += "\n" + it.String()
		}
		if r.Manifest, err = flowjson.Manifest(cf, header); err != nil {
			return nil, err
		}
		return r, nil
	}
	return nil, fmt.Errorf("from must be %s or %s, not %q", FromChatflow, FromTwilioStudio, o.From)
}
