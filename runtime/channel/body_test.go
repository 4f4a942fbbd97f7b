package channel_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/channel"
)

// chunked hides the length so ReadBody must count what it reads.
type chunked struct{ io.Reader }

func TestReadBody(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		length  int64 // -1: unknown
		max     int64
		want    string
		tooBig  bool
		wantErr bool
	}{
		{name: "under the cap", body: "hello", length: 5, max: 10, want: "hello"},
		{name: "exactly the cap", body: "0123456789", length: 10, max: 10, want: "0123456789"},
		{name: "Content-Length over the cap", body: "0123456789x", length: 11, max: 10, tooBig: true},
		{name: "unknown length over the cap", body: strings.Repeat("a", 11), length: -1, max: 10, tooBig: true},
		{name: "unknown length under the cap", body: "abc", length: -1, max: 10, want: "abc"},
		{name: "empty", body: "", length: 0, max: 10, want: ""},
		{name: "default cap", body: "x", length: 1, max: 0, want: "x"},
		{name: "a known length beyond the first buffer", body: strings.Repeat("b", 100<<10), length: 100 << 10, max: 1 << 20, want: strings.Repeat("b", 100<<10)},
		{name: "an unknown length beyond the first buffer", body: strings.Repeat("c", 5000), length: -1, max: 1 << 20, want: strings.Repeat("c", 5000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/webhooks/whatsapp", chunked{strings.NewReader(tt.body)})
			r.ContentLength = tt.length
			got, err := channel.ReadBody(r, tt.max)
			if tt.tooBig {
				var tl *channel.TooLargeError
				if !errors.As(err, &tl) || !errors.Is(err, channel.ErrTooLarge) || tl.Limit != tt.max {
					t.Fatalf("err = %v, want *TooLargeError{%d}", err, tt.max)
				}
				if s := channel.HTTPStatus(err); s != http.StatusRequestEntityTooLarge {
					t.Fatalf("HTTPStatus = %d, want 413", s)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("ReadBody = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestHTTPStatus(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, 200},
		{&channel.TooLargeError{Limit: 1}, 413},
		{channel.ErrMalformed, 400},
		{errors.Join(errors.New("x"), channel.ErrUnauthenticated), 401},
		{channel.ErrForbidden, 403},
		{errors.New("disk full"), 500},
	}
	for _, tt := range tests {
		if got := channel.HTTPStatus(tt.err); got != tt.want {
			t.Errorf("HTTPStatus(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
