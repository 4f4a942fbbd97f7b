package sandbox_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/internal/sandbox"
)

const (
	phoneID = "106540352242922"
	token   = "sandbox-token"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func start(t *testing.T, opts sandbox.Options) (*sandbox.Server, *httptest.Server) {
	t.Helper()
	if opts.Tokens == nil {
		opts.Tokens = map[string]string{phoneID: token}
	}
	sb := sandbox.New(opts)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	return sb, srv
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func do(t *testing.T, method, url string, body []byte, header map[string]string) reply {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func auth() map[string]string { return map[string]string{"Authorization": "Bearer " + token} }

func (r reply) graphCode() int {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(float64)
	return int(c)
}

func send(t *testing.T, srv *httptest.Server, body []byte, header map[string]string) reply {
	t.Helper()
	return do(t, "POST", srv.URL+"/v21.0/"+phoneID+"/messages", body, header)
}

func TestSendSuccessShape(t *testing.T) {
	_, srv := start(t, sandbox.Options{})
	ids := map[string]bool{}
	for _, f := range []string{"send_text_request.json", "send_interactive_buttons_request.json",
		"send_interactive_buttons_image_header_request.json", "send_interactive_list_request.json",
		"send_template_request.json", "send_template_with_buttons_request.json"} {
		r := send(t, srv, fixture(t, f), auth())
		if r.status != 200 {
			t.Fatalf("%s: %d %s", f, r.status, r.raw)
		}
		// Same keys and nesting as Meta's documented response.
		var want map[string]any
		_ = json.Unmarshal(fixture(t, "send_response.json"), &want)
		if !reflect.DeepEqual(shape(r.body), shape(want)) {
			t.Fatalf("%s: response shape %s, want that of send_response.json", f, r.raw)
		}
		id := r.body["messages"].([]any)[0].(map[string]any)["id"].(string)
		if !strings.HasPrefix(id, "wamid.") || ids[id] {
			t.Fatalf("id %q not a fresh wamid", id)
		}
		ids[id] = true
		c := r.body["contacts"].([]any)[0].(map[string]any)
		if c["input"] != "250788123123" || c["wa_id"] != "250788123123" {
			t.Fatalf("contacts %v", c)
		}
	}
	// The unversioned path works too.
	if r := do(t, "POST", srv.URL+"/"+phoneID+"/messages", fixture(t, "send_text_request.json"), auth()); r.status != 200 {
		t.Fatalf("unversioned path: %d %s", r.status, r.raw)
	}
}

// shape replaces leaves by their JSON type.
func shape(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, e := range x {
			m[k] = shape(e)
		}
		return m
	case []any:
		s := []any{}
		for _, e := range x {
			s = append(s, shape(e))
		}
		return s
	default:
		return fmt.Sprintf("%T", v)
	}
}

func TestSendAuth(t *testing.T) {
	_, srv := start(t, sandbox.Options{})
	body := fixture(t, "send_text_request.json")
	tests := []struct {
		name   string
		path   string
		header map[string]string
		want   int
	}{
		{"no token", "/v21.0/" + phoneID + "/messages", nil, 401},
		{"not bearer", "/v21.0/" + phoneID + "/messages", map[string]string{"Authorization": "Basic x"}, 401},
		{"wrong token", "/v21.0/" + phoneID + "/messages", map[string]string{"Authorization": "Bearer nope"}, 401},
		{"right token", "/v21.0/" + phoneID + "/messages", auth(), 200},
		{"unconfigured number takes any token", "/v21.0/999/messages", map[string]string{"Authorization": "Bearer any"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, "POST", srv.URL+tt.path, body, tt.header)
			if r.status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.status, tt.want, r.raw)
			}
			if tt.want == 401 && r.graphCode() != 190 {
				t.Fatalf("code %d, want 190: %s", r.graphCode(), r.raw)
			}
		})
	}
}

func TestSendInvalidBody(t *testing.T) {
	_, srv := start(t, sandbox.Options{})
	tests := map[string]string{
		"not JSON":              `hello`,
		"array":                 `[]`,
		"no messaging_product":  `{"to":"1","type":"text","text":{"body":"x"}}`,
		"wrong product":         `{"messaging_product":"messenger","to":"1","type":"text","text":{"body":"x"}}`,
		"no to":                 `{"messaging_product":"whatsapp","type":"text","text":{"body":"x"}}`,
		"no type":               `{"messaging_product":"whatsapp","to":"1","text":{"body":"x"}}`,
		"unknown type":          `{"messaging_product":"whatsapp","to":"1","type":"fax","fax":{}}`,
		"type without object":   `{"messaging_product":"whatsapp","to":"1","type":"image"}`,
		"empty text":            `{"messaging_product":"whatsapp","to":"1","type":"text","text":{"body":""}}`,
		"media without link":    `{"messaging_product":"whatsapp","to":"1","type":"image","image":{"caption":"c"}}`,
		"four buttons":          `{"messaging_product":"whatsapp","to":"1","type":"interactive","interactive":{"type":"button","body":{"text":"b"},"action":{"buttons":[{},{},{},{}]}}}`,
		"list without sections": `{"messaging_product":"whatsapp","to":"1","type":"interactive","interactive":{"type":"list","body":{"text":"b"},"action":{"button":"M"}}}`,
		"template no language":  `{"messaging_product":"whatsapp","to":"1","type":"template","template":{"name":"t"}}`,
		"bad recipient_type":    `{"messaging_product":"whatsapp","recipient_type":"group","to":"1","type":"text","text":{"body":"x"}}`,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			r := send(t, srv, []byte(body), auth())
			if r.status != 400 || r.graphCode() != 100 {
				t.Fatalf("status %d code %d, want 400/100: %s", r.status, r.graphCode(), r.raw)
			}
			if !strings.Contains(string(r.raw), `"message":"(#100) Invalid parameter"`) {
				t.Fatalf("body %s", r.raw)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	_, srv := start(t, sandbox.Options{})
	body := fixture(t, "send_text_request.json")
	for path, want := range map[string]int{
		"/v21.0/me/messages":               400, // Messenger's: a WhatsApp body is invalid there
		"/v21.0/" + phoneID + "/media":     404,
		"/pa/send_message":                 200, // Viber's: errors are HTTP 200 with a status
		"/pa/unknown":                      404,
		"/x/y/" + phoneID + "/messages":    404,
		"/v21.0/" + phoneID + "/messages/": 200,
	} {
		if r := do(t, "POST", srv.URL+path, body, auth()); r.status != want {
			t.Errorf("POST %s = %d, want %d", path, r.status, want)
		}
	}
	if r := do(t, "GET", srv.URL+"/v21.0/"+phoneID+"/messages", nil, auth()); r.status != 405 {
		t.Errorf("GET messages endpoint = %d, want 405", r.status)
	}
}

func TestFaults(t *testing.T) {
	body := fixture(t, "send_text_request.json")
	t.Run("after lets sends through first", func(t *testing.T) {
		_, srv := start(t, sandbox.Options{})
		for _, f := range []string{
			`{"channel":"whatsapp","code":131026,"after":1}`,
			`{"channel":"whatsapp","code":500,"after":1}`,
		} {
			if r := do(t, "POST", srv.URL+"/sandbox/faults", []byte(f), nil); r.status != 201 {
				t.Fatalf("POST fault %s: %d %s", f, r.status, r.raw)
			}
		}
		var statuses []int
		for range 5 {
			statuses = append(statuses, send(t, srv, body, auth()).status)
		}
		// The second fault counts only once the first has fired.
		if fmt.Sprint(statuses) != "[200 400 200 500 200]" {
			t.Fatalf("statuses %v", statuses)
		}
	})
	t.Run("control API, in order, per recipient", func(t *testing.T) {
		_, srv := start(t, sandbox.Options{RetryAfter: 2 * time.Second})
		for _, f := range []string{
			`{"channel":"whatsapp","to":"999","code":131047,"times":5}`,
			`{"channel":"whatsapp","code":130429,"times":2}`,
			`{"channel":"whatsapp","code":500}`,
		} {
			if r := do(t, "POST", srv.URL+"/sandbox/faults", []byte(f), nil); r.status != 201 {
				t.Fatalf("POST fault %s: %d %s", f, r.status, r.raw)
			}
		}
		var statuses []int
		for range 4 {
			r := send(t, srv, body, auth())
			statuses = append(statuses, r.status)
			if r.status == 429 {
				if r.header.Get("Retry-After") != "2" || r.graphCode() != 130429 {
					t.Fatalf("429: Retry-After %q, %s", r.header.Get("Retry-After"), r.raw)
				}
				var want map[string]any
				_ = json.Unmarshal(fixture(t, "error_response_rate_limit.json"), &want)
				got := r.body["error"].(map[string]any)
				w := want["error"].(map[string]any)
				if got["message"] != w["message"] || got["type"] != w["type"] ||
					!reflect.DeepEqual(got["error_data"], w["error_data"]) {
					t.Fatalf("130429 body %s differs from error_response_rate_limit.json", r.raw)
				}
			}
		}
		if fmt.Sprint(statuses) != "[429 429 500 200]" {
			t.Fatalf("statuses %v", statuses)
		}
		list := do(t, "GET", srv.URL+"/sandbox/faults", nil, nil)
		faults := list.body["faults"].([]any)
		if len(faults) != 1 || faults[0].(map[string]any)["to"] != "999" {
			t.Fatalf("pending faults %s", list.raw)
		}
		other := []byte(strings.Replace(string(body), "250788123123", "+999", 1))
		if r := send(t, srv, other, auth()); r.status != 400 || r.graphCode() != 131047 {
			t.Fatalf("fault for 999: %d %s", r.status, r.raw)
		}
		if r := do(t, "DELETE", srv.URL+"/sandbox/faults", nil, nil); r.status != 204 {
			t.Fatal(r.status)
		}
		if r := send(t, srv, other, auth()); r.status != 200 {
			t.Fatalf("after clearing: %d", r.status)
		}
	})
	t.Run("documented codes", func(t *testing.T) {
		_, srv := start(t, sandbox.Options{})
		for _, tt := range []struct{ code, status, graph int }{
			{130429, 429, 130429}, {131056, 429, 131056}, {131047, 400, 131047}, {500, 500, 1},
			{503, 503, 1}, {131026, 400, 131026}, {190, 401, 190}, {368, 403, 368}, {132001, 400, 132001},
		} {
			r := send(t, srv, body, map[string]string{"Authorization": "Bearer " + token, "X-Sandbox-Fault": fmt.Sprint(tt.code)})
			if r.status != tt.status || r.graphCode() != tt.graph {
				t.Errorf("fault %d: %d code %d, want %d code %d (%s)", tt.code, r.status, r.graphCode(), tt.status, tt.graph, r.raw)
			}
		}
		if r := send(t, srv, body, map[string]string{"Authorization": "Bearer " + token, "X-Sandbox-Fault": "soon"}); r.status != 400 {
			t.Errorf("bad header: %d", r.status)
		}
	})
	t.Run("bad fault requests", func(t *testing.T) {
		_, srv := start(t, sandbox.Options{MaxFaults: 1})
		for _, tt := range []struct {
			body string
			want int
		}{
			{`{"channel":"fax","code":500}`, 400},
			{`{"channel":"whatsapp"}`, 400},
			{`{"channel":"whatsapp","code":"x"}`, 400},
			{`{"channel":"whatsapp","cod":500}`, 400},
			{`{"channel":"whatsapp","code":500,"x"}`, 400},
			{`{"channel":"WhatsApp","code":500}`, 201},
			{`{"channel":"whatsapp","code":500}`, 409}, // MaxFaults reached
		} {
			if r := do(t, "POST", srv.URL+"/sandbox/faults", []byte(tt.body), nil); r.status != tt.want {
				t.Errorf("POST %s = %d, want %d", tt.body, r.status, tt.want)
			}
		}
	})
	t.Run("seeded random failures", func(t *testing.T) {
		run := func() []int {
			_, srv := start(t, sandbox.Options{FailureRate: 0.5, Seed: 42})
			var out []int
			for range 40 {
				out = append(out, send(t, srv, body, auth()).status)
			}
			return out
		}
		a, b := run(), run()
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("same seed, different runs:\n%v\n%v", a, b)
		}
		var ok, failed int
		for _, s := range a {
			switch s {
			case 200:
				ok++
			case 429, 500:
				failed++
			default:
				t.Fatalf("unexpected status %d", s)
			}
		}
		if ok == 0 || failed == 0 {
			t.Fatalf("rate 0.5 gave %d ok, %d failed", ok, failed)
		}
	})
}

type listing struct {
	Messages []sandbox.Record `json:"messages"`
}

func getMessages(t *testing.T, srv *httptest.Server, query string) listing {
	t.Helper()
	r := do(t, "GET", srv.URL+"/sandbox/messages?"+query, nil, nil)
	if r.status != 200 {
		t.Fatalf("GET messages?%s: %d %s", query, r.status, r.raw)
	}
	var l listing
	if err := json.Unmarshal(r.raw, &l); err != nil || l.Messages == nil {
		t.Fatalf("listing %s: %v", r.raw, err)
	}
	return l
}

func TestMessagesRecordAndLongPoll(t *testing.T) {
	_, srv := start(t, sandbox.Options{})
	body := fixture(t, "send_text_request.json")
	if l := getMessages(t, srv, "wait=20ms"); len(l.Messages) != 0 {
		t.Fatalf("empty sandbox listed %v", l.Messages)
	}
	first := send(t, srv, body, auth())
	l := getMessages(t, srv, "channel=whatsapp&to=250788123123")
	if len(l.Messages) != 1 {
		t.Fatalf("%+v", l)
	}
	rec := l.Messages[0]
	wamid := first.body["messages"].([]any)[0].(map[string]any)["id"]
	var a, b any
	_ = json.Unmarshal(rec.Body, &a)
	_ = json.Unmarshal(body, &b)
	if rec.Seq != 1 || rec.Channel != "whatsapp" || rec.To != "250788123123" || rec.MessageID != wamid ||
		!reflect.DeepEqual(a, b) || rec.ReceivedAt.IsZero() {
		t.Fatalf("record %+v", rec)
	}
	if l := getMessages(t, srv, "to=other"); len(l.Messages) != 0 {
		t.Fatalf("to filter: %+v", l)
	}

	// Long poll: a waiting GET returns as soon as a newer message arrives.
	got := make(chan listing, 1)
	go func() { got <- getMessages(t, srv, "after=1&wait=30s") }()
	time.Sleep(50 * time.Millisecond)
	select {
	case l := <-got:
		t.Fatalf("long poll returned early: %+v", l)
	default:
	}
	send(t, srv, body, auth())
	select {
	case l := <-got:
		if len(l.Messages) != 1 || l.Messages[0].Seq != 2 {
			t.Fatalf("long poll got %+v", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long poll did not return after a send")
	}

	if r := do(t, "DELETE", srv.URL+"/sandbox/messages", nil, nil); r.status != 204 {
		t.Fatal(r.status)
	}
	if l := getMessages(t, srv, ""); len(l.Messages) != 0 {
		t.Fatalf("after DELETE: %+v", l)
	}
	send(t, srv, body, auth())
	if l := getMessages(t, srv, "after=2"); len(l.Messages) != 1 || l.Messages[0].Seq != 3 {
		t.Fatalf("seq continues after DELETE: %+v", l)
	}
	for _, q := range []string{"after=x", "wait=forever", "limit=-1"} {
		if r := do(t, "GET", srv.URL+"/sandbox/messages?"+q, nil, nil); r.status != 400 {
			t.Errorf("?%s = %d, want 400", q, r.status)
		}
	}
}

// TestWaitInProcess: Server.Wait is the long poll for Go callers: it
// returns nothing after its timeout, and a message for the recipient as
// soon as it arrives, not one for another recipient.
func TestWaitInProcess(t *testing.T) {
	sb, srv := start(t, sandbox.Options{})
	body := fixture(t, "send_text_request.json")
	ctx := t.Context()
	if recs := sb.Wait(ctx, sandbox.Query{To: "250788123123"}, 20*time.Millisecond); len(recs) != 0 {
		t.Fatalf("empty sandbox: %+v", recs)
	}
	got := make(chan []sandbox.Record, 1)
	go func() { got <- sb.Wait(ctx, sandbox.Query{To: "+250788123123"}, 30*time.Second) }()
	time.Sleep(50 * time.Millisecond)
	other := bytes.Replace(body, []byte("250788123123"), []byte("250700000000"), 1)
	send(t, srv, other, auth())
	select {
	case recs := <-got:
		t.Fatalf("woken by another recipient's message: %+v", recs)
	case <-time.After(50 * time.Millisecond):
	}
	send(t, srv, body, auth())
	select {
	case recs := <-got:
		if len(recs) != 1 || recs[0].To != "250788123123" || recs[0].Seq != 2 {
			t.Fatalf("Wait got %+v", recs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after a send")
	}
}

func TestBoundedAndConcurrent(t *testing.T) {
	sb, srv := start(t, sandbox.Options{MaxRecords: 50})
	body := fixture(t, "send_text_request.json")
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if r := send(t, srv, body, auth()); r.status != 200 {
					t.Errorf("status %d", r.status)
				}
			}
		}()
	}
	wg.Wait()
	recs := sb.Messages(sandbox.Query{})
	if len(recs) != 50 {
		t.Fatalf("%d records kept, want the cap of 50", len(recs))
	}
	seqs := make([]int, len(recs))
	ids := map[string]bool{}
	for i, r := range recs {
		seqs[i] = int(r.Seq)
		ids[r.MessageID] = true
	}
	if !sort.IntsAreSorted(seqs) || seqs[0] != 151 || seqs[49] != 200 || len(ids) != 50 {
		t.Fatalf("kept seqs %v, %d distinct ids", seqs, len(ids))
	}
}
