package otlphttp

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Any OTEL_EXPORTER_OTLP_HEADERS either is refused or gives headers an
// HTTP request carries as they are.
func FuzzParseHeaders(f *testing.F) {
	for _, s := range []string{"x-api-key=a%20b, tenant=shop", "novalue", "a b=c", "auth=x%0Ay", "=v", "k=%zz", "k=v,,", "k=\x00"} {
		f.Add(s)
	}
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header }))
	defer srv.Close()
	f.Fuzz(func(t *testing.T, v string) {
		h, err := parseHeaders(v)
		if err != nil {
			if h != nil {
				t.Errorf("headers %v with the error %v", h, err)
			}
			return
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
		for k, val := range h {
			req.Header.Set(k, val)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatalf("headers %q parsed from %q cannot be sent: %v", h, v, err)
		}
		resp.Body.Close()
		sent := <-got
		for k, val := range h {
			if sent.Get(k) != val && sent.Get(k) != trimmed(val) {
				t.Errorf("header %s: sent %q, received %q", k, val, sent.Get(k))
			}
		}
	})
}

// trimmed is a header value as a server reads it: without the spaces
// and tabs around it.
func trimmed(v string) string {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}
