package gateway

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBackendsKeepAliveAndRetry drives the gateway's HTTP/1.1 client
// against Go's HTTP server: connections are reused, an idle one the server
// closed is replaced without the caller seeing it, an answer that says
// Connection: close or runs long is not kept, and the headers arrive as
// given.
func TestBackendsKeepAliveAndRetry(t *testing.T) {
	var conns atomic.Int32
	var closeNext atomic.Bool
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Hub-Signature-256") != "sha256=x" ||
			r.Header.Get("X-Injected") != "" || r.Header.Get("X-Evil") != "" {
			http.Error(w, "bad request line or headers", http.StatusBadRequest)
			return
		}
		if closeNext.Swap(false) {
			w.Header().Set("Connection", "close")
		}
		if r.URL.Path == "/long" {
			_, _ = w.Write([]byte(strings.Repeat("x", 2<<20)))
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(r.URL.Path + ":" + string(body)))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	b := newBackends(http.DefaultClient)
	h := http.Header{"X-Hub-Signature-256": {"sha256=x"}, "X-Evil": {"a\r\nX-Injected: 1"}}
	post := func(path, body string) result {
		t.Helper()
		return b.post(context.Background(), srv.URL, path, []byte(body), h, 5*time.Second)
	}
	for i := range 5 {
		res := post("/webhooks/whatsapp", "{}")
		if res.err != nil || res.code != 200 || string(res.body) != "/webhooks/whatsapp:{}" || res.contentType != "text/plain" {
			t.Fatalf("request %d: %+v", i, res)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("5 sequential requests opened %d connections, want 1 reused", n)
	}
	// The server drops its idle connections (an executor restarting): the
	// next request goes on a new one, without an error.
	srv.CloseClientConnections()
	if res := post("/a", "1"); res.err != nil || res.code != 200 {
		t.Fatalf("after the server closed the idle connection: %+v", res)
	}
	// Connection: close, and an answer too long to drain, are not kept.
	closeNext.Store(true)
	if res := post("/b", "2"); res.err != nil || res.code != 200 {
		t.Fatalf("%+v", res)
	}
	if res := post("/long", "3"); res.err != nil || len(res.body) != maxReply {
		t.Fatalf("long answer: %d bytes, %v", len(res.body), res.err)
	}
	before := conns.Load()
	if res := post("/c", "4"); res.err != nil || res.code != 200 {
		t.Fatalf("%+v", res)
	}
	if conns.Load() != before+1 {
		t.Fatalf("a connection after Connection: close or a long answer was reused")
	}
	// A server that is gone: an error, not a hang.
	srv.Close()
	if res := post("/d", "5"); res.err == nil {
		t.Fatalf("a closed server answered %+v", res)
	}
}

// TestBackendsAllIdleGone: when an executor's pod goes, every idle
// connection to it is dead at once (a rollout); the request is still
// delivered, on a new connection, not failed on a second dead one.
func TestBackendsAllIdleGone(t *testing.T) {
	const parallel = 3
	var inside sync.WaitGroup
	inside.Add(parallel)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/together" {
			inside.Done()
			inside.Wait() // all three at once: three connections
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	b := newBackends(http.DefaultClient)
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			if res := b.post(context.Background(), srv.URL, "/together", nil, nil, 5*time.Second); res.err != nil {
				t.Error(res.err)
			}
		})
	}
	wg.Wait()
	host := strings.TrimPrefix(srv.URL, "http://")
	if n := len(b.idle[host]); n != parallel {
		t.Fatalf("%d idle connections, want %d", n, parallel)
	}
	srv.CloseClientConnections()
	time.Sleep(50 * time.Millisecond) // the FINs arrive
	if res := b.post(context.Background(), srv.URL, "/after", nil, nil, 5*time.Second); res.err != nil || res.code != 200 {
		t.Fatalf("after every idle connection died: %+v", res)
	}
}

// TestBackendsHTTPS: an https executor (outside a cluster) goes through
// net/http, headers and answer alike.
func TestBackendsHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(r.Header.Get("Authorization") + " " + r.URL.Path + " " + string(body)))
	}))
	defer srv.Close()
	b := newBackends(srv.Client())
	res := b.post(context.Background(), srv.URL, "/v1/runs", []byte("{}"), http.Header{"Authorization": {"Bearer t"}}, 5*time.Second)
	if res.err != nil || res.code != http.StatusAccepted || string(res.body) != "Bearer t /v1/runs {}" || res.contentType != "application/json" {
		t.Fatalf("%+v", res)
	}
}
