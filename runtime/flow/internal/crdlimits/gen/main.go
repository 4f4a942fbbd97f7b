// Command gen writes runtime/flow's limits from the ChatFlow CRD (go
// generate in runtime/flow): gen CRD.yaml OUT.go.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/chatflow-dev/chatflow/runtime/flow/internal/crdlimits"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gen CRD.yaml OUT.go")
		os.Exit(2)
	}
	crd, err := os.ReadFile(os.Args[1])
	if err == nil {
		var out []byte
		if out, err = crdlimits.Generate(crd, "flow", "config/crd/bases/"+filepath.Base(os.Args[1])); err == nil {
			err = os.WriteFile(os.Args[2], out, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
