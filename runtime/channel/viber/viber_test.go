package viber_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/internal/sandbox"
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/fakeclock"
	"github.com/chatflow-dev/chatflow/runtime/channel/viber"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

var (
	ts   = time.UnixMilli(1457764197627).UTC()
	john = message.Contact{ID: "jc9HsWTZ2Yf2NkRZ8KcNug==", Name: "John McClane", Channel: message.Viber}
	user = message.Contact{ID: "jc9HsWTZ2Yf2NkRZ8KcNug==", Channel: message.Viber}
)

// The fixtures' message_token, 4912661846655238145, exceeds 2^53: through a
// float64 it would read 4912661846655238000.
const token = "4912661846655238145"

func TestParseFixtures(t *testing.T) {
	tests := []struct {
		file string
		want channel.Batch
		what string
	}{
		{file: "message.json", want: channel.Batch{Messages: []message.Inbound{{ID: token, Contact: john, Kind: message.KindText,
			Text: "a message to the service", Timestamp: ts}}}},
		{file: "conversation_started.json", want: channel.Batch{Opened: []channel.ContactEvent{{ID: token,
			Contact: message.Contact{ID: "01234567890A=", Name: "John McClane", Channel: message.Viber}, Timestamp: ts}}}},
		{file: "unsubscribed.json", want: channel.Batch{Unsubscribed: []channel.ContactEvent{{ID: token, Contact: user, Timestamp: ts}}}},
		{file: "delivered.json", want: channel.Batch{Statuses: []message.Status{{MessageID: token, Contact: user, State: "delivered", Timestamp: ts}}}},
		{file: "seen.json", want: channel.Batch{Statuses: []message.Status{{MessageID: token, Contact: user, State: "read", Timestamp: ts}}}},
		{file: "failed.json", want: channel.Batch{Statuses: []message.Status{{MessageID: token, Contact: user, State: "failed", Timestamp: ts,
			Error: &message.SendError{Class: message.Permanent, Message: "message validation failed"}}}}},
		{file: "subscribed.json", what: "event=subscribed"},
		{file: "webhook_signature_vector_body.json", what: "event=webhook"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := viber.Parse(fixture(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if tt.what != "" {
				if len(b.Ignored) != 1 || b.Ignored[0].What != tt.what || (tt.file == "subscribed.json") != (b.Ignored[0].ID == token) {
					t.Fatalf("%s", js(b))
				}
				b.Ignored = nil
			}
			if !reflect.DeepEqual(b, tt.want) {
				t.Errorf("got  %s\nwant %s", js(b), js(tt.want))
			}
		})
	}
	// The webhook check's token, also > 2^53 in its timestamp, reads exactly.
	b, _ := viber.Parse(fixture(t, "webhook_signature_vector_body.json"))
	if b.Ignored[0].ID != "1478683725125" {
		t.Errorf("webhook token %q", b.Ignored[0].ID)
	}
}

func TestParseMessages(t *testing.T) {
	msg := func(m string) []byte {
		return []byte(`{"event":"message","timestamp":1457764197627,"message_token":4912661846655238145,"sender":{"id":"u1","name":"A"},"message":` + m + `}`)
	}
	tests := []struct {
		m    string
		want message.Inbound
	}{
		{`{"type":"picture","text":"look","media":"https://x/p.jpg"}`, message.Inbound{Kind: message.KindMedia, Text: "look",
			Media: &message.Media{Kind: message.Image, URL: "https://x/p.jpg", Caption: "look"}}},
		{`{"type":"file","media":"https://x/f.pdf","file_name":"f.pdf"}`, message.Inbound{Kind: message.KindMedia,
			Media: &message.Media{Kind: message.Document, URL: "https://x/f.pdf", Filename: "f.pdf"}}},
		{`{"type":"sticker","sticker_id":46105}`, message.Inbound{Kind: message.KindMedia, Media: &message.Media{Kind: message.Sticker, ID: "46105"}}},
		{`{"type":"location","location":{"lat":50.76891,"lon":6.11499}}`, message.Inbound{Kind: message.KindLocation, Payload: "50.76891,6.11499"}},
		{`{"type":"url","media":"https://x"}`, message.Inbound{Kind: message.KindOther, Payload: "https://x"}},
		{`{"type":"text","text":"Yes","tracking_data":"chatflow.buttons:[[\"yes\",\"Yes\"],[\"no\",\"No\"]]"}`,
			message.Inbound{Kind: message.KindButton, ButtonID: "yes", Text: "Yes"}},
		{`{"type":"text","text":"maybe","tracking_data":"chatflow.buttons:[[\"yes\",\"Yes\"]]"}`, message.Inbound{Kind: message.KindText, Text: "maybe"}},
	}
	for _, tt := range tests {
		b, err := viber.Parse(msg(tt.m))
		if err != nil || len(b.Messages) != 1 {
			t.Fatalf("%s: %s %v", tt.m, js(b), err)
		}
		want := tt.want
		want.ID, want.Contact, want.Timestamp = token, message.Contact{ID: "u1", Name: "A", Channel: message.Viber}, ts
		if !reflect.DeepEqual(b.Messages[0], want) {
			t.Errorf("%s:\n got %s\nwant %s", tt.m, js(b.Messages[0]), js(want))
		}
	}
	// A float token is refused, never rounded.
	b, err := viber.Parse([]byte(`{"event":"message","message_token":4.912661846655238e18,"sender":{"id":"u"},"message":{"type":"text","text":"x"}}`))
	if err != nil || len(b.Messages) != 0 || len(b.Ignored) != 1 {
		t.Fatalf("float token: %s %v", js(b), err)
	}
	for _, body := range []string{"", "[]", "{", `{"timestamp":1}`, "null"} {
		if _, err := viber.Parse([]byte(body)); !errors.Is(err, channel.ErrMalformed) {
			t.Errorf("%q: %v", body, err)
		}
	}
}

func TestSignatureVector(t *testing.T) {
	const authToken = "44dafb7e0f40021e-61a47a1e6778d187-f2c5a676a07050b3"
	const sig = "d21b343448c8aee33b8e93768ef6ceb64a6ba6163099973a2b8bd028fea510ef"
	body := fixture(t, "webhook_signature_vector_body.json")
	var rcv channel.Receiver = &viber.Webhook{AuthToken: func() string { return authToken }, AccountID: "bot"}
	if err := rcv.Authenticate(http.Header{viber.SignatureHeader: {sig}}, body); err != nil {
		t.Fatal(err)
	}
	if viber.Sign(body, authToken) != sig {
		t.Fatal("Sign disagrees with the vector")
	}
	for name, c := range map[string]struct {
		h    string
		body []byte
		want error
	}{
		"negative vector": {"aaaaaaaaaaaaaaaaaaaaaa", []byte(`{"event":"webhook"}`), viber.ErrSignatureMalformed},
		"tampered":        {sig, append(append([]byte{}, body...), ' '), viber.ErrSignatureMismatch},
		"missing":         {"", body, viber.ErrSignatureMissing},
		"uppercase hex":   {strings.ToUpper(sig), body, nil},
	} {
		if err := rcv.Authenticate(http.Header{viber.SignatureHeader: {c.h}}, c.body); !errors.Is(err, c.want) || (c.want != nil && !errors.Is(err, channel.ErrUnauthenticated)) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if err := (&viber.Webhook{}).Authenticate(http.Header{viber.SignatureHeader: {sig}}, body); !errors.Is(err, viber.ErrNoAuthToken) {
		t.Errorf("no token: %v", err)
	}
}

func sameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON differs:\n got %s\nwant %s", got, want)
	}
}

// withTracking drops a fixture's tracking_data (ours carry the button map,
// or nothing).
func without(t *testing.T, name string, keys ...string) []byte {
	var m map[string]any
	if err := json.Unmarshal(fixture(t, name), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		delete(m, k)
	}
	b, _ := json.Marshal(m)
	return b
}

func TestRenderFixtures(t *testing.T) {
	bote := viber.Sender{Name: "My Awesome Bote", Avatar: "http://avatar.example.com"}
	to := message.Contact{ID: "jc9HsWTZ2Yf2NkRZ8KcNug==", Channel: message.Viber}
	got, err := viber.Render(message.Outbound{To: to, Text: "Hello world!"}, bote)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, got, without(t, "send_message_text_request.json", "tracking_data"))
	got, err = viber.Render(message.Outbound{To: to, Media: &message.Media{Kind: message.Image, URL: "http://media.example.com/picture.jpg", Caption: "My picture"}}, bote)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, got, without(t, "send_message_picture_request.json", "tracking_data", "thumbnail"))
	got, err = viber.RenderWelcome(message.Outbound{Text: "Hello World"}, viber.Sender{Name: "Viber Bot", Avatar: "http://avatar.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var welcome map[string]any
	_ = json.Unmarshal(got, &welcome)
	delete(welcome, "min_api_version")
	w, _ := json.Marshal(welcome)
	sameJSON(t, w, fixture(t, "conversation_started_welcome_response_body.json"))
	// A reply keyboard, as courier's (which sends Columns as a string and
	// the legacy auth_token in the body) and Viber's keyboard example.
	got, err = viber.Render(message.Outbound{To: message.Contact{ID: "xy5/5y6O81+/kbWHpLhBoA=="}, Text: "Are you happy?",
		Buttons: []message.Button{{ID: "yes", Title: "Yes"}, {ID: "no", Title: "No"}}}, viber.Sender{Name: "Bot"})
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Type         string `json:"type"`
		Text         string `json:"text"`
		TrackingData string `json:"tracking_data"`
		Keyboard     struct {
			Type          string `json:"Type"`
			DefaultHeight bool   `json:"DefaultHeight"`
			Buttons       []struct {
				ActionType, ActionBody, Text, TextSize string
				Columns, Rows                          int
			} `json:"Buttons"`
		} `json:"keyboard"`
	}
	if err := json.Unmarshal(got, &k); err != nil {
		t.Fatal(err)
	}
	b := k.Keyboard.Buttons
	if k.Type != "text" || k.Keyboard.Type != "keyboard" || len(b) != 2 || b[0].ActionType != "reply" || b[0].ActionBody != "Yes" ||
		b[0].Text != "Yes" || b[0].TextSize != "regular" || b[0].Columns != 3 || b[1].ActionBody != "No" {
		t.Fatalf("keyboard %s", got)
	}
	// The tap comes back as text "Yes" with our tracking_data: a button.
	reply := `{"event":"message","message_token":1,"sender":{"id":"u"},"message":{"type":"text","text":"Yes","tracking_data":` + js(k.TrackingData) + `}}`
	if p, _ := viber.Parse([]byte(reply)); len(p.Messages) != 1 || p.Messages[0].Kind != message.KindButton || p.Messages[0].ButtonID != "yes" {
		t.Fatalf("tap: %s", js(p))
	}
}

func TestRenderRefuses(t *testing.T) {
	to := message.Contact{ID: "u"}
	s := viber.Sender{Name: "Bot"}
	for name, c := range map[string]struct {
		out message.Outbound
		s   viber.Sender
	}{
		"no receiver":  {message.Outbound{Text: "x"}, s},
		"empty":        {message.Outbound{To: to}, s},
		"no sender":    {message.Outbound{To: to, Text: "x"}, viber.Sender{}},
		"long sender":  {message.Outbound{To: to, Text: "x"}, viber.Sender{Name: strings.Repeat("n", 29)}},
		"video":        {message.Outbound{To: to, Media: &message.Media{Kind: message.Video, URL: "https://x"}}, s},
		"long text":    {message.Outbound{To: to, Text: strings.Repeat("x", 7001)}, s},
		"25 buttons":   {message.Outbound{To: to, Text: "x", Buttons: make([]message.Button, 25)}, s},
		"template":     {message.Outbound{To: to, Template: &message.Template{Name: "t"}}, s},
		"untitled btn": {message.Outbound{To: to, Text: "x", Buttons: []message.Button{{ID: "a"}}}, s},
	} {
		if _, err := viber.Render(c.out, c.s); !errors.Is(err, viber.ErrInvalidMessage) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

const authToken = "viber-auth-token"

func TestClientAgainstSandbox(t *testing.T) {
	tests := []struct {
		name     string
		code     int
		times    int
		calls    int32
		ok       bool
		class    message.ErrorClass
		wantCode int
	}{
		{name: "ok", calls: 1, ok: true},
		{name: "12 too many requests is retried", code: 12, times: 1, calls: 2, ok: true},
		{name: "5xx is retried", code: 502, times: 2, calls: 3, ok: true},
		{name: "6 not subscribed", code: 6, times: 1, calls: 1, class: message.Permanent, wantCode: 6},
		{name: "3 bad data", code: 3, times: 1, calls: 1, class: message.Permanent, wantCode: 3},
		{name: "12 until attempts run out", code: 12, times: -1, calls: 4, class: message.Retryable, wantCode: 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := sandbox.New(sandbox.Options{Tokens: map[string]string{"bot": authToken}})
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1); sb.ServeHTTP(w, r) }))
			defer srv.Close()
			c, err := viber.NewClient(viber.Config{AccountID: "bot", AuthToken: func(context.Context) (string, error) { return authToken, nil },
				Sender: viber.Sender{Name: "Bot"}, APIBaseURL: srv.URL,
				Delivery: channel.Delivery{Client: srv.Client(), Clock: fakeclock.NewFakeClock(time.Now()), Rand: func() float64 { return 0.5 }}})
			if err != nil {
				t.Fatal(err)
			}
			if tt.code != 0 {
				if _, err := sb.AddFault(sandbox.Fault{Channel: "viber", Code: tt.code, Times: tt.times}); err != nil {
					t.Fatal(err)
				}
			}
			rc := c.Send(context.Background(), message.Outbound{To: message.Contact{ID: "u1"}, Text: "hi"})
			if calls.Load() != tt.calls {
				t.Errorf("calls %d, want %d", calls.Load(), tt.calls)
			}
			if tt.ok {
				recs := sb.Messages(sandbox.Query{Channel: "viber"})
				if rc.Error != nil || len(recs) != 1 || recs[0].MessageID != rc.MessageID || recs[0].Account != "bot" || len(rc.MessageID) < 19 {
					t.Fatalf("%+v %+v", rc, recs)
				}
				return
			}
			if rc.Error == nil || rc.Error.Class != tt.class || rc.Error.Code != tt.wantCode {
				t.Fatalf("%+v", rc.Error)
			}
		})
	}
}

func TestResponseFixturesAndSetWebhook(t *testing.T) {
	for file, want := range map[string]string{"send_message_response.json": "1234567890", "send_message_response_courier.json": "4987381194038857789"} {
		body := fixture(t, file)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
		c, _ := viber.NewClient(viber.Config{AccountID: "b", AuthToken: func(context.Context) (string, error) { return "t", nil }, Sender: viber.Sender{Name: "B"}, APIBaseURL: srv.URL})
		if rc := c.Send(context.Background(), message.Outbound{To: message.Contact{ID: "u"}, Text: "x"}); rc.MessageID != want {
			t.Errorf("%s: %+v", file, rc)
		}
		srv.Close()
	}
	body := fixture(t, "send_message_error_response_courier.json")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	defer srv.Close()
	c, _ := viber.NewClient(viber.Config{AccountID: "b", AuthToken: func(context.Context) (string, error) { return "t", nil }, Sender: viber.Sender{Name: "B"}, APIBaseURL: srv.URL})
	if rc := c.Send(context.Background(), message.Outbound{To: message.Contact{ID: "u"}, Text: "x"}); rc.Error == nil || rc.Error.Code != 3 || rc.Error.Class != message.Permanent {
		t.Errorf("badData: %+v", rc.Error)
	}
	if err := c.SetWebhook(context.Background(), "https://x"); err == nil || !strings.Contains(err.Error(), "status 3") {
		t.Errorf("set_webhook on badData: %v", err)
	}
	// Against the sandbox, which records the registration; the request
	// matches the documented set_webhook_request.json but for the URL.
	sb := sandbox.New(sandbox.Options{Tokens: map[string]string{"bot": authToken}})
	var got []byte
	ssrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = readAll(r)
		sb.ServeHTTP(w, r)
	}))
	defer ssrv.Close()
	c, _ = viber.NewClient(viber.Config{AccountID: "bot", AuthToken: func(context.Context) (string, error) { return authToken, nil }, Sender: viber.Sender{Name: "B"}, APIBaseURL: ssrv.URL})
	if err := c.SetWebhook(context.Background(), "https://my.host.com"); err != nil {
		t.Fatal(err)
	}
	sameJSON(t, got, fixture(t, "set_webhook_request.json"))
	if hooks := sb.Webhooks(); len(hooks) != 1 || hooks[0].URL != "https://my.host.com" || hooks[0].Account != "bot" {
		t.Fatalf("%+v", hooks)
	}
}
