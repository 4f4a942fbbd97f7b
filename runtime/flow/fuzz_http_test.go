package flow

import (
	"encoding/json"
	"testing"
	"time"
)

// flowSaveResponse saves an API's answer and uses it in a condition, an
// assignment and a message.
const flowSaveResponse = `
trigger: {type: WhatsApp}
nodes:
- {id: start, type: Start, next: call}
- {id: call, type: HTTPRequest, httpRequest: {url: "https://api.example.com/orders/{{ contact.id }}", saveAs: res}, next: route, onError: route}
- id: route
  type: Condition
  condition: {branches: [{when: 'vars.?res.body.status.orValue("") == "shipped"', next: say}], default: keep}
- {id: keep, type: SetVariables, setVariables: {variables: [{name: eta, expr: 'vars.?res.body.eta.orValue(vars.?res.status.orValue(0))'}]}, next: say}
- {id: say, type: SendMessage, sendMessage: {text: "{{ vars.res.status }} {{ vars.res.body }} {{ vars.res.headers }}"}, next: end}
- {id: end, type: End}
`

// FuzzHTTPResponse: whatever an API answers (status, content type, headers,
// body), the response decodes into the saveAs variable, the flow goes on
// without panicking, and the session that holds it round-trips through
// JSON as the store keeps it.
func FuzzHTTPResponse(f *testing.F) {
	f.Add(200, "application/json", "X-Request-Id", "r-1", []byte(`{"status":"shipped","eta":"2d","items":[1,2.5,"x",null,{"a":true}]}`))
	f.Add(200, "application/problem+json; charset=utf-8", "", "", []byte(`{"status": 1e400}`))
	f.Add(500, "application/json", "Content-Type", "text/html", []byte(`[1, 2, 18446744073709551616, -9223372036854775809, 0.1]`))
	f.Add(200, "application/json", "", "", []byte(`{"a":{"a":{"a":{"a":{"a":{"a":[[[[[[[[[]]]]]]]]]}}}}}}`))
	f.Add(204, "text/plain", "Set-Cookie", "a=b", []byte("not json \xff\xfe"))
	f.Add(200, "application/json", "", "", []byte(`{"status":"shipped"} trailing`))
	f.Add(-1, ";;;", "\r\n", "\x00", []byte(nil))
	p := mustCompile(f, flowSaveResponse)
	f.Fuzz(func(t *testing.T, status int, contentType, header, value string, body []byte) {
		s, fx := Step(p, nil, run("r"), t0)
		var id string
		for _, e := range fx {
			if e.Kind == EffectHTTPCall {
				id = e.HTTP.ID
			}
		}
		if s == nil || id == "" {
			t.Fatalf("no HTTP call: %v", fx)
		}
		res := HTTPResult{EffectID: id, Status: status, ContentType: contentType, Body: body}
		if header != "" {
			res.Headers = map[string]string{header: value}
		}
		s, fx = Step(p, s, res.Event(), t0.Add(time.Second))
		for _, e := range fx {
			_ = e.String()
		}
		if s == nil {
			return
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("the session does not encode: %v", err)
		}
		var back Session
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("the session does not decode: %v\n%s", err, b)
		}
		if b2, _ := json.Marshal(&back); string(b2) != string(b) {
			t.Fatalf("the session does not round-trip:\n%s\n%s", b, b2)
		}
	})
}

// TestResponseValueIsStorable: what the fuzzer found. A number beyond
// float64 stays text (an infinity cannot be stored), and text that is not
// UTF-8 is made so (the stored session equals the one in memory).
func TestResponseValueIsStorable(t *testing.T) {
	v := responseValue(&HTTPResult{Status: 200, ContentType: "application/json", Body: []byte(`{"big": 1e400, "small": -1e400, "n": 1e300, "i": 7}`)})
	body := v["body"].(map[string]any)
	if body["big"] != "1e400" || body["small"] != "-1e400" || body["n"] != 1e300 || body["i"] != int64(7) {
		t.Errorf("body %#v", body)
	}
	v = responseValue(&HTTPResult{Status: 200, Headers: map[string]string{"X-\xff": "a\xfeb"}, Body: []byte("caf\xe9")})
	if v["body"] != "caf\uFFFD" || v["headers"].(map[string]any)["x-\uFFFD"] != "a\uFFFDb" {
		t.Errorf("%#v", v)
	}
	if _, err := json.Marshal(Values(v)); err != nil {
		t.Errorf("not storable: %v", err)
	}
}
