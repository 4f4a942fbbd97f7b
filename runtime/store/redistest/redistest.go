// Package redistest runs a private redis-server for tests: on a free
// loopback port, with its data in t.TempDir(), stopped when the test ends.
// It never touches a shared or system Redis, and it never skips: without
// redis-server the test fails and says how to install it.
//
// It is test support for runtime/store and imports nothing of this module.
package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a redis-server process owned by one test.
type Server struct {
	t       testing.TB
	bin     string
	Dir     string // data directory (AOF, nodes.conf, redis.log)
	Port    int
	cluster bool
	extra   []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	gone chan struct{} // closed when cmd exited
}

// Start runs redis-server with append-only persistence and returns its URL
// (redis://127.0.0.1:<port>/0) and the server, which can be stopped, killed
// and restarted on the same port and data.
//
// extraConfig lines are appended to redis.conf. The default fsync policy is
// everysec, fast enough for suites of many writes on a slow disk; a test
// that kills the server and expects every acknowledged write back passes
// FsyncAlways.
func Start(t testing.TB, extraConfig ...string) (string, *Server) {
	s := start(t, false, extraConfig)
	return s.URL(), s
}

// FsyncAlways makes Redis fsync the append-only file before it answers a
// write, so SIGKILL (or a power cut) loses nothing it acknowledged.
const FsyncAlways = "appendfsync always"

// StartCluster runs a one-node Redis Cluster holding all 16384 slots and
// returns its URL for the store (redis+cluster://127.0.0.1:<port>). Redis
// refuses there any command or script that touches keys of two slots, which
// is what it is for.
func StartCluster(t testing.TB, extraConfig ...string) (string, *Server) {
	s := start(t, true, extraConfig)
	return s.URL(), s
}

func start(t testing.TB, cluster bool, extra []string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if _, statErr := os.Stat("/usr/bin/redis-server"); statErr != nil {
			t.Fatalf("redistest: redis-server not found in PATH or /usr/bin: these tests need a real Redis; install it with `apt-get install redis-server` (Debian/Ubuntu)")
		}
		bin = "/usr/bin/redis-server"
	}
	s := &Server{t: t, bin: bin, Dir: t.TempDir(), cluster: cluster, extra: extra}
	t.Cleanup(s.Kill)
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: find a free port: %v", err)
		}
		s.Port = port
		if lastErr = s.launch(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("redistest: start redis-server: %v\n%s", lastErr, s.log())
	}
	if cluster {
		if err := s.claimAllSlots(); err != nil {
			t.Fatalf("redistest: set up cluster: %v\n%s", err, s.log())
		}
	}
	return s
}

// URL is the address for store.Open.
func (s *Server) URL() string {
	if s.cluster {
		return fmt.Sprintf("redis+cluster://127.0.0.1:%d", s.Port)
	}
	return fmt.Sprintf("redis://127.0.0.1:%d/0", s.Port)
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) config() string {
	lines := []string{
		"bind 127.0.0.1",
		"port " + strconv.Itoa(s.Port),
		"dir " + s.Dir,
		"logfile " + filepath.Join(s.Dir, "redis.log"),
		"daemonize no",
		`save ""`,
		"appendonly yes",
		"appendfsync everysec",
	}
	if s.cluster {
		lines = append(lines, "cluster-enabled yes", "cluster-config-file nodes.conf")
	}
	lines = append(lines, s.extra...) // later lines win
	return strings.Join(lines, "\n") + "\n"
}

// launch starts the process and waits until it answers PING.
func (s *Server) launch() error {
	conf := filepath.Join(s.Dir, "redis.conf")
	if err := os.WriteFile(conf, []byte(s.config()), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(s.bin, conf)
	cmd.Dir = s.Dir
	if err := cmd.Start(); err != nil {
		return err
	}
	gone := make(chan struct{})
	go func() { _ = cmd.Wait(); close(gone) }()
	s.mu.Lock()
	s.cmd, s.gone = cmd, gone
	s.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-gone:
			return fmt.Errorf("redis-server exited at start (port %d taken?)", s.Port)
		default:
		}
		// A server with requirepass answers an unauthenticated PING with
		// NOAUTH: it is up all the same.
		if reply, err := s.Do("PING"); err == nil && (reply == "+PONG" || strings.HasPrefix(reply, "-NOAUTH")) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Kill()
	return fmt.Errorf("redis-server did not answer PING on %s", s.Addr())
}

// claimAllSlots makes the single node own every slot and waits for the
// cluster to report ok.
func (s *Server) claimAllSlots() error {
	if reply, err := s.Do("CLUSTER", "ADDSLOTSRANGE", "0", "16383"); err != nil || reply != "+OK" {
		if !strings.Contains(reply, "already busy") { // a restart keeps nodes.conf
			return fmt.Errorf("CLUSTER ADDSLOTSRANGE: %q %v", reply, err)
		}
	}
	return s.waitClusterOK()
}

func (s *Server) waitClusterOK() error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if reply, err := s.Do("CLUSTER", "INFO"); err == nil && strings.Contains(reply, "cluster_state:ok") {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("cluster_state never became ok")
}

// Do sends one command and returns the raw first reply line, or for a bulk
// reply its content. It is enough for PING, SHUTDOWN, CLUSTER and CONFIG.
func (s *Server) Do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "$") {
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return line, nil
}

// Stop shuts the server down cleanly (SHUTDOWN NOSAVE: the append-only file
// is already on disk) and waits for it to exit.
func (s *Server) Stop() {
	s.t.Helper()
	s.mu.Lock()
	cmd, gone := s.cmd, s.gone
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_, _ = s.Do("SHUTDOWN", "NOSAVE")
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-gone
	}
	s.mu.Lock()
	s.cmd = nil
	s.mu.Unlock()
}

// Pid is the running server's process ID, 0 when it is not running (for
// benchmarks that account for its CPU).
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Kill ends the server with SIGKILL, like a crash.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, gone := s.cmd, s.gone
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill() // SIGKILL ends a stopped process too
	<-gone
}

// Pause freezes the server (SIGSTOP): connections stay open but nothing
// answers, like a hung or partitioned Redis. Resume undoes it.
func (s *Server) Pause() { s.sendSignal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.sendSignal(syscall.SIGCONT) }

func (s *Server) sendSignal(sig syscall.Signal) {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Signal(sig)
	}
}

// Restart starts a stopped or killed server again on the same port with the
// same data.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill() // no-op when stopped
	if err := s.launch(); err != nil {
		s.t.Fatalf("redistest: restart redis-server: %v\n%s", err, s.log())
	}
	if s.cluster {
		if err := s.waitClusterOK(); err != nil {
			s.t.Fatalf("redistest: restart cluster: %v\n%s", err, s.log())
		}
	}
}

// log returns the tail of the server log for failure messages.
func (s *Server) log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
