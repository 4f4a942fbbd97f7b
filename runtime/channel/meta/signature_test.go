package meta_test

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
)

// vector reads the real Meta capture of testdata/signature_vector.txt.
func vector(t testing.TB) (secret, header string, body []byte) {
	t.Helper()
	f, err := os.Open("testdata/signature_vector.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "secret:"); ok {
			secret = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "header:"); ok {
			header = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), meta.SignatureHeader+":"))
		}
	}
	body, err = os.ReadFile("testdata/signature_vector_body.json")
	if err != nil {
		t.Fatal(err)
	}
	if secret == "" || header == "" || len(body) != 511 {
		t.Fatalf("bad vector: secret %q header %q body %d bytes", secret, header, len(body))
	}
	return secret, header, body
}

func TestVerifySignatureVector(t *testing.T) {
	secret, header, body := vector(t)
	flipped := bytes.Clone(body)
	flipped[100] ^= 0x01
	tests := []struct {
		name   string
		header string
		body   []byte
		secret string
		want   error
	}{
		{"valid", header, body, secret, nil},
		{"valid with uppercase hex", "sha256=" + strings.ToUpper(strings.TrimPrefix(header, "sha256=")), body, secret, nil},
		{"one flipped byte", header, flipped, secret, meta.ErrSignatureMismatch},
		{"trailing newline", header, append(bytes.Clone(body), '\n'), secret, meta.ErrSignatureMismatch},
		{"wrong secret", header, body, secret[:len(secret)-1] + "7", meta.ErrSignatureMismatch},
		{"missing header", "", body, secret, meta.ErrSignatureMissing},
		{"no sha256= prefix", strings.TrimPrefix(header, "sha256="), body, secret, meta.ErrSignatureMalformed},
		{"sha1 scheme", "sha1=" + strings.TrimPrefix(header, "sha256="), body, secret, meta.ErrSignatureMalformed},
		{"not hex", "sha256=" + strings.Repeat("zz", 32), body, secret, meta.ErrSignatureMalformed},
		{"truncated", header[:len(header)-2], body, secret, meta.ErrSignatureMalformed},
		{"no app secret", header, body, "", meta.ErrNoAppSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := meta.VerifySignature(tt.header, tt.body, tt.secret)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("VerifySignature = %v, want %v", err, tt.want)
			}
			if tt.want != nil && channel.HTTPStatus(err) != http.StatusUnauthorized {
				t.Fatalf("HTTPStatus(%v) = %d, want 401", err, channel.HTTPStatus(err))
			}
		})
	}
}

func TestSignMatchesVector(t *testing.T) {
	secret, header, body := vector(t)
	if got := meta.Sign(body, secret); got != header {
		t.Fatalf("Sign = %s, want %s", got, header)
	}
}

func TestVerifierAuthenticate(t *testing.T) {
	secret, header, body := vector(t)
	v := meta.Verifier{AppSecret: func() string { return secret }}
	h := http.Header{}
	if err := v.Authenticate(h, body); !errors.Is(err, meta.ErrSignatureMissing) {
		t.Fatalf("no header: %v", err)
	}
	h.Set(meta.SignatureHeader, header)
	if err := v.Authenticate(h, body); err != nil {
		t.Fatalf("valid: %v", err)
	}
	if err := (meta.Verifier{}).Authenticate(h, body); !errors.Is(err, meta.ErrNoAppSecret) {
		t.Fatalf("no secret func: %v", err)
	}
}

func FuzzVerifySignature(f *testing.F) {
	secret, header, body := vector(f)
	f.Add(header, body, secret)
	f.Add("", body, secret)
	f.Add("sha256=", []byte{}, "k")
	f.Add("sha256="+strings.Repeat("0", 64), []byte("{}"), "k")
	f.Fuzz(func(t *testing.T, header string, body []byte, secret string) {
		err := meta.VerifySignature(header, body, secret)
		if err != nil && !errors.Is(err, channel.ErrUnauthenticated) {
			t.Fatalf("error %v does not wrap ErrUnauthenticated", err)
		}
		if err == nil && !strings.EqualFold(header, meta.Sign(body, secret)) {
			t.Fatalf("accepted %q for a body whose signature is %q", header, meta.Sign(body, secret))
		}
		if secret != "" {
			if err := meta.VerifySignature(meta.Sign(body, secret), body, secret); err != nil {
				t.Fatalf("own signature refused: %v", err)
			}
		}
	})
}
