package sandbox_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/internal/sandbox"
)

const (
	botID      = "pa-bot"
	viberToken = "44dafb7e0f40021e-61a47a1e6778d187-f2c5a676a07050b3"
)

func viberAuth() map[string]string { return map[string]string{"X-Viber-Auth-Token": viberToken} }

func TestViberSendFixtures(t *testing.T) {
	sb, srv := start(t, sandbox.Options{Tokens: map[string]string{botID: viberToken}})
	var want map[string]any
	_ = json.Unmarshal(fixture(t, "viber_send_message_response.json"), &want)
	for _, f := range []string{"viber_send_message_text_request.json", "viber_send_message_picture_request.json",
		"viber_send_message_keyboard_request.json"} {
		r := do(t, "POST", srv.URL+"/pa/send_message", fixture(t, f), viberAuth())
		if r.status != 200 || !reflect.DeepEqual(shape(r.body), shape(want)) || r.body["status"] != float64(0) {
			t.Fatalf("%s: %d %s", f, r.status, r.raw)
		}
		// The token exceeds 2^53: read it as an integer.
		dec := json.NewDecoder(bytes.NewReader(r.raw))
		dec.UseNumber()
		var body struct {
			MessageToken json.Number `json:"message_token"`
		}
		if err := dec.Decode(&body); err != nil {
			t.Fatal(err)
		}
		if n, err := body.MessageToken.Int64(); err != nil || n <= 1<<53 {
			t.Fatalf("message_token %s", body.MessageToken)
		}
	}
	recs := sb.Messages(sandbox.Query{Channel: "viber"})
	if len(recs) != 3 || recs[0].Account != botID || recs[0].To != "jc9HsWTZ2Yf2NkRZ8KcNug==" {
		t.Fatalf("records %+v", recs)
	}
	// courier's reply keyboard has no sender.name, which send_message requires.
	r := do(t, "POST", srv.URL+"/pa/send_message", fixture(t, "viber_send_message_reply_keyboard_request_courier.json"), viberAuth())
	if r.status != 200 || r.body["status"] != float64(4) || !strings.Contains(string(r.raw), "sender.name") {
		t.Fatalf("courier keyboard: %d %s", r.status, r.raw)
	}
}

func TestViberErrors(t *testing.T) {
	sb, srv := start(t, sandbox.Options{Tokens: map[string]string{botID: viberToken}})
	text := fixture(t, "viber_send_message_text_request.json")
	send := func(body []byte, h map[string]string) reply {
		return do(t, "POST", srv.URL+"/pa/send_message", body, h)
	}
	if r := send(text, nil); r.body["status"] != float64(2) || r.body["status_message"] != "missing_auth_token" {
		t.Errorf("no token: %s", r.raw)
	}
	for body, status := range map[string]float64{
		`{`: 3,
		`{"type":"text","text":"x","sender":{"name":"b"}}`:                                                                                          4,
		`{"receiver":"u","type":"text","text":"x"}`:                                                                                                 4,
		`{"receiver":"u","type":"fax","sender":{"name":"b"}}`:                                                                                       3,
		`{"receiver":"u","type":"picture","sender":{"name":"b"}}`:                                                                                   4,
		`{"receiver":"u","type":"text","text":"x","sender":{"name":"b"},"min_api_version":0.5}`:                                                     3,
		`{"receiver":"u","type":"text","text":"x","sender":{"name":"b"},"keyboard":{"Type":"keyboard","Buttons":[{"ActionBody":"a","Columns":7}]}}`: 3,
	} {
		if r := send([]byte(body), viberAuth()); r.status != 200 || r.body["status"] != status {
			t.Errorf("%s: %d %s, want status %v", body, r.status, r.raw, status)
		}
	}
	for _, tt := range []struct {
		code   int
		msg    string
		status int
	}{{12, "Too many requests", 200}, {6, "receiverNotSubscribed", 200}, {502, "", 502}} {
		if _, err := sb.AddFault(sandbox.Fault{Channel: "viber", Code: tt.code}); err != nil {
			t.Fatal(err)
		}
		r := send(text, viberAuth())
		if r.status != tt.status || (tt.msg != "" && (r.body["status"] != float64(tt.code) || r.body["status_message"] != tt.msg)) {
			t.Errorf("fault %d: %d %s", tt.code, r.status, r.raw)
		}
	}
	if len(sb.Messages(sandbox.Query{})) != 0 {
		t.Error("a refused send was recorded")
	}
}

func TestViberSetWebhook(t *testing.T) {
	var got []byte
	var sig string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		sig = r.Header.Get("X-Viber-Content-Signature")
	}))
	defer hook.Close()
	sb, srv := start(t, sandbox.Options{Tokens: map[string]string{botID: viberToken}, ViberCallback: true})
	req := strings.Replace(string(fixture(t, "viber_set_webhook_request.json")), "https://my.host.com", hook.URL+"/webhooks/viber/"+botID, 1)
	r := do(t, "POST", srv.URL+"/pa/set_webhook", []byte(req), viberAuth())
	var want map[string]any
	_ = json.Unmarshal(fixture(t, "viber_set_webhook_response.json"), &want)
	if !reflect.DeepEqual(r.body, want) {
		t.Fatalf("set_webhook: %s", r.raw)
	}
	if !strings.Contains(string(got), `"event":"webhook"`) || len(sig) != 64 {
		t.Fatalf("callback %s signed %q", got, sig)
	}
	hooks := sb.Webhooks()
	if len(hooks) != 1 || !hooks[0].Checked || hooks[0].Account != botID || len(hooks[0].EventTypes) != 6 {
		t.Fatalf("webhooks %+v", hooks)
	}
	// An unreachable URL fails the check with status 1.
	r = do(t, "POST", srv.URL+"/pa/set_webhook", []byte(`{"url":"http://127.0.0.1:1/x"}`), viberAuth())
	if r.body["status"] != float64(1) {
		t.Fatalf("unreachable: %s", r.raw)
	}
	if r := do(t, "GET", srv.URL+"/sandbox/webhooks", nil, nil); r.status != 200 || len(r.body["webhooks"].([]any)) != 1 {
		t.Fatalf("GET /sandbox/webhooks: %s", r.raw)
	}
}
