package sandbox

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
)

// Fault makes the next Times matching sends fail with Code.
type Fault struct {
	// ID is assigned by the sandbox.
	ID int64 `json:"id"`
	// Channel the fault applies to ("whatsapp"); required.
	Channel string `json:"channel"`
	// To restricts the fault to one recipient; empty matches all.
	To string `json:"to,omitempty"`
	// Code is the channel's error code (130429, 131047, 131056, ...) or an
	// HTTP status 500–599.
	Code int `json:"code"`
	// Times is how many sends fail (0 means 1; negative means until the
	// faults are cleared). GET shows what remains.
	Times int `json:"times"`
	// After lets this many matching sends through before the fault
	// applies: a fault on the third message of a conversation. While it
	// counts down, later faults for the same sends wait their turn.
	After int `json:"after,omitempty"`
}

// faults is the pending fault list.
type faults struct {
	mu     sync.Mutex
	max    int
	nextID int64
	list   []Fault
}

// errTooManyFaults is returned by add when the list is full.
type errTooManyFaults struct{}

// Error says the fault list is full (answered 409).
func (errTooManyFaults) Error() string { return "too many pending faults" }

func (f *faults) add(x Fault) (Fault, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.list) >= f.max {
		return Fault{}, errTooManyFaults{}
	}
	if x.Times == 0 {
		x.Times = 1
	}
	f.nextID++
	x.ID = f.nextID
	f.list = append(f.list, x)
	return x, nil
}

// take consumes one use of the first fault matching channel and to.
func (f *faults) take(channel, to string) (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.list {
		x := &f.list[i]
		if !strings.EqualFold(x.Channel, channel) || (x.To != "" && normalizeTo(x.To) != normalizeTo(to)) {
			continue
		}
		if x.After > 0 {
			x.After--
			return 0, false
		}
		code := x.Code
		if x.Times > 0 {
			x.Times--
			if x.Times == 0 {
				f.list = append(f.list[:i], f.list[i+1:]...)
			}
		}
		return code, true
	}
	return 0, false
}

func (f *faults) snapshot() []Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Fault{}, f.list...)
}

func (f *faults) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = nil
}

// AddFault injects a fault, as POST /sandbox/faults does.
func (s *Server) AddFault(x Fault) (Fault, error) {
	if !s.knownChannel(x.Channel) {
		return Fault{}, errUnknownChannel(x.Channel)
	}
	return s.faults.add(x)
}

// ClearFaults removes every pending fault.
func (s *Server) ClearFaults() { s.faults.reset() }

type errUnknownChannel string

// Error names the channel the sandbox does not serve (answered 400).
func (e errUnknownChannel) Error() string { return "unknown channel " + string(e) }

// serveFaults is the /sandbox/faults control API.
func (s *Server) serveFaults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		var x Fault
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&x); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be {channel, to, code, times, after}: " + err.Error()})
			return
		}
		if x.Code == 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "code is required"})
			return
		}
		added, err := s.AddFault(x)
		switch err.(type) {
		case nil:
			writeJSON(w, http.StatusCreated, added)
		case errTooManyFaults:
			writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		default:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		}
	case http.MethodGet:
		writeJSON(w, http.StatusOK, map[string][]Fault{"faults": s.faults.snapshot()})
	case http.MethodDelete:
		s.faults.reset()
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
	}
}
