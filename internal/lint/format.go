package lint

import (
	"encoding/json"
	"fmt"
	"io"
)

// Summary counts what was checked.
type Summary struct {
	ChatFlows       int `json:"chatFlows"`
	ChannelBindings int `json:"channelBindings"`
	LanguageModels  int `json:"languageModels,omitempty"`
	Campaigns       int `json:"campaigns,omitempty"`
	Ignored         int `json:"ignored"`
	Problems        int `json:"problems"`
}

// Summary counts what was checked.
func (r *Result) Summary() Summary {
	return Summary{ChatFlows: len(r.Flows), ChannelBindings: len(r.Bindings), LanguageModels: len(r.Models), Campaigns: len(r.Campaigns), Ignored: r.Ignored, Problems: len(r.Problems)}
}

// WriteText writes one problem per line: file:line: field: message.
func WriteText(w io.Writer, r *Result) error {
	for _, p := range r.Problems {
		if _, err := fmt.Fprintln(w, p.String()); err != nil {
			return err
		}
	}
	return nil
}

// Report is the JSON form of a Result, for bots: a stable shape, problems
// always a list.
type Report struct {
	Problems []Problem `json:"problems"`
	Summary  Summary   `json:"summary"`
}

// WriteJSON writes the Report as indented JSON.
func WriteJSON(w io.Writer, r *Result) error {
	rep := Report{Problems: r.Problems, Summary: r.Summary()}
	if rep.Problems == nil {
		rep.Problems = []Problem{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// SummaryLine is the one-line verdict printed after the problems.
func (s Summary) String() string {
	what := fmt.Sprintf("%s, %s", plural(s.ChatFlows, "ChatFlow"), plural(s.ChannelBindings, "ChannelBinding"))
	if s.LanguageModels > 0 {
		what += ", " + plural(s.LanguageModels, "LanguageModel")
	}
	if s.Campaigns > 0 {
		what += ", " + plural(s.Campaigns, "Campaign")
	}
	if s.Problems == 0 {
		return what + ": no problems"
	}
	return what + ": " + plural(s.Problems, "problem")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
