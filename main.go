// Command chatflow is the one binary of Chatflow: the operator's manager, the
// flow executor, and the tools for people who write flows. See
// internal/cli for its subcommands.
package main

import (
	"os"

	"github.com/chatflow-dev/chatflow/internal/cli"
)

func main() {
	if err := cli.NewRoot().Execute(); err != nil {
		os.Exit(1)
	}
}
