package gateway

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
)

// BenchmarkHop is the cost of one WhatsApp webhook through the gateway, on
// loopback to an executor stand-in that accepts at once, beside the same
// POST sent to that executor directly: the difference is the hop. One at
// a time it is a round trip's latency (through the Frontend's loop, and
// through net/http serving the same handler); 50 at once it is CPU, and
// the gateway joins the webhooks that wait for a forward slot.
func BenchmarkHop(b *testing.B) {
	body, err := os.ReadFile("../../runtime/channel/meta/testdata/signature_vector_body.json")
	if err != nil {
		b.Fatal(err)
	}
	executor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer executor.Close()
	srv := New(Options{Resolve: func(*Backend) (string, error) { return executor.URL, nil }})
	srv.SetTable(Build(Input{
		Bindings: []v1alpha1.ChannelBinding{serving(binding("shop", "wa", "orders", v1alpha1.ChannelWhatsApp, "277321005464405", "app", 1))},
		Secrets:  []corev1.Secret{secret("shop", "app", "appSecret", "s3cret", "verifyToken", "t")},
		Services: []corev1.Service{service("shop", "orders", "10.0.0.1")},
	}))
	gw := httptest.NewServer(srv.Handler())
	defer gw.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	front := srv.NewFrontend(&http.Server{Handler: srv.Handler()})
	go func() { _ = front.Serve(ln) }()
	defer front.Shutdown(context.Background())
	sig := meta.Sign(body, "s3cret")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	post := func(b *testing.B, url string) {
		req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/whatsapp", bytes.NewReader(body))
		req.Header.Set(meta.SignatureHeader, sig)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			post(b, executor.URL)
		}
	})
	b.Run("gateway", func(b *testing.B) {
		for b.Loop() {
			post(b, "http://"+ln.Addr().String())
		}
	})
	b.Run("gateway-nethttp", func(b *testing.B) {
		for b.Loop() {
			post(b, gw.URL)
		}
	})
	parallel := func(url string) func(b *testing.B) {
		return func(b *testing.B) {
			b.SetParallelism(25) // × 2 cores: 50 webhooks at once
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					post(b, url)
				}
			})
		}
	}
	b.Run("direct-50-at-once", parallel(executor.URL))
	b.Run("gateway-50-at-once", parallel("http://"+ln.Addr().String()))
}
