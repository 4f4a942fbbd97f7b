package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatflow-dev/chatflow/internal/sandbox"
)

func newSandboxCommand() *cobra.Command {
	var (
		listen      string
		failureRate float64
		seed        uint64
	)
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "A local stand-in for the channels' send APIs that records what it receives",
		Long: "sandbox implements the WhatsApp Cloud API send contract (token check, message ids,\n" +
			"the documented error bodies on demand) on a local port. Point a ChannelBinding's\n" +
			"spec.apiBaseURL at it; read what was sent with GET /sandbox/messages?to=ID.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			srv := &http.Server{
				Handler:           sandbox.New(sandbox.Options{FailureRate: failureRate, Seed: seed}),
				ReadHeaderTimeout: 10 * time.Second,
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sandbox listening on http://%s\n", ln.Addr())
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			go func() {
				<-ctx.Done()
				shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(shut)
			}()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:9090", "address to listen on")
	f.Float64Var(&failureRate, "failure-rate", 0, "share (0..1) of valid sends that fail with a rate-limit or server error")
	f.Uint64Var(&seed, "seed", 1, "seed of the random failures")
	return cmd
}
