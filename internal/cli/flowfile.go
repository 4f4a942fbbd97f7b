package cli

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
)

// loadFlow reads the ChatFlow named name (or the only one) from a manifest
// or portable flow file ("-" for stdin) and requires it to lint clean, so
// that graph, test and export refuse what lint refuses.
func loadFlow(cmd *cobra.Command, path, name string) (*lint.Flow, *lint.Result, error) {
	if path == "" {
		return nil, nil, errors.New("name the flow file with -f (a manifest or an exported flow; - for stdin)")
	}
	srcs, err := manifest.Read([]string{path}, cmd.InOrStdin())
	if err != nil {
		return nil, nil, err
	}
	r := lint.Lint(srcs)
	f, err := r.Valid(name)
	return f, r, err
}
