package sandbox_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/internal/sandbox"
)

const (
	pageID  = "1234567890"
	igID    = "17841472110558136"
	fbToken = "page-token"
	igToken = "ig-token"
)

func startMeta(t *testing.T) (*sandbox.Server, string) {
	sb, srv := start(t, sandbox.Options{Tokens: map[string]string{phoneID: token, pageID: fbToken, igID: igToken}, Instagram: []string{igID}})
	return sb, srv.URL
}

func TestMessengerSendFixtures(t *testing.T) {
	sb, url := startMeta(t)
	var want map[string]any
	_ = json.Unmarshal(fixture(t, "messenger_send_response.json"), &want)
	for _, f := range []string{"messenger_send_text_request_RESPONSE.json", "messenger_send_text_request_HUMAN_AGENT_tag.json",
		"messenger_send_quick_replies_request.json", "messenger_send_quick_replies_request_courier.json",
		"messenger_send_image_attachment_request.json"} {
		for _, path := range []string{"/v21.0/" + pageID + "/messages?access_token=" + fbToken, "/v21.0/me/messages?access_token=" + fbToken, "/me/messages"} {
			header := map[string]string{}
			if !strings.Contains(path, "access_token") {
				header["Authorization"] = "Bearer " + fbToken
			}
			r := do(t, "POST", url+path, fixture(t, f), header)
			if r.status != 200 || !reflect.DeepEqual(shape(r.body), shape(want)) {
				t.Fatalf("%s %s: %d %s", f, path, r.status, r.raw)
			}
		}
	}
	recs := sb.Messages(sandbox.Query{Channel: "messenger"})
	if len(recs) != 15 || recs[0].Account != pageID || recs[0].To != "12345" || !strings.HasPrefix(recs[0].MessageID, "m_") {
		t.Fatalf("records %+v", recs)
	}
	// Instagram: /me resolves the account by its token.
	r := do(t, "POST", url+"/v21.0/me/messages?access_token="+igToken, fixture(t, "instagram_send_quick_replies_request.json"), nil)
	if r.status != 200 {
		t.Fatalf("instagram: %d %s", r.status, r.raw)
	}
	if recs := sb.Messages(sandbox.Query{Channel: "instagram"}); len(recs) != 1 || recs[0].Account != igID || recs[0].To != "<IGSID>" {
		t.Fatalf("instagram records %+v", recs)
	}
}

func TestMessengerInvalid(t *testing.T) {
	_, url := startMeta(t)
	post := func(path, body string) reply {
		return do(t, "POST", url+path, []byte(body), nil)
	}
	fb := "/v21.0/" + pageID + "/messages?access_token=" + fbToken
	ig := "/v21.0/me/messages?access_token=" + igToken
	long := strings.Repeat("x", 2000)
	tests := []struct {
		path, body string
		status     int
		code       int
		want       string
	}{
		{"/v21.0/me/messages", `{"recipient":{"id":"1"},"messaging_type":"RESPONSE","message":{"text":"x"}}`, 400, 2500, "access token"},
		{"/v21.0/" + pageID + "/messages?access_token=wrong", `{"recipient":{"id":"1"},"messaging_type":"RESPONSE","message":{"text":"x"}}`, 401, 190, "Invalid OAuth"},
		{fb, `{"recipient":{},"messaging_type":"RESPONSE","message":{"text":"x"}}`, 400, 100, "recipient"},
		{fb, `{"recipient":{"id":"1"},"message":{"text":"x"}}`, 400, 100, "messaging_type"},
		{fb, `{"recipient":{"id":"1"},"messaging_type":"MESSAGE_TAG","message":{"text":"x"}}`, 400, 100, "tag is required"},
		{fb, `{"recipient":{"id":"1"},"messaging_type":"MESSAGE_TAG","tag":"ACCOUNT_UPDATE","message":{"text":"x"}}`, 400, 100, "no longer supported"},
		{ig, `{"recipient":{"id":"1"},"messaging_type":"MESSAGE_TAG","tag":"CUSTOMER_FEEDBACK","message":{"text":"x"}}`, 400, 100, "not available for Instagram"},
		{fb, `{"recipient":{"id":"1"},"messaging_type":"RESPONSE","message":{"text":"` + long + `"}}`, 400, 100, "less than 2000"},
		{ig, `{"recipient":{"id":"1"},"messaging_type":"RESPONSE","message":{"text":"` + long[:1000] + `"}}`, 400, 100, "less than 1000"},
		{fb, `{"recipient":{"id":"1"},"messaging_type":"RESPONSE","message":{}}`, 400, 100, "exactly one"},
		{fb, `{"recipient":{"id":"1"},"messaging_type":"RESPONSE","message":{"attachment":{"type":"image","payload":{}}}}`, 400, 100, "url"},
		{fb, `{"recipient":{"id":"1"},"messaging_type":"RESPONSE","message":{"attachment":{"type":"template","payload":{"template_type":"button","text":"t","buttons":[{"type":"postback","title":"a","payload":"a"},{"type":"postback","title":"a","payload":"a"},{"type":"postback","title":"a","payload":"a"},{"type":"postback","title":"a","payload":"a"}]}}}}`, 400, 100, "1 to 3 buttons"},
		{fb, `{"recipient":{"id":"1"},"messaging_type":"RESPONSE","message":{"text":"x","quick_replies":[{"content_type":"text","title":"` + long[:21] + `","payload":"p"}]}}`, 400, 100, "at most 20"},
	}
	for _, tt := range tests {
		r := post(tt.path, tt.body)
		if r.status != tt.status || r.graphCode() != tt.code || !strings.Contains(string(r.raw), tt.want) {
			t.Errorf("%s %.80s: %d %s, want %d code %d %q", tt.path, tt.body, r.status, r.raw, tt.status, tt.code, tt.want)
		}
	}
}

func TestMessengerFaults(t *testing.T) {
	sb, url := startMeta(t)
	body := fixture(t, "messenger_send_text_request_RESPONSE.json")
	path := url + "/v21.0/" + pageID + "/messages?access_token=" + fbToken
	tests := []struct {
		code, status, graph, subcode int
		retryAfter                   bool
	}{
		{613, 429, 613, 0, true},
		{10, 400, 10, 2018278, false},
		{551, 400, 551, 0, false},
		{100, 400, 100, 2018001, false},
		{1200, 500, 1200, 0, false},
		{503, 503, 1, 0, false},
	}
	for _, tt := range tests {
		if _, err := sb.AddFault(sandbox.Fault{Channel: "messenger", To: "12345", Code: tt.code}); err != nil {
			t.Fatal(err)
		}
		r := do(t, "POST", path, body, nil)
		e, _ := r.body["error"].(map[string]any)
		sub, _ := e["error_subcode"].(float64)
		if r.status != tt.status || r.graphCode() != tt.graph || int(sub) != tt.subcode || (r.header.Get("Retry-After") != "") != tt.retryAfter {
			t.Errorf("fault %d: %d %v %s", tt.code, r.status, r.header, r.raw)
		}
	}
	if _, err := sb.AddFault(sandbox.Fault{Channel: "instagram", Code: 551}); err != nil {
		t.Fatal(err)
	}
	if r := do(t, "POST", path, body, nil); r.status != 200 {
		t.Errorf("an instagram fault hit messenger: %d", r.status)
	}
}
