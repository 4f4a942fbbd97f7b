// Command chatflow-executor is the executor alone: the process the
// operator's pods run for each published flow (the image's
// /chatflow-executor), with the same command line as `chatflow executor`
// (internal/executorcmd).
//
// It is a binary of its own so that it links none of the manager, the
// controllers, controller-runtime, client-go or the API server validation
// `chatflow lint` uses: the init functions of those packages fault in
// their code pages, which made an idle executor run from the chatflow
// binary hold more than twice the memory of this one. deps_test.go fails
// when one of them creeps back in.
package main

import (
	"os"

	"github.com/chatflow-dev/chatflow/internal/executorcmd"
)

func main() {
	cmd := executorcmd.New()
	cmd.Use = "chatflow-executor"
	// As under chatflow's root: a failure prints its error, not the usage.
	cmd.SilenceUsage = true
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}
