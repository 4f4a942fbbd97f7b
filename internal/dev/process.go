package dev

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// process supervises one local process the way a kubelet supervises a
// container: it starts it, restarts it with a growing back-off when it
// exits, probes its readiness over HTTP, and stops it with SIGTERM, then
// SIGKILL after the grace period. Every change is reported through
// onChange.
type process struct {
	name    string
	bin     string
	args    []string
	env     []string
	dir     string
	logPath string
	// probeURL is polled for readiness (2xx is ready); empty means ready
	// once started.
	probeURL string
	grace    time.Duration
	onChange func()

	mu       sync.Mutex
	pid      int
	ready    bool
	restarts int
	stopping bool
	lastExit string

	stop chan struct{}
	done chan struct{}
}

// start runs the supervision loop until stopAndWait.
func (p *process) start() {
	p.stop = make(chan struct{})
	p.done = make(chan struct{})
	go p.supervise()
}

func (p *process) supervise() {
	defer close(p.done)
	backoff := time.Second
	for {
		started := time.Now()
		cmd, exited, err := p.run()
		if err != nil {
			p.setExit(fmt.Sprintf("could not start: %v", err))
		} else {
			probeDone := make(chan struct{})
			go p.probe(exited, probeDone)
			select {
			case <-exited:
			case <-p.stop:
				p.terminate(cmd, exited)
			}
			<-probeDone
			p.setExit(exitReason(cmd))
		}
		p.mu.Lock()
		p.pid, p.ready = 0, false
		stopping := p.stopping
		p.mu.Unlock()
		p.changed()
		if stopping {
			return
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		select {
		case <-time.After(backoff):
		case <-p.stop:
			return
		}
		backoff = min(2*backoff, 30*time.Second)
		p.mu.Lock()
		p.restarts++
		p.mu.Unlock()
	}
}

// run starts the process with its output appended to the log.
func (p *process) run() (*exec.Cmd, chan struct{}, error) {
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env, cmd.Dir = p.env, p.dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	if err := startCommand(cmd); err != nil {
		log.Close()
		return nil, nil, err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(exited)
	}()
	p.mu.Lock()
	p.pid = cmd.Process.Pid
	p.mu.Unlock()
	p.changed()
	return cmd, exited, nil
}

// terminate sends SIGTERM to the process group and SIGKILL after the
// grace period.
func (p *process) terminate(cmd *exec.Cmd, exited chan struct{}) {
	terminateGroup(cmd.Process.Pid)
	select {
	case <-exited:
	case <-time.After(p.grace):
		killGroup(cmd.Process.Pid)
		<-exited
	}
}

// probe polls readiness until the process exits: every 250ms until it is
// ready, then every second.
func (p *process) probe(exited chan struct{}, done chan struct{}) {
	defer close(done)
	client := &http.Client{Timeout: 2 * time.Second}
	interval := 250 * time.Millisecond
	for {
		ready := true
		if p.probeURL != "" {
			resp, err := client.Get(p.probeURL)
			ready = err == nil && resp.StatusCode/100 == 2
			if err == nil {
				resp.Body.Close()
			}
		}
		p.setReady(ready)
		if ready {
			interval = time.Second
		}
		select {
		case <-exited:
			return
		case <-time.After(interval):
		}
	}
}

func (p *process) setReady(ready bool) {
	p.mu.Lock()
	changed := p.ready != ready && !p.stopping
	if !p.stopping {
		p.ready = ready
	}
	p.mu.Unlock()
	if changed {
		p.changed()
	}
}

func (p *process) setExit(reason string) {
	p.mu.Lock()
	p.lastExit = reason
	p.mu.Unlock()
}

func (p *process) changed() {
	if p.onChange != nil {
		p.onChange()
	}
}

// stopAndWait stops the process (SIGTERM, then SIGKILL after the grace
// period) and waits until it is gone.
func (p *process) stopAndWait() {
	p.mu.Lock()
	if !p.stopping {
		p.stopping = true
		p.ready = false
		close(p.stop)
	}
	p.mu.Unlock()
	<-p.done
}

// beginStop starts stopping the process without waiting.
func (p *process) beginStop() {
	go p.stopAndWait()
}

// snapshot is the process's state at one moment.
type snapshot struct {
	pid      int
	ready    bool
	restarts int
	stopping bool
	exited   bool
	lastExit string
}

func (p *process) snapshot() snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := snapshot{pid: p.pid, ready: p.ready, restarts: p.restarts, stopping: p.stopping, lastExit: p.lastExit}
	select {
	case <-p.done:
		s.exited = true
	default:
	}
	return s
}

func exitReason(cmd *exec.Cmd) string {
	st := cmd.ProcessState
	if st == nil {
		return "unknown"
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return fmt.Sprintf("exit code %d", st.ExitCode())
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitHTTP waits until url answers 2xx.
func waitHTTP(ctx context.Context, url string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			return errors.Join(ctx.Err(), err)
		case <-exited:
			return errors.New("the process exited")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// spawns carries process starts to the spawner goroutine.
var spawns = make(chan spawn)

type spawn struct {
	cmd  *exec.Cmd
	done chan error
}

func init() { go spawner() }

// spawner starts every child from one OS thread that never exits: the
// kernel sends a child's parent-death signal when the thread that forked
// it exits, and Go may otherwise retire threads.
func spawner() {
	runtime.LockOSThread()
	for s := range spawns {
		s.done <- s.cmd.Start()
	}
}

// startCommand starts cmd from the spawner thread.
func startCommand(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	spawns <- spawn{cmd: cmd, done: done}
	return <-done
}
