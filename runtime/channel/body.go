package channel

import (
	"fmt"
	"io"
	"net/http"
)

// DefaultMaxBody is the webhook body cap used when ReadBody gets max <= 0.
// Meta documents batches of up to 1000 updates (about 3 MB); 4 MiB leaves
// headroom without letting a client exhaust memory.
const DefaultMaxBody int64 = 4 << 20

// ReadBody reads the whole request body, at most max bytes (DefaultMaxBody
// when max <= 0), so signatures can be verified over the exact raw bytes
// and the same slice parsed. A longer body (by Content-Length or by what
// was actually read) yields a *TooLargeError, which the server answers with
// 413. It does not close r.Body; the http.Server does.
func ReadBody(r *http.Request, max int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxBody
	}
	if r.ContentLength > max {
		return nil, &TooLargeError{Limit: max}
	}
	if r.Body == nil || r.Body == http.NoBody {
		return []byte{}, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading request body: %w", err)
	}
	if int64(len(b)) > max {
		return nil, &TooLargeError{Limit: max}
	}
	return b, nil
}
