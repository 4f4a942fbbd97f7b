package meta_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// FuzzParseGraphError: whatever a send API (or a proxy in front of it)
// answers, ParseGraphError does not panic; an error it accepts has
// something to say, and classifies to a known class.
func FuzzParseGraphError(f *testing.F) {
	for _, s := range []string{
		`{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,"error_data":{"messaging_product":"whatsapp","details":"Message failed to send because there were too many messages sent from this phone number in a short period of time"},"fbtrace_id":"Az8or2yhqkZfEZ-_4Qn_Bam"}}`,
		`{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190,"error_subcode":463,"is_transient":false,"error_data":"Session has expired"}}`,
		`{"error":{"code":0}}`,
		`{"error":null}`,
		`{"error":{"error_data":null,"code":"1"}}`,
		`<html><body>502 Bad Gateway</body></html>`,
		``,
	} {
		f.Add([]byte(s))
	}
	if files, _ := filepath.Glob(filepath.Join("testdata", "*.json")); len(files) > 0 {
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, ok := meta.ParseGraphError(body)
		if !ok {
			if e != nil {
				t.Fatalf("not a Graph error, but %+v", e)
			}
			return
		}
		if e.Error() == "" {
			t.Fatalf("an error with nothing to say: %+v", e)
		}
		for _, status := range []int{200, 400, 429, 500} {
			switch c := meta.ClassifyGraphError(e, status, meta.ClassifyGraphCode); c {
			case message.Retryable, message.Permanent:
			default:
				t.Fatalf("class %q for %+v, status %d", c, e, status)
			}
		}
	})
}
