package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
)

func newLintCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "lint PATH...",
		Short: "Validate ChatFlow and ChannelBinding manifests offline, with the rules admission uses",
		Long: `lint validates the ChatFlows and ChannelBindings in files, directories (walked
for *.yaml, *.yml and *.json) and stdin ("-", e.g. kustomize build output)
without a cluster, with the rules the API server and the admission webhook
apply: the CRD schema and its CEL rules, object metadata, the flow graph rules
(every reference resolves, every node reachable, an End reachable from every
node, no loop that never waits, expressions compile, features match the
channel) and the binding rules that the input alone can judge (a binding's
channel equals its flow's trigger, one binding per flow, one flow per
account). Objects of other kinds are ignored; List objects are read item by
item. Credentials Secrets are not checked.

Each problem is printed as file:line: field: message. The exit status is 1
when there is any problem.`,
		Example: `  chatflow lint config/samples
  kustomize build overlays/prod | chatflow lint -
  chatflow lint -o json flows/ > lint.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output must be text or json, not %q", output)
			}
			srcs, err := manifest.Read(args, cmd.InOrStdin())
			if err != nil {
				return err
			}
			r := lint.Lint(srcs)
			if output == "json" {
				err = lint.WriteJSON(cmd.OutOrStdout(), r)
			} else {
				err = lint.WriteText(cmd.OutOrStdout(), r)
			}
			if err != nil {
				return err
			}
			if len(r.Problems) > 0 {
				// The problems are printed; the error is the verdict.
				return errors.New(r.Summary().String())
			}
			if output == "text" {
				fmt.Fprintln(cmd.ErrOrStderr(), r.Summary())
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text (file:line: field: message) or json")
	return cmd
}
