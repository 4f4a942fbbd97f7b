package studio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
)

// BenchmarkValidate500 is the backend's part of a property edit on a
// 500-node flow: "request" is the whole POST /api/validate the front end
// sends after an edit (a different text each time), "render" the file as
// it would be saved, "lint" `chatflow lint` of that file once more.
func BenchmarkValidate500(b *testing.B) {
	src := []byte(bigFlow(500))
	obj := flowObject(&testing.T{}, src, "big")
	text := obj["spec"].(map[string]any)["nodes"].([]any)[3].(map[string]any)["sendMessage"].(map[string]any)
	text["text"] = "changed"
	js := mustJSON(&testing.T{}, obj)
	b.Run("request", func(b *testing.B) {
		dir := b.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "big.yaml"), src, 0o644); err != nil {
			b.Fatal(err)
		}
		s, err := New(Options{Paths: []string{dir}, Cluster: &Cluster{}})
		if err != nil {
			b.Fatal(err)
		}
		ln, err := s.Listen(0)
		if err != nil {
			b.Fatal(err)
		}
		ln.Close()
		h := s.Handler()
		text["text"] = "EDIT"
		body, _ := json.Marshal(map[string]any{"path": "big.yaml", "name": "big", "object": obj})
		i := 0
		validate := func() {
			i++
			body := bytes.Replace(body, []byte("EDIT"), fmt.Appendf(nil, "edit %d {{ contact.name }}", i), 1)
			req := httptest.NewRequest(http.MethodPost, "/api/validate", bytes.NewReader(body))
			req.Host = ln.Addr().String()
			req.Header.Set(TokenHeader, s.Token())
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"problems":[]`)) {
				b.Fatalf("%d %s", rec.Code, rec.Body.String())
			}
		}
		validate() // what the studio validated when the flow was opened
		for b.Loop() {
			validate()
		}
	})
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
