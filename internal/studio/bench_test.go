package studio

import (
	"testing"

	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
)

// BenchmarkValidate500 is the backend's part of a property edit on a
// 500-node flow: the file as it would be saved, then lint.
func BenchmarkValidate500(b *testing.B) {
	src := []byte(bigFlow(500))
	obj := flowObject(&testing.T{}, src, "big")
	obj["spec"].(map[string]any)["nodes"].([]any)[3].(map[string]any)["sendMessage"].(map[string]any)["text"] = "changed"
	js := mustJSON(&testing.T{}, obj)
	b.Run("render", func(b *testing.B) {
		for b.Loop() {
			if _, err := WriteFlow(src, "big", js); err != nil {
				b.Fatal(err)
			}
		}
	})
	out, _ := WriteFlow(src, "big", js)
	b.Run("lint", func(b *testing.B) {
		for b.Loop() {
			lint.Lint([]manifest.Source{{Name: "big.yaml", Data: out}})
		}
	})
}
