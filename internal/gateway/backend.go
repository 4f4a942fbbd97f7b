package gateway

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// backends posts to executors over plain HTTP/1.1 keep-alive connections,
// writing the request and reading the answer on the calling goroutine.
// net/http's Transport hands every request to two goroutines of its
// connection and back through channels; on a forward that is the hop's
// main cost after the system calls. Anything but an http:// URL goes
// through net/http.
type backends struct {
	fallback *http.Client
	dialer   net.Dialer
	// maxIdle bounds the idle connections kept per executor address.
	maxIdle int

	mu   sync.Mutex
	idle map[string][]*backendConn
}

// backendConn is one keep-alive connection to an executor.
type backendConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

func newBackends(fallback *http.Client) *backends {
	return &backends{fallback: fallback, dialer: net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second},
		maxIdle: 256, idle: map[string][]*backendConn{}}
}

// post sends body to base+path with the headers h within timeout and
// returns the answer. A request that fails on a reused connection before
// any answer (the executor closed it while idle, or its pod is gone) is
// sent again once on a new connection, after the host's other idle
// connections are dropped: they were opened through the same Service at
// the same time and likely lead to the same gone pod. Executors
// deduplicate what they already accepted.
func (b *backends) post(ctx context.Context, base, path string, body []byte, h http.Header, timeout time.Duration) result {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.User != nil {
		return b.do(ctx, http.MethodPost, base+path, body, h, timeout, maxReply)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	target := u.EscapedPath() + path
	deadline := time.Now().Add(timeout)
	for attempt := 0; ; attempt++ {
		conn, reused, err := b.get(ctx, host, deadline, attempt > 0)
		if err != nil {
			return result{err: err}
		}
		res, answered := b.roundTrip(conn, u.Host, target, body, h, deadline)
		if res.err == nil {
			return res
		}
		if !reused || answered || attempt > 0 || ctx.Err() != nil {
			return res
		}
		b.dropIdle(host)
	}
}

// dropIdle closes every idle connection to host.
func (b *backends) dropIdle(host string) {
	b.mu.Lock()
	list := b.idle[host]
	delete(b.idle, host)
	b.mu.Unlock()
	for _, c := range list {
		c.c.Close()
	}
}

// roundTrip writes one request and reads its answer. answered reports
// whether any of the answer arrived (then it must not be sent again).
func (b *backends) roundTrip(conn *backendConn, host, target string, body []byte, h http.Header, deadline time.Time) (result, bool) {
	fail := func(err error, answered bool) (result, bool) {
		conn.c.Close()
		return result{err: err}, answered
	}
	if err := conn.c.SetDeadline(deadline); err != nil {
		return fail(err, false)
	}
	w := conn.bw
	w.WriteString("POST ")
	w.WriteString(target)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\nUser-Agent: chatflow-gateway\r\nContent-Type: application/json\r\nContent-Length: ")
	w.WriteString(strconv.Itoa(len(body)))
	w.WriteString("\r\n")
	for k, vs := range h {
		for _, v := range vs {
			if strings.ContainsAny(k+v, "\r\n") {
				continue // never split the request; our headers have no line breaks
			}
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	w.WriteString("\r\n")
	w.Write(body)
	if err := w.Flush(); err != nil {
		return fail(err, false)
	}
	if _, err := conn.br.Peek(1); err != nil {
		return fail(err, false)
	}
	resp, err := http.ReadResponse(conn.br, nil)
	if err != nil {
		return fail(err, true)
	}
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	reusable := err == nil && !resp.Close
	if reusable {
		// Drain a little more, so the connection can carry the next one;
		// an answer longer than that closes it instead.
		n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		reusable = err == nil && n < 1<<20
	}
	resp.Body.Close()
	res := result{code: resp.StatusCode, body: out, contentType: resp.Header.Get("Content-Type"), err: err}
	if !reusable {
		conn.c.Close()
		return res, true
	}
	_ = conn.c.SetDeadline(time.Time{})
	b.put(host, conn)
	return res, true
}

// get returns an idle connection to host, else (or when fresh) a new one.
func (b *backends) get(ctx context.Context, host string, deadline time.Time, fresh bool) (*backendConn, bool, error) {
	b.mu.Lock()
	if list := b.idle[host]; len(list) > 0 && !fresh {
		conn := list[len(list)-1]
		b.idle[host] = list[:len(list)-1]
		b.mu.Unlock()
		return conn, true, nil
	}
	b.mu.Unlock()
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	c, err := b.dialer.DialContext(dctx, "tcp", host)
	if err != nil {
		return nil, false, err
	}
	return &backendConn{c: c, br: bufio.NewReaderSize(c, 4096), bw: bufio.NewWriterSize(c, 4096)}, false, nil
}

// put keeps a connection for the next request, or closes it when enough
// are kept.
func (b *backends) put(host string, conn *backendConn) {
	b.mu.Lock()
	if len(b.idle[host]) < b.maxIdle {
		b.idle[host] = append(b.idle[host], conn)
		conn = nil
	}
	b.mu.Unlock()
	if conn != nil {
		conn.c.Close()
	}
}

// do sends a request through net/http: posts to https executors outside a
// cluster, and the inspector's GETs, which are rare and need no pool of
// their own. It reads up to limit bytes of the answer.
func (b *backends) do(ctx context.Context, method, url string, body []byte, h http.Header, timeout time.Duration, limit int64) result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return result{err: err}
	}
	req.Header = h.Clone()
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.fallback.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return result{code: resp.StatusCode, body: out, contentType: resp.Header.Get("Content-Type"), err: err}
}
