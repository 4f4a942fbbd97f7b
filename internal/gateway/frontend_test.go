package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/channel/viber"
	"github.com/chatflow-dev/chatflow/test/procs"
)

// fixture is a test gateway: one WhatsApp number and one Viber bot, each
// bound to a served flow whose executor is a stand-in recording what it
// accepts (answer decides its status, 200 by default).
type fixture struct {
	srv      *Server
	executor *httptest.Server

	mu     sync.Mutex
	bodies [][]byte
	sigs   []string
	answer func(body []byte) int
}

const (
	testPhone     = "277321005464405"
	testAppSecret = "s3cret"
)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{}
	f.executor = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.bodies = append(f.bodies, body)
		f.sigs = append(f.sigs, r.Header.Get(meta.SignatureHeader))
		answer := f.answer
		f.mu.Unlock()
		code := http.StatusOK
		if answer != nil {
			code = answer(body)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(f.executor.Close)
	f.srv = New(Options{Resolve: func(*Backend) (string, error) { return f.executor.URL, nil }})
	f.srv.SetTable(Build(Input{
		Bindings: []v1alpha1.ChannelBinding{
			serving(binding("shop", "wa", "orders", v1alpha1.ChannelWhatsApp, testPhone, "app", 1)),
			serving(binding("shop", "vb", "orders", v1alpha1.ChannelViber, "bot1", "bot", 1)),
		},
		Secrets: []corev1.Secret{
			secret("shop", "app", "appSecret", testAppSecret, "verifyToken", "t"),
			secret("shop", "bot", "authToken", "viber-token"),
		},
		Services: []corev1.Service{service("shop", "orders", "10.0.0.1")},
	}))
	return f
}

func (f *fixture) forwarded() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.bodies...)
}

// serveFrontend runs f's routes behind a Frontend on loopback.
func (f *fixture) serveFrontend(t *testing.T, hs *http.Server, configure ...func(*Frontend)) (*Frontend, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if hs == nil {
		hs = &http.Server{}
	}
	hs.Handler = f.srv.Handler()
	front := f.srv.NewFrontend(hs)
	for _, c := range configure {
		c(front)
	}
	done := make(chan error, 1)
	go func() { done <- front.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = front.Shutdown(ctx)
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return front, ln.Addr().String()
}

// whatsapp is a signed WhatsApp webhook request for the test number.
func whatsapp(t testing.TB, id string) (body []byte, head string) {
	t.Helper()
	body, err := procs.WhatsAppWebhook(testPhone, procs.WhatsAppMessage{From: "15550001", Name: "Ann", ID: id, Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	return body, fmt.Sprintf("POST /webhooks/whatsapp HTTP/1.1\r\nHost: gw.example\r\nUser-Agent: facebookexternalua\r\nContent-Type: application/json\r\n"+
		"X-Hub-Signature-256: %s\r\nContent-Length: %d\r\n\r\n", meta.Sign(body, testAppSecret), len(body))
}

// dial connects to addr for the rest of the test, with a reader of the
// answers; every read and write fails after 10s.
func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// answer is what a test compares of two servers' answers.
type answer struct {
	code        int
	contentType string
	body        string
}

// exchange writes raw requests on one connection and reads n answers.
func exchange(t *testing.T, addr, raw string, n int) []answer {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	// Written while the answers are read: a server may answer (413) and
	// close before the body is all sent.
	go func() { _, _ = io.WriteString(c, raw) }()
	br := bufio.NewReader(c)
	var out []answer
	for range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading answer %d of %q: %v", len(out)+1, raw, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, answer{resp.StatusCode, resp.Header.Get("Content-Type"), string(body)})
	}
	return out
}

// TestFrontendAnswersAsNetHTTP sends the same raw requests to the front
// end and to net/http serving the same handler: the answers (status,
// content type, body) and what reaches the executor must be the same,
// whether the loop served the request or handed it over.
func TestFrontendAnswersAsNetHTTP(t *testing.T) {
	body, head := whatsapp(t, "wamid.one")
	badSig := strings.Replace(head, meta.Sign(body, testAppSecret), meta.Sign(body, "other"), 1)
	noSig := strings.Replace(head, "X-Hub-Signature-256: "+meta.Sign(body, testAppSecret)+"\r\n", "", 1)
	malformed := `{"object":`
	malformedHead := fmt.Sprintf("POST /webhooks/whatsapp HTTP/1.1\r\nHost: gw\r\nX-Hub-Signature-256: %s\r\nContent-Length: %d\r\n\r\n",
		meta.Sign([]byte(malformed), testAppSecret), len(malformed))
	chunked := fmt.Sprintf("POST /webhooks/whatsapp HTTP/1.1\r\nHost: gw\r\nX-Hub-Signature-256: %s\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n",
		meta.Sign(body, testAppSecret), len(body), body)
	viberBody := `{"event":"seen","timestamp":1457764197627,"message_token":4912661846655238145,"user_id":"01234567890A="}`
	viberReq := fmt.Sprintf("POST /webhooks/viber/bot1 HTTP/1.1\r\nHost: gw\r\n%s: %s\r\nContent-Length: %d\r\n\r\n%s",
		viber.SignatureHeader, viber.Sign([]byte(viberBody), "viber-token"), len(viberBody), viberBody)
	cases := []struct {
		name, raw string
		answers   int
		// loop: the loop answers every request itself.
		loop bool
	}{
		{"signed webhook", head + string(body), 1, true},
		{"two on one connection", head + string(body) + head + string(body), 2, true},
		{"wrong signature", badSig + string(body), 1, true},
		{"no signature", noSig + string(body), 1, true},
		{"malformed body", malformedHead + malformed, 1, true},
		{"too long", "POST /webhooks/whatsapp HTTP/1.1\r\nHost: gw\r\nContent-Length: 5000000\r\n\r\n", 1, true},
		{"too long, body sent", "POST /webhooks/whatsapp HTTP/1.1\r\nHost: gw\r\nContent-Length: 5000000\r\n\r\n" + strings.Repeat("x", 5000000), 1, true},
		{"chunked, handed over", chunked, 1, false},
		{"HTTP/1.0, handed over", strings.Replace(head, "HTTP/1.1", "HTTP/1.0", 1) + string(body), 1, false},
		{"a query, handed over", strings.Replace(head, "/webhooks/whatsapp", "/webhooks/whatsapp?x=1", 1) + string(body), 1, false},
		{"hot then handed over then hot", head + string(body) + "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n" + head + string(body), 3, false},
		{"trailing slash", strings.Replace(head, "/webhooks/whatsapp", "/webhooks/whatsapp/", 1) + string(body), 1, false},
		{"dot segment", strings.Replace(head, "/webhooks/whatsapp", "/webhooks/./whatsapp", 1) + string(body), 1, false},
		{"bad header value", strings.Replace(head, "User-Agent: facebookexternalua", "User-Agent: a\x01b", 1) + string(body), 1, false},
		{"no Host", strings.Replace(head, "Host: gw.example\r\n", "", 1) + string(body), 1, false},
		{"bare line feeds", strings.ReplaceAll(head, "\r\n", "\n") + string(body), 1, false},
		{"viber callback", viberReq, 1, true},
		{"viber, unknown bot", strings.Replace(viberReq, "/bot1", "/bot2", 1), 1, true},
		{"GET handshake", "GET /webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=t&hub.challenge=42 HTTP/1.1\r\nHost: gw\r\n\r\n", 1, false},
		{"metrics path with POST", "POST /metrics HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\n\r\n", 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			viaLoop, viaHTTP := newFixture(t), newFixture(t)
			front, loopAddr := viaLoop.serveFrontend(t, nil)
			plain := httptest.NewServer(viaHTTP.srv.Handler())
			defer plain.Close()
			got := exchange(t, loopAddr, tc.raw, tc.answers)
			want := exchange(t, strings.TrimPrefix(plain.URL, "http://"), tc.raw, tc.answers)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("front end answered %+v\nnet/http answered  %+v", got, want)
			}
			if g, w := viaLoop.forwarded(), viaHTTP.forwarded(); fmt.Sprintf("%q", g) != fmt.Sprintf("%q", w) {
				t.Errorf("front end forwarded %q\nnet/http forwarded %q", g, w)
			}
			if handed := front.handedOver.Load(); (handed == 0) != tc.loop {
				t.Errorf("%d connections handed over to net/http; the loop should answer all: %v", handed, tc.loop)
			}
		})
	}
}

// TestFrontendKeepsAndClosesConnections: a keep-alive connection carries
// many webhooks; Connection: close and an unread long body close it.
func TestFrontendKeepsAndClosesConnections(t *testing.T) {
	f := newFixture(t)
	_, addr := f.serveFrontend(t, nil)
	body, head := whatsapp(t, "wamid.keep")
	c, br := dial(t, addr)
	for i := range 3 {
		raw := head + string(body)
		if i == 2 {
			raw = strings.Replace(head, "Host: gw.example\r\n", "Host: gw.example\r\nConnection: close\r\n", 1) + string(body)
		}
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close != (i == 2) {
			t.Fatalf("answer %d: %d, close %v", i, resp.StatusCode, resp.Close)
		}
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after Connection: close the connection is still open (%v)", err)
	}
}

// TestFrontendTimesOutAStalledHead: a client that stops halfway through a
// head loses its connection after ReadHeaderTimeout.
func TestFrontendTimesOutAStalledHead(t *testing.T) {
	f := newFixture(t)
	_, addr := f.serveFrontend(t, &http.Server{ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: time.Minute})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "POST /webhooks/whatsapp HTTP/1.1\r\nHost: gw\r\n")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("a stalled head kept its connection: %v", err)
	}
}

// TestFrontendShutdown: Shutdown closes idle connections at once, lets a
// webhook in flight finish (its answer says Connection: close), and
// returns when it did.
func TestFrontendShutdown(t *testing.T) {
	f := newFixture(t)
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	f.answer = func([]byte) int {
		arrived <- struct{}{}
		<-release
		return http.StatusOK
	}
	front, addr := f.serveFrontend(t, nil)
	idle, _ := dial(t, addr)
	body, head := whatsapp(t, "wamid.shutdown")
	busy, answers := dial(t, addr)
	if _, err := io.WriteString(busy, head+string(body)); err != nil {
		t.Fatal(err)
	}
	<-arrived
	stopped := make(chan error, 1)
	go func() { stopped <- front.Shutdown(context.Background()) }()
	_ = idle.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the idle connection was not closed: %v", err)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Shutdown returned (%v) with a webhook in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	resp, err := http.ReadResponse(answers, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !resp.Close {
		t.Errorf("in-flight webhook: %d, close %v; want 200 and close", resp.StatusCode, resp.Close)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("the listener still accepts after Shutdown")
	}
}

// FuzzParseHot holds the loop's parser to net/http's: any head it takes,
// net/http reads as the same request, with the same values of every
// header a handler reads.
func FuzzParseHot(f *testing.F) {
	_, head := whatsapp(f, "wamid.fuzz")
	f.Add([]byte(head))
	f.Add([]byte("POST /webhooks/viber/bot-1 HTTP/1.1\r\nhost: a:80\r\nX-Viber-Content-Signature: ab\r\ncontent-length: 0\r\nconnection: Close\r\ntraceparent: 00-x\r\n\r\n"))
	f.Add([]byte("POST /webhooks/whatsapp HTTP/1.1\r\nHost: [::1]:8080\r\nContent-Length: 007\r\nTracestate: a=b\r\n\r\n"))
	f.Add([]byte("POST /webhooks/whatsapp HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"))
	f.Add([]byte("POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nX: \t v \t\r\n\r\n"))
	f.Fuzz(func(t *testing.T, head []byte) {
		end := headEnd(head)
		if end == 0 {
			return
		}
		head = head[:end]
		req, ok := parseHot(string(head))
		if !ok {
			return
		}
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if err != nil {
			t.Fatalf("parseHot took %q, net/http refuses it: %v", head, err)
		}
		got := fmt.Sprint(http.MethodPost, req.target, req.path, req.host, req.length, req.close,
			req.signature, req.viberSignature, req.traceparent, req.tracestate)
		want := fmt.Sprint(r.Method, r.RequestURI, r.URL.Path, r.Host, r.ContentLength, r.Close,
			r.Header.Get(meta.SignatureHeader), r.Header.Get(viber.SignatureHeader), r.Header.Get("Traceparent"), r.Header.Get("Tracestate"))
		if got != want || len(r.TransferEncoding) != 0 || r.URL.RawQuery != "" || len(r.Header["Host"]) != 0 && r.Header.Get("Host") != r.Host {
			t.Fatalf("head %q\nparseHot: %s\nnet/http: %s", head, got, want)
		}
	})
}

// TestFrontendSurvivesAPanic: a handler's panic closes its connection and
// is logged; the next connection is served.
func TestFrontendSurvivesAPanic(t *testing.T) {
	f := newFixture(t)
	var log bytes.Buffer
	var mu sync.Mutex
	_, addr := f.serveFrontend(t, nil, func(front *Frontend) {
		front.log = slog.New(slog.NewTextHandler(lockedWriter{&mu, &log}, nil))
		front.hooks.meta = map[string]http.HandlerFunc{"/webhooks/whatsapp": func(http.ResponseWriter, *http.Request) { panic("boom") }}
	})
	body, head := whatsapp(t, "wamid.panic")
	c, _ := dial(t, addr)
	_, _ = io.WriteString(c, head+string(body))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after a panic the connection answered or stayed open: %v", err)
	}
	if got := exchange(t, addr, "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n", 1); got[0].code != http.StatusOK {
		t.Errorf("after a panic: %+v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(log.String(), "panic serving a webhook") || !strings.Contains(log.String(), "boom") {
		t.Errorf("the panic was not logged: %s", log.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestFrontendTimeoutsFallBackAsNetHTTP: with only ReadTimeout set, as
// with net/http, it bounds a head's read (and an idle connection).
func TestFrontendTimeoutsFallBackAsNetHTTP(t *testing.T) {
	f := newFixture(t)
	_, addr := f.serveFrontend(t, &http.Server{ReadTimeout: 200 * time.Millisecond})
	for _, sent := range []string{"POST /webhooks/whatsapp HTTP/1.1\r\nHost: gw\r\n", ""} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(c, sent)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("after %q the connection stayed open past ReadTimeout: %v", sent, err)
		}
		c.Close()
	}
}

// TestFrontendKeepsAliveAfterASlowAnswer: the wait for the next request on
// a kept connection starts when the answer went out, not when the last
// deadline was set, even when the timeouts are short.
func TestFrontendKeepsAliveAfterASlowAnswer(t *testing.T) {
	f := newFixture(t)
	f.answer = func([]byte) int { time.Sleep(700 * time.Millisecond); return http.StatusOK }
	_, addr := f.serveFrontend(t, &http.Server{ReadHeaderTimeout: time.Second, IdleTimeout: time.Second})
	body, head := whatsapp(t, "wamid.slow")
	c, br := dial(t, addr)
	for i := range 2 {
		if _, err := io.WriteString(c, head+string(body)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("answer %d: %d, close %v", i, resp.StatusCode, resp.Close)
		}
		time.Sleep(400 * time.Millisecond) // well within the idle second
	}
}

// TestFrontendRelaysStatusesAsNetHTTP: a Viber callback's status is the
// executor's, relayed: a 204 has no Content-Length and a code without a
// reason phrase gets net/http's, so the heads hold the same lines but for
// the date.
func TestFrontendRelaysStatusesAsNetHTTP(t *testing.T) {
	callback := `{"event":"seen","timestamp":1457764197627,"message_token":4912661846655238145,"user_id":"01234567890A="}`
	raw := fmt.Sprintf("POST /webhooks/viber/bot1 HTTP/1.1\r\nHost: gw\r\n%s: %s\r\nContent-Length: %d\r\n\r\n%s",
		viber.SignatureHeader, viber.Sign([]byte(callback), "viber-token"), len(callback), callback)
	head := func(addr string) string {
		c, br := dial(t, addr)
		_, _ = io.WriteString(c, raw)
		status, _ := br.ReadString('\n')
		var fields []string
		for {
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
			if !strings.HasPrefix(line, "Date:") {
				fields = append(fields, line)
			}
		}
		slices.Sort(fields) // their order is no part of HTTP's meaning
		return status + strings.Join(fields, "")
	}
	for _, code := range []int{http.StatusOK, http.StatusNoContent, 299, http.StatusBadRequest} {
		loop, plain := newFixture(t), newFixture(t)
		loop.answer = func([]byte) int { return code }
		plain.answer = loop.answer
		front, loopAddr := loop.serveFrontend(t, nil)
		hs := httptest.NewServer(plain.srv.Handler())
		got, want := head(loopAddr), head(strings.TrimPrefix(hs.URL, "http://"))
		hs.Close()
		if got != want {
			t.Errorf("executor %d:\n front end %q\n net/http  %q", code, got, want)
		}
		if front.handedOver.Load() != 0 {
			t.Errorf("executor %d: the loop handed the callback over", code)
		}
	}
}

// failingOnce is a listener whose first Accept fails with err.
type failingOnce struct {
	net.Listener
	err    error
	failed atomic.Bool
}

func (l *failingOnce) Accept() (net.Conn, error) {
	if !l.failed.Swap(true) {
		return nil, l.err
	}
	return l.Listener.Accept()
}

// TestFrontendWaitsOutATemporaryAcceptError: out of file descriptors, as
// net/http does, Serve waits and accepts again instead of returning (and
// ending the gateway).
func TestFrontendWaitsOutATemporaryAcceptError(t *testing.T) {
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	front := f.srv.NewFrontend(&http.Server{Handler: f.srv.Handler()})
	done := make(chan error, 1)
	go func() {
		done <- front.Serve(&failingOnce{Listener: ln, err: &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}})
	}()
	got := exchange(t, ln.Addr().String(), "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n", 1)
	if got[0].code != http.StatusOK {
		t.Errorf("after EMFILE: %+v", got[0])
	}
	if err := front.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
}
