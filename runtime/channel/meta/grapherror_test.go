package meta_test

import (
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

func TestParseGraphErrorFixtures(t *testing.T) {
	tests := []struct {
		file     string
		code     int
		subcode  int
		typ      string
		trace    string
		details  string
		inErrStr string
	}{
		{"error_response_rate_limit.json", 130429, 2494055, "OAuthException", "Az8or2yhqkZfEZ-_4Qn_Bam",
			"Message failed to send because there were too many messages sent from this phone number in a short period of time",
			"(#130429) Rate limit hit: Message failed"},
		{"error_response_pair_rate_limit_mock.json", 131056, 0, "", "", "", "(#131056) (Business Account, Consumer Account) pair rate limit hit"},
		{"messenger_error_response.json", 190, 1234567, "OAuthException", "BLBz/WZt8dN", "", "Invalid OAuth access token."},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			e, ok := meta.ParseGraphError(read(t, tt.file))
			if !ok {
				t.Fatal("not parsed")
			}
			details := ""
			if e.ErrorData != nil {
				details = e.ErrorData.Details
			}
			if e.Code != tt.code || e.ErrorSubcode != tt.subcode || e.Type != tt.typ || e.FBTraceID != tt.trace || details != tt.details {
				t.Fatalf("got %+v (details %q)", e, details)
			}
			if !strings.HasPrefix(e.Error(), tt.inErrStr) {
				t.Fatalf("Error() = %q, want prefix %q", e.Error(), tt.inErrStr)
			}
		})
	}
}

func TestParseGraphErrorOddShapes(t *testing.T) {
	e, ok := meta.ParseGraphError([]byte(`{"error":{"message":"m","code":100,"error_data":"free text"}}`))
	if !ok || e.ErrorData == nil || e.ErrorData.Details != "free text" {
		t.Fatalf("string error_data: %+v %v", e, ok)
	}
	for _, body := range []string{``, `<html>502</html>`, `{}`, `{"error":null}`, `{"error":{}}`, `{"messages":[{"id":"x"}]}`} {
		if _, ok := meta.ParseGraphError([]byte(body)); ok {
			t.Errorf("ParseGraphError(%q) ok", body)
		}
	}
}

func TestClassifyGraphCode(t *testing.T) {
	tests := []struct {
		code int
		want message.ErrorClass
		ok   bool
	}{
		{1, message.Retryable, true}, {2, message.Retryable, true}, {4, message.Retryable, true},
		{17, message.Retryable, true}, {613, message.Retryable, true}, {80007, message.Retryable, true},
		{10, message.Permanent, true}, {100, message.Permanent, true}, {190, message.Permanent, true},
		{230, message.Permanent, true}, {368, message.Permanent, true}, {551, message.Permanent, true},
		{0, "", false}, {131047, "", false},
	}
	for _, tt := range tests {
		got, ok := meta.ClassifyGraphCode(tt.code)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ClassifyGraphCode(%d) = %q, %v; want %q, %v", tt.code, got, ok, tt.want, tt.ok)
		}
	}
}
