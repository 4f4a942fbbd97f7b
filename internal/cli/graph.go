package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/chatflow-dev/chatflow/internal/graph"
)

func newGraphCommand() *cobra.Command {
	var file, name, format string
	var markdown bool
	cmd := &cobra.Command{
		Use:   "graph -f FILE",
		Short: "Draw a flow as a Mermaid or Graphviz DOT diagram",
		Long: `graph prints a ChatFlow as a diagram to paste into a README or a pull request:
Mermaid (rendered by GitHub and GitLab in a mermaid code block; --markdown adds
the fence) or Graphviz DOT (dot -Tsvg). Every node type has its own shape and
colour; branches are labelled with their name (or condition) and default,
WaitForReply and Handoff edges with reply/resumed and timeout, error and timeout
edges are dashed, jumps dotted.

FILE is a manifest (the ChatFlow named by --name, or the only one) or an
exported flow; the flow must lint clean.`,
		Example: `  chatflow graph -f config/samples/order-status.yaml --markdown >> README.md
  chatflow graph -f flow.yaml --format dot | dot -Tsvg > flow.svg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "mermaid" && format != "dot" {
				return fmt.Errorf("--format must be mermaid or dot, not %q", format)
			}
			f, _, err := loadFlow(cmd, file, name)
			if err != nil {
				return err
			}
			g := graph.Build(f.Object.Name, &f.Written.Spec)
			out := cmd.OutOrStdout()
			if format == "dot" {
				_, err = io.WriteString(out, g.DOT())
				return err
			}
			if markdown {
				_, err = fmt.Fprintf(out, "```mermaid\n%s```\n", g.Mermaid())
				return err
			}
			_, err = io.WriteString(out, g.Mermaid())
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&file, "file", "f", "", "the flow: a manifest or an exported flow (- for stdin)")
	fl.StringVar(&name, "name", "", "the ChatFlow to draw when the file has several")
	fl.StringVar(&format, "format", "mermaid", "mermaid or dot")
	fl.BoolVar(&markdown, "markdown", false, "wrap Mermaid in a ```mermaid fence for Markdown")
	return cmd
}
