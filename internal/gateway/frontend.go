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
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/channel/viber"
)

// Frontend serves the gateway's port. Nearly all its traffic is the
// channels' webhook POSTs, and net/http's server costs a hop about as much
// CPU as the forward itself (a request object, a header map, a context and
// a background read per request, each with its system calls). So a POST to
// a webhook path, in the plain form channels send it, is read and answered
// on Frontend's own HTTP/1.1 connection loop and handed to the very same
// handler as through Server.Handler. Anything else — a GET, the run API,
// /metrics, a chunked or 100-continue body, an unusual header, HTTP/1.0 —
// hands its connection, with the bytes already read, to HTTP, the net/http
// server with the full handler, which keeps that connection from then on.
// When in doubt the loop hands over: it never answers a request otherwise
// than net/http would.
type Frontend struct {
	// HTTP serves what the loop hands over; its timeouts bound the loop's
	// reads and writes too, with net/http's fallbacks (ReadTimeout for a
	// zero ReadHeaderTimeout or IdleTimeout).
	HTTP *http.Server

	hooks   webhooks
	handoff *handoffListener
	log     *slog.Logger

	// handedOver counts the connections handed to HTTP.
	handedOver atomic.Int64

	mu      sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]bool // connection → busy with a request
	closing bool
	wg      sync.WaitGroup
}

// NewFrontend returns the front end of s. fallback serves every request
// the loop hands over; its Handler must serve s.Handler()'s routes.
func (s *Server) NewFrontend(fallback *http.Server) *Frontend {
	return &Frontend{HTTP: fallback, hooks: s.webhooks(), handoff: newHandoffListener(), log: s.log, conns: map[net.Conn]bool{}}
}

// Serve accepts connections on ln until Shutdown or an accept error.
func (f *Frontend) Serve(ln net.Listener) error {
	f.mu.Lock()
	if f.closing {
		f.mu.Unlock()
		return http.ErrServerClosed
	}
	f.ln = ln
	f.handoff.addr = ln.Addr()
	f.mu.Unlock()
	httpDone := make(chan error, 1)
	go func() { httpDone <- f.HTTP.Serve(f.handoff) }()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			f.mu.Lock()
			closing := f.closing
			f.mu.Unlock()
			if closing {
				return http.ErrServerClosed
			}
			// As net/http does: a temporary error (EMFILE, ENFILE, a
			// timeout) is waited out with a backoff, not returned.
			var ne interface{ Temporary() bool }
			if errors.As(err, &ne) && ne.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				f.log.Error("accepting a connection", "error", err.Error(), "retry", delay)
				time.Sleep(delay)
				continue
			}
			f.handoff.Close()
			<-httpDone
			return err
		}
		delay = 0
		if !f.track(c, false) {
			c.Close()
			continue
		}
		go f.serveConn(c)
	}
}

// Shutdown stops accepting, closes idle connections and waits for the
// requests in flight, of the loop and of HTTP, or for ctx.
func (f *Frontend) Shutdown(ctx context.Context) error {
	f.mu.Lock()
	f.closing = true
	if f.ln != nil {
		f.ln.Close()
	}
	for c, busy := range f.conns {
		if !busy {
			c.Close()
		}
	}
	f.mu.Unlock()
	err := f.HTTP.Shutdown(ctx)
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return err
}

// track records c's state (busy: serving a request); it reports false
// when the front end is closing and c should not start a request.
func (f *Frontend) track(c net.Conn, busy bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing {
		return false
	}
	if _, ok := f.conns[c]; !ok {
		f.wg.Add(1)
	}
	f.conns[c] = busy
	return true
}

func (f *Frontend) isClosing() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closing
}

// untrack forgets c, closed or handed over.
func (f *Frontend) untrack(c net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.conns[c]; ok {
		delete(f.conns, c)
		f.wg.Done()
	}
}

// headBuffer is the read buffer of a connection: a request head that does
// not fit (a channel's is well under 1 KiB) goes to net/http, whose limit
// is MaxHeaderBytes.
const headBuffer = 4096

// maxDrain is how much of a body a handler left unread is read to keep the
// connection, as net/http does; above it the connection is closed.
const maxDrain = 256 << 10

func (f *Frontend) serveConn(c net.Conn) {
	br := bufio.NewReaderSize(c, headBuffer)
	remote := c.RemoteAddr().String()
	dl := deadlines{c: c}
	closeConn := func() {
		c.Close()
		f.untrack(c)
	}
	// As net/http does, a handler's panic costs its connection, not the
	// process.
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				f.log.Error("panic serving a webhook", "remote", remote, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			}
			closeConn()
		}
	}()
	var w hotWriter
	headTimeout := f.HTTP.ReadHeaderTimeout
	if headTimeout <= 0 {
		headTimeout = f.HTTP.ReadTimeout
	}
	idleTimeout := f.HTTP.IdleTimeout
	if idleTimeout <= 0 {
		idleTimeout = f.HTTP.ReadTimeout
	}
	if idleTimeout <= 0 {
		idleTimeout = headTimeout
	}
	for first := true; ; first = false {
		wait := idleTimeout
		if first {
			wait = headTimeout
		}
		dl.read(wait)
		if _, err := br.Peek(1); err != nil {
			closeConn()
			return
		}
		if !f.track(c, true) {
			closeConn()
			return
		}
		// A channel's request nearly always arrives whole in one read: the
		// head's and the body's own deadlines are set only when it did not.
		head, _ := br.Peek(br.Buffered())
		if end := headEnd(head); end > 0 {
			head = head[:end]
		} else {
			dl.read(headTimeout)
			var err error
			if head, err = peekHead(br); err != nil {
				closeConn()
				return
			}
		}
		req, ok := parseHot(string(head))
		var hook http.HandlerFunc
		if ok {
			hook, ok = f.route(req)
		}
		if !ok {
			f.handOver(c, br)
			return
		}
		if int64(br.Buffered()-len(head)) < req.length {
			dl.read(f.HTTP.ReadTimeout)
		}
		_, _ = br.Discard(len(head))
		dl.write(f.HTTP.WriteTimeout)
		body := &hotBody{r: br, n: req.length}
		r := req.request(body, remote)
		w.reset()
		hook(&w, r)
		// While shutting down, say so, so the channel's client does not
		// send its next request on a connection about to close.
		drained := body.drain()
		keep := !req.close && drained && !f.isClosing()
		_, err := c.Write(w.response(keep))
		if err == nil && !drained {
			// The client may still be sending the body the handler refused
			// (413): closing now would reset the connection before it reads
			// the answer. Say we are done, read what still comes for a
			// moment, then close, as net/http does.
			lingerClose(c)
		}
		if err != nil || !keep || !f.track(c, false) {
			closeConn()
			return
		}
	}
}

// deadlines sets a connection's read and write deadlines, d from now (none
// for d <= 0). A deadline that is at most a second earlier than asked is
// kept: re-arming the connection's timer on every request of a busy
// connection costs more than the second is worth against timeouts of ten
// seconds and more.
type deadlines struct {
	c         net.Conn
	rd, wrote time.Time
}

func (dl *deadlines) read(d time.Duration) {
	if t, ok := nextDeadline(dl.rd, d); ok {
		dl.rd = t
		_ = dl.c.SetReadDeadline(t)
	}
}

func (dl *deadlines) write(d time.Duration) {
	if t, ok := nextDeadline(dl.wrote, d); ok {
		dl.wrote = t
		_ = dl.c.SetWriteDeadline(t)
	}
}

// nextDeadline is the deadline to set d from now, and false when the
// current one is close enough below it.
func nextDeadline(current time.Time, d time.Duration) (time.Time, bool) {
	if d <= 0 {
		return time.Time{}, !current.IsZero()
	}
	want := time.Now().Add(d)
	if !current.IsZero() {
		if early := want.Sub(current); early >= 0 && early < min(time.Second, d/8) {
			return current, false
		}
	}
	return want, true
}

// lingerTime is how long a connection closed with a body left unread
// keeps reading it, so that the client sees the answer rather than a reset.
const lingerTime = 500 * time.Millisecond

func lingerClose(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.Copy(io.Discard, io.LimitReader(c, 2*MaxWebhookBody))
}

// route returns the webhook handler of req's path, with the request's
// path values set, or false when the path is not a webhook's.
func (f *Frontend) route(req *hotRequest) (http.HandlerFunc, bool) {
	if h, ok := f.hooks.meta[req.path]; ok {
		return h, true
	}
	if account, ok := strings.CutPrefix(req.path, "/webhooks/viber/"); ok && plainSegment(account) {
		req.account = account
		return f.hooks.viber, true
	}
	return nil, false
}

// handOver gives c, with what br holds of it, to the net/http server.
func (f *Frontend) handOver(c net.Conn, br *bufio.Reader) {
	_ = c.SetDeadline(time.Time{})
	f.untrack(c)
	f.handedOver.Add(1)
	if !f.handoff.give(&handedConn{Conn: c, r: br}) {
		c.Close()
	}
}

// peekHead returns the request head (request line and headers, through
// the empty line) without consuming it, reading more until it is whole. A
// head that does not fit the buffer is returned as is, for net/http.
func peekHead(br *bufio.Reader) ([]byte, error) {
	for {
		buf, _ := br.Peek(br.Buffered())
		if end := headEnd(buf); end > 0 {
			return buf[:end], nil
		}
		if br.Buffered() == br.Size() {
			return buf, nil // too long for the loop: parseHot refuses it
		}
		if _, err := br.Peek(br.Buffered() + 1); err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
}

// headEnd is the length of the head in buf through its empty line, or 0.
// Bare line feeds end it too, so a head in that form is found (and
// handed over) rather than waited on.
func headEnd(buf []byte) int {
	for i := 0; i < len(buf); {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			return 0
		}
		i += j + 1
		switch {
		case i < len(buf) && buf[i] == '\n':
			return i + 1
		case i+1 < len(buf) && buf[i] == '\r' && buf[i+1] == '\n':
			return i + 2
		}
	}
	return 0
}

// hotRequest is what the loop keeps of a webhook POST's head.
type hotRequest struct {
	target, path, host, account string
	length                      int64
	close                       bool
	// The headers the handlers read.
	signature, viberSignature, traceparent, tracestate string
}

// parseHot reads a request head in the exact form channels send a webhook:
// "POST <path> HTTP/1.1", CRLF line ends, a Host, one Content-Length,
// no Transfer-Encoding, Expect or Upgrade, and header names and values
// that net/http accepts as they are (httpguts, its own rules). Anything
// else is false: net/http decides about it. The values kept are slices of
// head.
func parseHot(head string) (*hotRequest, bool) {
	line, rest, ok := cutLine(head)
	if !ok {
		return nil, false
	}
	target, ok := strings.CutPrefix(line, "POST ")
	if !ok {
		return nil, false
	}
	target, ok = strings.CutSuffix(target, " HTTP/1.1")
	if !ok || !plainPath(target) {
		return nil, false
	}
	req := &hotRequest{target: target, path: target} // plain: no query, nothing escaped
	var seen uint8
	const (
		seenHost = 1 << iota
		seenLength
		seenSignature
		seenViberSignature
		seenTraceparent
		seenTracestate
	)
	// once keeps a header's value; a header seen twice is false.
	once := func(bit uint8, to *string, value string) bool {
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		*to = value
		return true
	}
	for {
		line, rest, ok = cutLine(rest)
		if !ok {
			return nil, false
		}
		if line == "" {
			break
		}
		name, value, found := strings.Cut(line, ":")
		value = strings.Trim(value, " \t")
		if !found || !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(value) {
			return nil, false
		}
		var good bool
		switch {
		case asciiEqualFold(name, "Host"):
			good = once(seenHost, &req.host, value) && hostValue(value)
		case asciiEqualFold(name, "Content-Length"):
			var length string
			good = once(seenLength, &length, value) && digits(length) && len(length) <= 18
			for i := range len(length) {
				req.length = req.length*10 + int64(length[i]-'0')
			}
		case asciiEqualFold(name, "Connection"):
			req.close = req.close || asciiEqualFold(value, "close")
			good = asciiEqualFold(value, "close") || asciiEqualFold(value, "keep-alive")
		case asciiEqualFold(name, "Transfer-Encoding"), asciiEqualFold(name, "Expect"), asciiEqualFold(name, "Upgrade"):
			good = false
		case asciiEqualFold(name, meta.SignatureHeader):
			good = once(seenSignature, &req.signature, value)
		case asciiEqualFold(name, viber.SignatureHeader):
			good = once(seenViberSignature, &req.viberSignature, value)
		case asciiEqualFold(name, "Traceparent"):
			good = once(seenTraceparent, &req.traceparent, value)
		case asciiEqualFold(name, "Tracestate"):
			good = once(seenTracestate, &req.tracestate, value)
		default:
			good = true
		}
		if !good {
			return nil, false
		}
	}
	if rest != "" || seen&seenHost == 0 || seen&seenLength == 0 {
		return nil, false
	}
	return req, true
}

// request is the *http.Request the webhook handlers get: the same fields
// they read from net/http's.
func (req *hotRequest) request(body io.ReadCloser, remote string) *http.Request {
	h := make(http.Header, 4)
	if req.signature != "" {
		h[meta.SignatureHeader] = []string{req.signature}
	}
	if req.viberSignature != "" {
		h[viber.SignatureHeader] = []string{req.viberSignature}
	}
	if req.traceparent != "" {
		h["Traceparent"] = []string{req.traceparent}
	}
	if req.tracestate != "" {
		h["Tracestate"] = []string{req.tracestate}
	}
	r := &http.Request{
		Method: http.MethodPost, URL: &url.URL{Path: req.path}, RequestURI: req.target,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h, Body: body,
		ContentLength: req.length, Host: req.host, RemoteAddr: remote, Close: req.close,
	}
	if req.length == 0 {
		r.Body = http.NoBody
	}
	if req.account != "" {
		r.SetPathValue("account", req.account)
	}
	return r
}

// cutLine cuts a CRLF-ended line off head; a bare LF is not one.
func cutLine(head string) (line, rest string, ok bool) {
	line, rest, ok = strings.Cut(head, "\n")
	line, cr := strings.CutSuffix(line, "\r")
	if !ok || !cr || strings.IndexByte(line, '\r') >= 0 {
		return "", "", false
	}
	return line, rest, true
}

// plainPath: an absolute path of unreserved characters in segments that
// are neither empty nor dot segments, so that net/http's mux would route
// it as it is, without a redirect or an unescape.
func plainPath(p string) bool {
	rest, ok := strings.CutPrefix(p, "/")
	if !ok {
		return false
	}
	for seg := range strings.SplitSeq(rest, "/") {
		if !plainSegment(seg) {
			return false
		}
	}
	return true
}

func plainSegment(seg string) bool {
	if seg == "" || seg == "." || seg == ".." {
		return false
	}
	for i := range len(seg) {
		if !unreserved(seg[i]) {
			return false
		}
	}
	return true
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// hostValue: a host name or address with an optional port, nothing
// net/http would refuse or read otherwise.
func hostValue(h string) bool {
	if h == "" {
		return false
	}
	for i := range len(h) {
		if c := h[i]; !unreserved(c) && c != ':' && c != '[' && c != ']' {
			return false
		}
	}
	return true
}

func digits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// asciiEqualFold is strings.EqualFold for ASCII only, as net/http compares
// header tokens: Unicode folding would take "cloſe" for "close".
func asciiEqualFold(b, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// hotBody is a webhook's body, read from the connection's buffer.
type hotBody struct {
	r *bufio.Reader
	n int64
}

func (b *hotBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	if err == io.EOF && b.n > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *hotBody) Close() error { return nil }

// drain reads what the handler left of the body, when it is short enough
// to keep the connection; it reports whether the connection can carry the
// next request.
func (b *hotBody) drain() bool {
	if b.n == 0 {
		return true
	}
	if b.n > maxDrain {
		return false
	}
	_, err := io.Copy(io.Discard, b)
	return err == nil && b.n == 0
}

// hotWriter collects a handler's answer, written whole with its
// Content-Length (the handlers' answers are short).
type hotWriter struct {
	header http.Header
	code   int
	body   []byte
	out    []byte
}

func (w *hotWriter) reset() {
	clear(w.header)
	w.code, w.body, w.out = 0, w.body[:0], w.out[:0]
}

func (w *hotWriter) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

func (w *hotWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *hotWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.body = append(w.body, p...)
	return len(p), nil
}

// response is the answer's bytes, as net/http would write them: the Date,
// a sniffed Content-Type for a body without one, the Content-Length.
func (w *hotWriter) response(keep bool) []byte {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	out := append(w.out[:0], "HTTP/1.1 "...)
	out = strconv.AppendInt(out, int64(w.code), 10)
	out = append(out, ' ')
	if text := http.StatusText(w.code); text != "" {
		out = append(out, text...)
	} else {
		out = append(out, "status code "...)
		out = strconv.AppendInt(out, int64(w.code), 10)
	}
	out = append(out, "\r\nDate: "...)
	out = append(out, httpDate()...)
	out = append(out, "\r\n"...)
	if w.code == http.StatusNoContent || w.code == http.StatusNotModified || w.code < 200 {
		w.body = w.body[:0] // no body, no Content-Length, as net/http
	} else {
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, int64(len(w.body)), 10)
		out = append(out, "\r\n"...)
	}
	if len(w.body) > 0 && w.header.Get("Content-Type") == "" {
		out = append(out, "Content-Type: "...)
		out = append(out, http.DetectContentType(w.body)...)
		out = append(out, "\r\n"...)
	}
	for k, vs := range w.header {
		if k == "Content-Length" || k == "Date" || k == "Connection" {
			continue
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) || !httpguts.ValidHeaderFieldName(k) {
				continue // never split the answer; the handlers set no such header
			}
			out = append(out, k...)
			out = append(out, ": "...)
			out = append(out, v...)
			out = append(out, "\r\n"...)
		}
	}
	if !keep {
		out = append(out, "Connection: close\r\n"...)
	}
	out = append(out, "\r\n"...)
	out = append(out, w.body...)
	w.out = out
	return out
}

// httpDate is the Date header's value, formatted once a second.
func httpDate() string {
	now := time.Now().Unix()
	if d := cachedDate.Load(); d != nil && d.unix == now {
		return d.text
	}
	d := &dateText{unix: now, text: time.Unix(now, 0).UTC().Format(http.TimeFormat)}
	cachedDate.Store(d)
	return d.text
}

type dateText struct {
	unix int64
	text string
}

var cachedDate atomic.Pointer[dateText]

// handedConn is a connection handed to net/http, which reads first what
// the loop had buffered of it.
type handedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *handedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// handoffListener is the listener of the net/http server: it accepts the
// connections the loop hands over.
type handoffListener struct {
	addr   net.Addr
	conns  chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newHandoffListener() *handoffListener {
	return &handoffListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// give hands c to the server; false once the listener is closed.
func (l *handoffListener) give(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }
