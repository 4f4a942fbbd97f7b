package viber_test

import (
	"bytes"
	"io"
	"net/http"
)

// readAll reads a request body and puts it back.
func readAll(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	return b, err
}
