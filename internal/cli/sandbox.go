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
		listen          string
		tlsListen       string
		tlsCert, tlsKey string
		failureRate     float64
		seed            uint64
	)
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "A local stand-in for the channels' send APIs that records what it receives",
		Long: "sandbox implements the WhatsApp Cloud API send contract (token check, message ids,\n" +
			"the documented error bodies on demand) on a local port. Point a ChannelBinding's\n" +
			"spec.apiBaseURL at it; read what was sent with GET /sandbox/messages?to=ID.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (tlsListen != "") != (tlsCert != "" && tlsKey != "") {
				return errors.New("--tls-listen needs --tls-cert and --tls-key, and they need --tls-listen")
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			// One sandbox, so a reply sent over HTTPS is read over HTTP.
			handler := sandbox.New(sandbox.Options{FailureRate: failureRate, Seed: seed})
			srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
			servers := []*http.Server{srv}
			fmt.Fprintf(cmd.OutOrStdout(), "sandbox listening on http://%s\n", ln.Addr())
			errs := make(chan error, 2)
			go func() { errs <- srv.Serve(ln) }()
			if tlsListen != "" {
				tln, err := net.Listen("tcp", tlsListen)
				if err != nil {
					_ = srv.Close()
					return err
				}
				tsrv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
				servers = append(servers, tsrv)
				fmt.Fprintf(cmd.OutOrStdout(), "sandbox listening on https://%s\n", tln.Addr())
				go func() { errs <- tsrv.ServeTLS(tln, tlsCert, tlsKey) }()
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			var serveErr error
			select {
			case <-ctx.Done():
			case serveErr = <-errs:
			}
			shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for _, s := range servers {
				_ = s.Shutdown(shut)
			}
			if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
				return serveErr
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:9090", "address to listen on")
	f.StringVar(&tlsListen, "tls-listen", "", "also serve HTTPS on this address (ChannelBinding.spec.apiBaseURL must be https beyond localhost)")
	f.StringVar(&tlsCert, "tls-cert", "", "certificate (PEM) of --tls-listen")
	f.StringVar(&tlsKey, "tls-key", "", "private key (PEM) of --tls-listen")
	f.Float64Var(&failureRate, "failure-rate", 0, "share (0..1) of valid sends that fail with a rate-limit or server error")
	f.Uint64Var(&seed, "seed", 1, "seed of the random failures")
	return cmd
}
