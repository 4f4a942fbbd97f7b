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
	b, err := readAll(io.LimitReader(r.Body, max+1), r.ContentLength)
	if err != nil {
		return nil, fmt.Errorf("reading request body: %w", err)
	}
	if int64(len(b)) > max {
		return nil, &TooLargeError{Limit: max}
	}
	return b, nil
}

// readAll is io.ReadAll with the buffer sized from the Content-Length when
// there is one (one byte more, so the read that meets EOF needs no room),
// instead of growing from 512 bytes: a webhook is read on every request.
// The size taken on trust is bounded, so a client that announces a large
// body and sends none does not reserve memory for it.
func readAll(r io.Reader, length int64) ([]byte, error) {
	size := int64(512)
	if length > 0 {
		size = min(length+1, 64<<10)
	}
	b := make([]byte, 0, size)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow
		}
	}
}
