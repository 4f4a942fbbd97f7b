//go:build !windows

package cli

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/chatflow-dev/chatflow/internal/dev"
	"github.com/chatflow-dev/chatflow/internal/dev/statefile"
)

func newDevCommand() *cobra.Command {
	o := dev.Options{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run Chatflow locally: control plane, operator, executors and channel sandbox",
		Long: "dev starts a throwaway local control plane (the kube-apiserver and etcd the tests use),\n" +
			"installs the CRDs, webhooks and admission policy, runs the manager, runs executor\n" +
			"Deployments as local processes (there is no kubelet), the gateway every channel webhook\n" +
			"goes through, and the channel sandbox. It writes\n" +
			"DIR/kubeconfig and prints how to apply the dev samples and chat with a flow.\n" +
			"Ctrl-C stops everything; a second Ctrl-C kills what is left at once.\n\n" +
			"Run it from a clone of the repository (it reads config/), or use `make dev`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			force := make(chan struct{})
			signals := make(chan os.Signal, 2)
			signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(signals)
			go func() {
				<-signals
				cancel()
				<-signals
				close(force)
			}()
			o.Force = force
			o.Out = cmd.OutOrStdout()
			o.ChatCommand = chatCommandHint()
			return dev.Run(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", statefile.DefaultDir, "directory of the environment's state: kubeconfig, state.json, logs, etcd data, executor files")
	f.StringVar(&o.SandboxAddress, "sandbox-listen", dev.DefaultSandboxAddress,
		"address of the channel sandbox; config/dev-samples points the bindings' apiBaseURL at the default")
	f.StringVar(&o.GatewayAddress, "gateway-listen", dev.DefaultGatewayAddress,
		"address of the gateway, where the channels' webhooks and the run API go")
	f.StringVar(&o.ConfigDir, "config", "", "the repository's config/ directory (default: found from the working directory)")
	f.StringVar(&o.Assets, "assets", "", "directory of kube-apiserver and etcd (default: $KUBEBUILDER_ASSETS, else built by hack/envtest-assets.sh)")
	return cmd
}

// chatCommandHint is how the running binary is invoked for chat: a path
// relative to the working directory (bin/chatflow) when it is inside it.
func chatCommandHint() string {
	exe, err := os.Executable()
	if err != nil {
		return "chatflow chat"
	}
	wd, _ := os.Getwd()
	if rel, err := filepath.Rel(wd, exe); err == nil && !strings.HasPrefix(rel, "..") && !strings.Contains(rel, "go-build") {
		if !strings.Contains(rel, string(filepath.Separator)) {
			rel = "." + string(filepath.Separator) + rel
		}
		return rel + " chat"
	}
	return "chatflow chat"
}
