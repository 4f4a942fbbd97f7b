package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// newDevCommand on Windows explains why there is no dev environment: its
// control plane (envtest's kube-apiserver and etcd processes) does not run
// there.
func newDevCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "dev",
		Short: "Run Chatflow locally (Linux and macOS; on Windows use WSL)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("chatflow dev needs Linux or macOS (its local control plane does not run on Windows): run it in WSL")
		},
	}
}
