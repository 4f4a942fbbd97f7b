package transcript_test

import (
	"os"
	"testing"

	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/internal/transcript"
)

// FuzzParseAndRun: any test file either fails to parse with an error or
// runs against a real flow to a result; nothing panics.
func FuzzParseAndRun(f *testing.F) {
	for _, p := range []string{"../../config/samples/order-status.test.yaml", "testdata/failing.test.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("tests:\n- name: a\n  transcript:\n  - run: {x: 1}\n  - tap: {payload: p}\n  - inbound: {media: {kind: image}}\n  - resume: agent\n  - vars: {a: [1, {b: 2.5}]}\n  - ended: false\n"))
	f.Add([]byte("http: {lookup: [{status: 500}, {error: x}]}\nsendErrors: {ask: {code: 1}}\ntests:\n- name: a\n  transcript: [{user: hi}, {bot: {matches: '('}}]\n"))
	src, err := manifest.ReadFile("../../config/samples/order-status.yaml")
	if err != nil {
		f.Fatal(err)
	}
	_, prog, ch, err := transcript.Load(src, manifest.Source{Name: "seed", Data: []byte("tests:\n- name: a\n  transcript: [{user: hi}]\n")})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tf, err := transcript.Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		for _, r := range transcript.Run(tf, prog, ch, nil) {
			_ = r.Passed()
		}
	})
}
