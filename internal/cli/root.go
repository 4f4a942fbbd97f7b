// Package cli holds the cobra commands of the chatflow binary. Each command
// is a thin adapter: it parses flags and hands over to the package that owns
// the work (the manager's controllers, the executor, the flow tools).
package cli

import (
	"github.com/spf13/cobra"

	"github.com/chatflow-dev/chatflow/internal/executorcmd"
)

// NewRoot returns the chatflow root command with every subcommand.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "chatflow",
		Short: "Chat flows as Kubernetes resources",
		Long: "chatflow runs the Chatflow operator (manager), the executor that serves a\n" +
			"published flow's channel webhooks, and tools for people who write flows.",
		SilenceUsage: true,
	}
	root.AddCommand(newManagerCommand(), executorcmd.New(), newGatewayCommand(), newDevCommand(), newChatCommand(), newSandboxCommand(), newLintCommand(), newGraphCommand(), newTestCommand(), newExportCommand(), newImportCommand(), newNewCommand(), newGenerateCommand(), newStudioCommand(),
		newRedisAuthConfigCommand(), newDeadLettersCommand(), newContactsCommand(), newSessionsCommand(), newTraceCommand(), newCampaignCommand())
	return root
}
