// Package docs keeps the documentation honest: every ChatFlow example
// in docs/ passes chatflow lint, every relative link resolves, every
// condition reason the operator can set is explained in
// docs/troubleshooting.md, README.md's Layout section names every package,
// and the import rules package doc comments state hold. Examples finds the
// YAML examples for other suites (test/schema puts them through a real API
// server).
//
// It is test support: nothing outside test/ imports it.
package docs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// MarkdownFiles lists the user documentation under root: docs/*.md, the
// README and the chart's README.
func MarkdownFiles(root string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no docs under %s", root)
	}
	return append(files, filepath.Join(root, "README.md"), filepath.Join(root, "charts", "chatflow", "README.md")), nil
}

// Example is one ```yaml block of the documentation that declares a
// Chatflow object.
type Example struct {
	// File is the markdown file, relative to the repository root.
	File string
	// N counts the YAML blocks of the file, from 1.
	N    int
	YAML []byte
}

func (e Example) String() string { return fmt.Sprintf("%s, YAML example %d", e.File, e.N) }

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// Examples returns every YAML example of the documentation that declares
// a ChatFlow or a ChannelBinding, in file order.
func Examples(root string) ([]Example, error) {
	files, err := MarkdownFiles(root)
	if err != nil {
		return nil, err
	}
	var out []Example
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		rel, _ := filepath.Rel(root, file)
		for i, m := range yamlBlock.FindAllSubmatch(data, -1) {
			if bytes.Contains(m[1], []byte("apiVersion: chatflow.dev/")) {
				out = append(out, Example{File: rel, N: i + 1, YAML: m[1]})
			}
		}
	}
	return out, nil
}
