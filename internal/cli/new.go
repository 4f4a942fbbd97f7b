package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chatflow-dev/chatflow/internal/templates"
)

func newNewCommand() *cobra.Command {
	var tmplName, trigger, dir string
	var force, list bool
	cmd := &cobra.Command{
		Use:   "new NAME --template TEMPLATE",
		Short: "Start a flow from a template, with its transcript tests",
		Long: `new writes NAME.yaml (a ChatFlow, Unpublished, and its ChannelBinding) and
NAME.test.yaml (its transcript tests) into --dir. Each template lints clean and
passes its tests for every trigger it offers; edit the messages, URLs and the
binding's account, then run chatflow lint and chatflow test.

Templates (--list shows them with their triggers): order-status,
appointment-booking, faq-menu, lead-capture, survey, human-handoff, ai-support.`,
		Example: `  chatflow new shop-orders --template order-status --trigger WhatsApp
  chatflow new nps --template survey --trigger Manual --dir flows/`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if list {
				for _, t := range templates.All {
					fmt.Fprintf(out, "%-20s %s\n%-20s triggers: %s\n", t.Name, t.Description, "", strings.Join(t.Triggers, ", "))
				}
				return nil
			}
			if len(args) != 1 || tmplName == "" {
				return errors.New("give the flow's NAME and --template (see --list)")
			}
			t, err := templates.Find(tmplName)
			if err != nil {
				return err
			}
			flow, tests, err := t.Render(args[0], trigger)
			if err != nil {
				return err
			}
			flowPath := filepath.Join(dir, args[0]+".yaml")
			testsPath := filepath.Join(dir, args[0]+".test.yaml")
			if !force {
				for _, p := range []string{flowPath, testsPath} {
					if _, err := os.Stat(p); err == nil {
						return fmt.Errorf("%s exists: use --force to overwrite it", p)
					}
				}
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(flowPath, flow, 0o644); err != nil {
				return err
			}
			if err := os.WriteFile(testsPath, tests, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(out, "wrote %s and %s\nnext: chatflow lint %s && chatflow test -f %s\n", flowPath, testsPath, flowPath, flowPath)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&tmplName, "template", "", "the template (see --list)")
	fl.StringVar(&trigger, "trigger", "", "the trigger type: Manual, WhatsApp, Instagram, Viber or Messenger (default: the template's first)")
	fl.StringVar(&dir, "dir", ".", "the directory to write the files to")
	fl.BoolVar(&force, "force", false, "overwrite existing files")
	fl.BoolVar(&list, "list", false, "list the templates and their triggers")
	return cmd
}
