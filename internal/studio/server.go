package studio

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The front end as `make studio` builds it from web/studio.
//
//go:embed all:dist
var dist embed.FS

// TokenHeader carries the token on API calls. A header (not only the
// cookie) is required for anything that changes state, so that a page of
// another origin cannot make the browser send one: that would need a CORS
// preflight, which the studio never answers.
const TokenHeader = "X-Chatflow-Studio-Token"

// maxBody bounds a request body: flows are at most 1000 nodes, and a
// Twilio export a few hundred kilobytes.
const maxBody = 8 << 20

// Server is a running studio.
type Server struct {
	opts  Options
	token string
	files *workspace
	live  *live
	chats *chats

	mu   sync.Mutex
	addr string // host:port it listens on, for the Host and Origin checks
}

// Options configure a studio.
type Options struct {
	// Paths are the files or the directory to open (default: the current
	// directory).
	Paths []string
	// Token is the secret of the URL; empty makes a random one.
	Token string
	// Cluster, when set, is the cluster of the user's kubeconfig.
	Cluster *Cluster
	// DevDir is the directory of a running `chatflow dev`, for chatting
	// with published flows and reading their executors' metrics.
	DevDir string
}

// New prepares a studio.
func New(o Options) (*Server, error) {
	ws, err := openWorkspace(o.Paths)
	if err != nil {
		return nil, err
	}
	tok := o.Token
	if tok == "" {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		tok = hex.EncodeToString(b)
	}
	s := &Server{opts: o, token: tok, files: ws, chats: newChats()}
	s.live = &live{cluster: o.Cluster, devDir: o.DevDir}
	return s, nil
}

// Token is the secret the URL carries.
func (s *Server) Token() string { return s.token }

// Serve serves the studio on ln until ctx is done.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	s.addr = ln.Addr().String()
	s.mu.Unlock()
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// URL is the address to open, token included.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "http://" + s.addr + "/?token=" + s.token
}

// Listen opens a loopback listener: the studio never listens elsewhere.
func Listen(port int) (net.Listener, error) {
	return net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
}

// Listen opens the studio's loopback listener, after which URL is known.
func (s *Server) Listen(port int) (net.Listener, error) {
	ln, err := Listen(port)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.addr = ln.Addr().String()
	s.mu.Unlock()
	return ln, nil
}

// Handler is the studio's HTTP handler, guarded by guard.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, h func(*http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			v, err := h(r)
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, v)
		})
	}
	api("GET /api/info", s.info)
	api("GET /api/schema", s.schema)
	api("GET /api/file", s.readFile)
	api("POST /api/validate", s.validate)
	api("POST /api/render", s.render)
	api("POST /api/save", s.save)
	api("POST /api/new", s.newFromTemplate)
	api("POST /api/export", s.export)
	api("POST /api/import", s.importFlow)
	api("POST /api/test", s.runTests)
	api("GET /api/live/flows", s.live.flows)
	api("GET /api/live/flow", s.live.flow)
	api("POST /api/live/validate", s.live.validate)
	api("POST /api/live/apply", s.live.apply)
	api("POST /api/live/state", s.live.setState)
	api("POST /api/live/delete", s.live.delete)
	api("GET /api/live/counters", s.live.counters)
	api("POST /api/chat/start", s.chatStart)
	api("POST /api/chat/send", s.chatSend)
	api("GET /api/chat/replies", s.chatReplies)
	mux.Handle("GET /", s.assets())
	return s.guard(mux)
}

// guard admits a request only when it comes to the studio's own address
// (a DNS-rebinding page names another host), from no other origin or site,
// and with the token: in TokenHeader for the API; for the page, in its URL
// (which then sets a cookie for the assets) or that cookie.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		addr := s.addr
		s.mu.Unlock()
		_, port, _ := net.SplitHostPort(addr)
		if r.Host != addr && r.Host != "localhost:"+port {
			http.Error(w, "the studio answers only on "+addr, http.StatusMisdirectedRequest)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
			http.Error(w, "cross-origin requests are refused", http.StatusForbidden)
			return
		}
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			http.Error(w, "cross-site requests are refused", http.StatusForbidden)
			return
		}
		cookie := "chatflow_studio_" + port
		header := r.Header.Get(TokenHeader)
		query := r.URL.Query().Get("token")
		var fromCookie string
		if c, err := r.Cookie(cookie); err == nil {
			fromCookie = c.Value
		}
		ok := s.tokenOK(header)
		// The page and its assets are loaded by the browser, which cannot
		// add a header: the URL's token, then the cookie. The API wants
		// the header, which only the studio's own page has.
		if !ok && (r.Method == http.MethodGet || r.Method == http.MethodHead) && !strings.HasPrefix(r.URL.Path, "/api/") {
			ok = s.tokenOK(query) || s.tokenOK(fromCookie)
		}
		if !ok {
			http.Error(w, "open the studio with the URL chatflow studio printed (it carries the token)", http.StatusUnauthorized)
			return
		}
		if s.tokenOK(query) {
			http.SetCookie(w, &http.Cookie{Name: cookie, Value: s.token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

func (s *Server) tokenOK(t string) bool {
	return t != "" && subtle.ConstantTimeCompare([]byte(t), []byte(s.token)) == 1
}

// assets serves the built front end; unknown paths get index.html.
func (s *Server) assets() http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err)
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/")
		if p == "" || p == "index.html" {
			w.Header().Set("Cache-Control", "no-store")
			b, err := fs.ReadFile(sub, "index.html")
			if err != nil {
				http.Error(w, "the studio's front end is not built: run make studio", http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(b)
			return
		}
		if _, err := fs.Stat(sub, p); err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		files.ServeHTTP(w, r)
	})
}

// apiError is an error with the HTTP status to answer it with.
type apiError struct {
	status int
	msg    string
	// detail is extra JSON for the front end (problems, causes).
	detail map[string]any
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	body := map[string]any{"error": err.Error()}
	var ae *apiError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		status = ae.status
		for k, v := range ae.detail {
			body[k] = v
		}
	case errors.As(err, &mbe):
		status = http.StatusRequestEntityTooLarge
		body["error"] = fmt.Sprintf("the request is larger than %d bytes", mbe.Limit)
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

// decode reads a JSON request body.
func decode(r *http.Request, into any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(into); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return badRequest("the request has no body")
		}
		return badRequest("the request is not the JSON expected: %v", err)
	}
	return nil
}
