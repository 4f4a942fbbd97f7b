package dev

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/chatflow-dev/chatflow/internal/dev/statefile"
)

// printer writes the lines a developer reads, one at a time.
type printer struct {
	mu  sync.Mutex
	out io.Writer
}

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// raw writes text as it is.
func (p *printer) raw(text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprint(p.out, text)
}

// stateStore keeps the state file current.
type stateStore struct {
	mu    sync.Mutex
	dir   string
	state statefile.State
	log   *printer
	// live is false before the environment is up and after it stops: the
	// file is written only in between.
	live bool
}

func (s *stateStore) setExecutors(e map[string]statefile.Executor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.Executors = e
	s.writeLocked()
}

func (s *stateStore) setLive(live bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live = live
	s.writeLocked()
}

func (s *stateStore) writeLocked() {
	if !s.live {
		return
	}
	if err := statefile.WriteState(s.dir, &s.state); err != nil {
		s.log.printf("writing the state file: %v", err)
	}
}
