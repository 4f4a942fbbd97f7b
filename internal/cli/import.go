package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chatflow-dev/chatflow/internal/flowimport"
	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
)

func newImportCommand() *cobra.Command {
	var from, name, namespace, trigger, out string
	var strict bool
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Turn an exported flow, or a Twilio Studio flow, into a ChatFlow manifest",
		Long: `import writes a ChatFlow manifest (YAML) from FILE ("-" for stdin).

--from chatflow (the default) reads the portable flow JSON of chatflow export:
  {"format": "chatflow.dev/flow/v1alpha1", "name", "labels", "annotations",
   "revision", "spec"}
and gives back the manifest it was exported from, without cluster metadata;
exporting that manifest gives the same JSON again.

--from twilio-studio reads a Twilio Studio Flow Definition (or a Flow resource
with its definition) and translates it: the trigger's messaging entry (or its
REST entry, with --trigger Manual), send-message, send-and-wait-for-reply with
its timeout, split-based-on (equal_to, matches_any_of, contains, starts_with,
regex, is_blank, greater_than, less_than and their negations), set-variables,
make-http-request, run-function (an HTTPRequest to the function's URL) and
send-to-flex (a Handoff); Liquid variables and the filters upcase, downcase,
strip, size and default become CEL. What cannot be translated (voice widgets,
subflows, unknown types: the flow ends there) or is approximated is printed to
stderr by state name and type and listed in the manifest's header comment, as
are the widgets the messaging entry never reaches (drafts, voice-only paths),
which are left out; --strict makes a widget that is not translated an error. A
flow that cannot be a ChatFlow (it never ends) is refused with the widgets named.`,
		Example: `  chatflow import order-status.json > order-status.yaml
  chatflow import --from twilio-studio studio-flow.json --name support --trigger WhatsApp`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			srcs, err := manifest.Read(args, cmd.InOrStdin())
			if err != nil {
				return err
			}
			res, err := flowimport.Import(srcs[0], flowimport.Options{
				From: from, Name: name, Namespace: namespace, Trigger: trigger, Tool: "chatflow import"})
			if err != nil {
				return err
			}
			for _, line := range res.Report {
				fmt.Fprintln(cmd.ErrOrStderr(), line)
			}
			if strict && res.Dropped > 0 {
				return fmt.Errorf("--strict: %d of the states were not translated (listed above)", res.Dropped)
			}
			b := res.Manifest
			// The result must be what lint accepts; say so now rather than
			// when it is applied.
			r := lint.Lint([]manifest.Source{{Name: "<imported>", Data: b}})
			if len(r.Problems) > 0 {
				var msgs []string
				for _, p := range r.Problems {
					msgs = append(msgs, p.String())
				}
				if err := writeOut(cmd, out, b); err != nil {
					return err
				}
				return errors.New("the imported flow has problems:\n" + strings.Join(msgs, "\n"))
			}
			return writeOut(cmd, out, b)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "chatflow", "the format of FILE: chatflow (portable flow JSON) or twilio-studio")
	fl.StringVar(&name, "name", "", "the ChatFlow's name (required for twilio-studio; overrides the exported name)")
	fl.StringVarP(&namespace, "namespace", "n", "", "the namespace to put in the manifest (default: none)")
	fl.StringVar(&trigger, "trigger", "", "twilio-studio: the trigger type (default: WhatsApp for a messaging entry, Manual for a REST entry)")
	fl.BoolVar(&strict, "strict", false, "twilio-studio: fail when a widget cannot be translated")
	fl.StringVarP(&out, "output", "o", "", "write to this file instead of stdout")
	return cmd
}
