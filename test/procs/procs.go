// Package procs runs Chatflow's processes for tests and benchmarks: it
// builds the chatflow and chatflow-executor binaries (or takes prebuilt
// ones from CHATFLOW_BIN and CHATFLOW_EXECUTOR_BIN), starts executors as
// real chatflow-executor processes, the binary the operator's pods run, on
// free loopback ports, builds signed channel webhooks from the real
// fixtures in shared/channel-fixtures, and reads what the channel sandbox
// received. It must not be imported by non-test code other than the
// benchmark tools.
package procs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatflow-dev/chatflow/internal/sandbox"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
)

// RepoRoot is the repository root.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// FixturesDir holds the real channel payloads this package builds webhooks
// from: byte-for-byte copies of shared/channel-fixtures kept in testdata, or
// the directory CHATFLOW_FIXTURES names.
func FixturesDir() string {
	if d := os.Getenv("CHATFLOW_FIXTURES"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "test", "procs", "testdata", "fixtures")
}

// built is a binary this package builds once per process.
type built struct {
	once sync.Once
	path string
	err  error
}

var chatflowBin, executorBin built

// Binary builds the chatflow binary once per process and returns its path;
// CHATFLOW_BIN names a prebuilt one instead.
func Binary() (string, error) { return chatflowBin.get("CHATFLOW_BIN", "chatflow", ".") }

// ExecutorBinary builds chatflow-executor, the lean executor binary the
// operator's pods run, once per process and returns its path;
// CHATFLOW_EXECUTOR_BIN names a prebuilt one instead. Executors started
// here run it, so tests and benchmarks measure what the pods run.
func ExecutorBinary() (string, error) {
	return executorBin.get("CHATFLOW_EXECUTOR_BIN", "chatflow-executor", "./cmd/chatflow-executor")
}

// get returns the binary the environment variable env names, else builds
// the package pkg of the repository as name.
func (b *built) get(env, name, pkg string) (string, error) {
	if bin := os.Getenv(env); bin != "" {
		return bin, nil
	}
	b.once.Do(func() {
		dir, err := ProcessDir(name + "-bin")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", b.path, pkg)
		cmd.Dir = RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building %s: %v\n%s", name, err, out)
		}
	})
	return b.path, b.err
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// ExecutorSpec describes an executor process to start.
type ExecutorSpec struct {
	// Flow and Binding are manifests (YAML).
	Flow, Binding string
	// Credentials are the Secret keys written into the credentials directory.
	Credentials map[string]string
	// Models are LanguageModel manifests (YAML), passed as --models;
	// ModelKeys the Secrets of their keys, name → key → value, written
	// where --model-keys reads them.
	Models    string
	ModelKeys map[string]map[string]string
	// Store is "memory" or a redis:// URL.
	Store string
	// Keys are the files of the keys directory (--keys): itemKey and
	// contactHashKey, as the operator's Secret <flow>-executor-keys holds
	// them. Nil: keys derived from Flow, so that replicas of one flow share
	// them, as the pods of one Deployment do.
	Keys map[string]string
	// Args are extra command-line arguments.
	Args []string
	// Env are extra environment variables (NAME=value).
	Env []string
	// Port to listen on; 0 picks a free one.
	Port int
}

// Executor is a running executor process.
type Executor struct {
	process
	spec ExecutorSpec
}

// StartExecutor writes the spec's files into a temporary directory, starts
// the executor and waits until it answers /healthz. The process is killed
// when the test ends.
func StartExecutor(t testing.TB, spec ExecutorSpec) *Executor {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("flow.yaml", spec.Flow)
	if spec.Binding != "" {
		write("binding.yaml", spec.Binding)
	}
	creds := filepath.Join(dir, "credentials")
	if err := os.MkdirAll(creds, 0o700); err != nil {
		t.Fatal(err)
	}
	for k, v := range spec.Credentials {
		write(filepath.Join("credentials", k), v)
	}
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	keys := spec.Keys
	if keys == nil {
		sum := sha256.Sum256([]byte("procs item key\x00" + spec.Flow))
		keys = map[string]string{"itemKey": hex.EncodeToString(sum[:]), "contactHashKey": "procs contact hash key"}
	}
	for k, v := range keys {
		write(filepath.Join("keys", k), v)
	}
	if spec.Models != "" {
		write("models.yaml", spec.Models)
	}
	for secret, keys := range spec.ModelKeys {
		if err := os.MkdirAll(filepath.Join(dir, "model-keys", secret), 0o700); err != nil {
			t.Fatal(err)
		}
		for k, v := range keys {
			write(filepath.Join("model-keys", secret, k), v)
		}
	}
	if spec.Port == 0 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		spec.Port = p
	}
	e := &Executor{process: newProcess(dir, spec.Port, "executor"), spec: spec}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Kill)
	return e
}

// Start (re)starts the process with the same files and port.
func (e *Executor) Start() error {
	bin, err := ExecutorBinary()
	if err != nil {
		return err
	}
	args := []string{
		"--flow", filepath.Join(e.Dir, "flow.yaml"),
		"--credentials", filepath.Join(e.Dir, "credentials"),
		"--store", orDefault(e.spec.Store, "memory"),
		"--keys", filepath.Join(e.Dir, "keys"),
		"--listen", fmt.Sprintf("127.0.0.1:%d", e.Port),
	}
	if e.spec.Binding != "" {
		args = append(args, "--binding", filepath.Join(e.Dir, "binding.yaml"))
	}
	if e.spec.Models != "" {
		args = append(args, "--models", filepath.Join(e.Dir, "models.yaml"), "--model-keys", filepath.Join(e.Dir, "model-keys"))
	}
	return e.start(bin, append(args, e.spec.Args...), e.spec.Env, "/healthz")
}

// process is a Chatflow process of a test: its directory, its log there,
// and its loopback port.
type process struct {
	URL  string
	Port int
	Dir  string

	name   string
	cmd    *exec.Cmd
	stdout *os.File
	done   chan struct{}
}

func newProcess(dir string, port int, name string) process {
	return process{Dir: dir, Port: port, URL: fmt.Sprintf("http://127.0.0.1:%d", port), name: name}
}

// start runs bin with args and env (added to this process's), its output
// in <name>.log, and waits until probe answers 200.
func (p *process) start(bin string, args, env []string, probe string) error {
	out, err := os.OpenFile(filepath.Join(p.Dir, p.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	p.stdout = out
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		return err
	}
	p.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(p.cmd, p.done)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited at start:\n%s", p.name, p.Log())
		default:
		}
		resp, err := http.Get(p.URL + probe)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer %s within 30s:\n%s", p.name, probe, p.Log())
}

// Kill sends SIGKILL (no graceful shutdown) and waits for the process.
func (p *process) Kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	p.stdout.Close()
}

// Stop sends SIGTERM and waits for a graceful exit.
func (p *process) Stop() error {
	if p.cmd == nil || p.cmd.Process == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.Kill()
		return fmt.Errorf("%s did not stop within 60s of SIGTERM", p.name)
	}
	p.stdout.Close()
	if st := p.cmd.ProcessState; st != nil && !st.Success() {
		return fmt.Errorf("%s exited with %v", p.name, st)
	}
	return nil
}

// Pid of the running process.
func (p *process) Pid() int { return p.cmd.Process.Pid }

// Log returns what the process printed.
func (p *process) Log() string {
	data, _ := os.ReadFile(filepath.Join(p.Dir, p.name+".log"))
	return string(data)
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// PostWebhook posts a signed WhatsApp webhook and returns the status code.
func PostWebhook(ctx context.Context, c *http.Client, url, path string, body []byte, appSecret string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if appSecret != "" {
		req.Header.Set(meta.SignatureHeader, meta.Sign(body, appSecret))
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// SandboxMessage is one message the sandbox accepted.
type SandboxMessage sandbox.Record

// Text returns the text of a WhatsApp text message body (or the body of an
// interactive one).
func (m SandboxMessage) Text() string {
	var b struct {
		Text        struct{ Body string } `json:"text"`
		Interactive struct {
			Body struct{ Text string } `json:"body"`
		} `json:"interactive"`
	}
	_ = json.Unmarshal(m.Body, &b)
	if b.Text.Body != "" {
		return b.Text.Body
	}
	return b.Interactive.Body.Text
}

// pollClient keeps enough idle connections for one long poll per contact of
// a load test; http.DefaultClient keeps two and would churn connections.
var pollClient = &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}}

// SandboxMessages returns what the sandbox at url accepted for a recipient
// (all recipients when to is empty) after seq.
func SandboxMessages(ctx context.Context, url, to string, after int64, wait time.Duration) ([]SandboxMessage, error) {
	q := fmt.Sprintf("%s/sandbox/messages?after=%d", url, after)
	if to != "" {
		q += "&to=" + to
	}
	if wait > 0 {
		q += "&wait=" + wait.String()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, q, nil)
	if err != nil {
		return nil, err
	}
	resp, err := pollClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Messages []SandboxMessage `json:"messages"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	return out.Messages, nil
}

// Texts lists the texts of messages.
func Texts(ms []SandboxMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Text()
	}
	return out
}

// Indent prefixes every line, for readable failure messages.
func Indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }
