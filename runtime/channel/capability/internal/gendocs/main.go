// Command gendocs writes capability.Document() to the file named by its
// argument (docs/channels.md); `go generate ./runtime/channel/capability`
// runs it.
package main

import (
	"fmt"
	"os"

	"github.com/chatflow-dev/chatflow/runtime/channel/capability"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gendocs PATH")
		os.Exit(2)
	}
	if err := os.WriteFile(os.Args[1], []byte(capability.Document()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
