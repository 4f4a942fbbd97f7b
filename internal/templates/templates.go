// Package templates owns the flow templates of `chatflow new`: order
// status, appointment booking, FAQ menu, lead capture, survey, human
// hand-off and AI support, each rendered for the trigger types it suits as a ChatFlow
// manifest (with its ChannelBinding) and its transcript tests. Every
// template lints clean and passes its tests for every trigger it offers;
// the package's tests hold it to that.
//
// Templates are text/template files with [[ ]] delimiters, since flows
// use {{ }} themselves. It imports nothing of this module.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/template"
)

//go:embed files/*.tmpl
var files embed.FS

// Template describes one template.
type Template struct {
	Name        string
	Description string
	// Triggers it suits; the first is the default.
	Triggers []string
}

var channels = []string{"WhatsApp", "Messenger", "Instagram", "Viber"}

// All lists the templates.
var All = []Template{
	{"order-status", "asks for an order number and answers with the order's status from your API", channels},
	{"appointment-booking", "offers days and times and books the slot through your API", channels},
	{"faq-menu", "a menu of answers, with a hand-off to a person", channels},
	{"lead-capture", "asks for a name and an email address and sends the lead to your CRM", channels},
	{"survey", "a 1-5 score and a comment sent to your survey API; Manual: started by your system", append([]string{"Manual"}, channels...)},
	{"human-handoff", "offers a person and pauses automation while an agent talks", channels},
	{"ai-support", "a language model routes each message and answers the questions", channels},
}

// Find returns the template of that name.
func Find(name string) (Template, error) {
	for _, t := range All {
		if t.Name == name {
			return t, nil
		}
	}
	names := make([]string, len(All))
	for i, t := range All {
		names[i] = t.Name
	}
	return Template{}, fmt.Errorf("no template %q: use one of %s", name, strings.Join(names, ", "))
}

// data is what the template files see.
type data struct {
	Name, Title, Trigger, Channel string
	Manual                        bool
	// ContactID is the test contact: a phone number on WhatsApp and Viber,
	// a scoped id on Messenger and Instagram.
	ContactID string
}

var dnsName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Render renders a template for a flow name and trigger ("" for the
// template's default). It returns the manifest and the tests.
func (t Template) Render(name, trigger string) (flow, tests []byte, err error) {
	if len(name) > 63 || !dnsName.MatchString(name) {
		return nil, nil, fmt.Errorf("the flow name %q must be lower-case letters, digits and '-' (at most 63), e.g. order-status", name)
	}
	if trigger == "" {
		trigger = t.Triggers[0]
	}
	if !slices.Contains(t.Triggers, trigger) {
		return nil, nil, fmt.Errorf("the %s template suits the triggers %s, not %s", t.Name, strings.Join(t.Triggers, ", "), trigger)
	}
	d := data{Name: name, Title: title(name), Trigger: trigger, Channel: trigger, ContactID: "15550100100"}
	if trigger == "Manual" {
		// A Manual flow sends through its binding's channel.
		d.Manual, d.Channel = true, "WhatsApp"
	}
	if d.Channel == "Messenger" || d.Channel == "Instagram" {
		d.ContactID = "6543210987654321"
	}
	tmpl, err := template.New("").Delims("[[", "]]").Option("missingkey=error").ParseFS(files, "files/_binding.yaml.tmpl", "files/"+t.Name+".yaml.tmpl", "files/"+t.Name+".test.yaml.tmpl")
	if err != nil {
		return nil, nil, err
	}
	var f, ts bytes.Buffer
	if err := tmpl.ExecuteTemplate(&f, t.Name+".yaml.tmpl", d); err != nil {
		return nil, nil, err
	}
	if err := tmpl.ExecuteTemplate(&ts, t.Name+".test.yaml.tmpl", d); err != nil {
		return nil, nil, err
	}
	return f.Bytes(), ts.Bytes(), nil
}

// title makes a display name of a flow name: order-status → Order status.
func title(name string) string {
	s := strings.ReplaceAll(name, "-", " ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
