package sandbox

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Options configures a Server. The zero value is a working sandbox that
// accepts any bearer token and never fails on its own.
type Options struct {
	// Tokens maps an account (a WhatsApp phone_number_id) to the bearer
	// token its sends must carry. Accounts not listed accept any non-empty
	// token.
	Tokens map[string]string
	// FailureRate is the share (0..1) of otherwise valid sends that fail
	// with one of FailureCodes, drawn from a generator seeded with Seed so
	// runs are reproducible.
	FailureRate float64
	// FailureCodes are the codes random failures use (default 130429 and
	// 500).
	FailureCodes []int
	// Seed seeds the random failures.
	Seed uint64
	// MaxRecords bounds the record of accepted messages; the oldest are
	// dropped first (default 100000).
	MaxRecords int
	// MaxFaults bounds the pending faults (default 1000).
	MaxFaults int
	// RetryAfter is the Retry-After of rate-limit faults (default 1s;
	// rounded up to whole seconds).
	RetryAfter time.Duration
	// MaxWait caps the wait of a long poll (default 60s).
	MaxWait time.Duration
	// MaxBody caps a send request body (default 1 MiB).
	MaxBody int64
	// Now is the clock of receivedAt (default time.Now).
	Now func() time.Time
	// Instagram lists the accounts whose Send API requests are Instagram
	// Messaging ones (recorded as channel "instagram", with Instagram's
	// limits); the other Send API accounts are Messenger Pages.
	Instagram []string
	// ViberCallback makes set_webhook call the URL back with the signed
	// "webhook" event before accepting it, as Viber does.
	ViberCallback bool
	// MetaCallback makes a WhatsApp number's override callback registration
	// verify the URL with Meta's GET handshake first (the challenge must
	// come back), as Meta does; it refuses with error 2200 otherwise.
	MetaCallback bool
	// ModelAPIKey is the bearer key the model stand-in requires; empty
	// accepts any non-empty key.
	ModelAPIKey string
}

// api is one channel's send API contract; each lives in its own file.
type api interface {
	// name is the channel's name in records, faults and queries
	// ("whatsapp").
	name() string
	// route reports whether the path (split on "/") is one of this API's
	// endpoints, and the account it addresses.
	route(segs []string) (account string, ok bool)
	// serve handles a routed request.
	serve(w http.ResponseWriter, r *http.Request, account string)
}

// Server is the sandbox. Create it with New; it is safe for concurrent
// use.
type Server struct {
	opts      Options
	apis      []api
	messenger *messengerAPI
	viber     *viberAPI
	numbers   *numberAPI
	model     *modelAPI
	store     *store
	faults    *faults

	hooksMu sync.Mutex
	hooks   []Webhook

	rngMu sync.Mutex
	rng   *rand.Rand
}

// New returns a sandbox configured by opts.
func New(opts Options) *Server {
	if opts.MaxRecords <= 0 {
		opts.MaxRecords = 100_000
	}
	if opts.MaxFaults <= 0 {
		opts.MaxFaults = 1000
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = time.Second
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = 60 * time.Second
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 1 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if len(opts.FailureCodes) == 0 {
		opts.FailureCodes = []int{130429, 500}
	}
	s := &Server{
		opts:   opts,
		store:  newStore(opts.MaxRecords),
		faults: &faults{max: opts.MaxFaults},
		rng:    rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
	}
	s.messenger, s.viber, s.numbers = &messengerAPI{s: s}, &viberAPI{s: s}, &numberAPI{s: s, overrides: map[string]string{}}
	s.model = &modelAPI{s: s, answers: &answers{max: opts.MaxFaults}}
	s.apis = []api{s.messenger, &whatsappAPI{s: s}, s.viber, s.numbers, s.model}
	return s
}

// ServeHTTP routes the control API under /sandbox/ and the channels' send
// APIs.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/sandbox/faults":
		s.serveFaults(w, r)
		return
	case "/sandbox/messages":
		s.serveMessages(w, r)
		return
	case "/sandbox/model/answers":
		s.serveAnswers(w, r)
		return
	case "/sandbox/webhooks":
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
			return
		}
		writeJSON(w, http.StatusOK, map[string][]Webhook{"webhooks": s.Webhooks()})
		return
	}
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	for _, a := range s.apis {
		if account, ok := a.route(segs); ok {
			a.serve(w, r, account)
			return
		}
	}
	http.NotFound(w, r)
}

// knownChannel reports whether name is a channel the sandbox serves
// (instagram is served by the Messenger API).
func (s *Server) knownChannel(name string) bool {
	if strings.EqualFold(name, "instagram") {
		return true
	}
	for _, a := range s.apis {
		if strings.EqualFold(a.name(), name) {
			return true
		}
	}
	return false
}

// randomFault draws the random failure of one send, if any.
func (s *Server) randomFault() (int, bool) {
	if s.opts.FailureRate <= 0 {
		return 0, false
	}
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	if s.rng.Float64() >= s.opts.FailureRate {
		return 0, false
	}
	return s.opts.FailureCodes[s.rng.IntN(len(s.opts.FailureCodes))], true
}
