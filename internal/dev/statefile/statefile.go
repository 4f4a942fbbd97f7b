// Package statefile is the state file of a running `chatflow dev`: where
// its control plane, its gateway, its channel sandbox and every local
// executor listen.
// internal/dev writes it; `chatflow chat` and the end-to-end test read it.
// It is a leaf: the standard library only, so the commands that read it
// build everywhere.
package statefile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// StateFile is the name of the dev state file under the dev directory.
const StateFile = "state.json"

// DefaultDir is the dev directory when none is given (git-ignored).
const DefaultDir = ".chatflow-dev"

// State is what a running `chatflow dev` publishes for the other commands
// (chatflow chat, the e2e test): where the control plane, the sandbox and
// every local executor are. It is rewritten atomically on every change and
// removed on shutdown.
type State struct {
	// PID of the chatflow dev process.
	PID int `json:"pid"`
	// Kubeconfig is the absolute path of the dev kubeconfig.
	Kubeconfig string `json:"kubeconfig"`
	// APIServer is the URL of the local kube-apiserver.
	APIServer string `json:"apiServer"`
	// Sandbox is the base URL of the channel sandbox; bindings send there
	// when their spec.apiBaseURL says so.
	Sandbox string `json:"sandbox"`
	// Gateway is the base URL of the gateway, where the channels' webhooks
	// and the run API go (/webhooks/whatsapp, /v1/namespaces/...).
	Gateway string `json:"gateway,omitempty"`
	// Executors are the executor Deployments run as local processes, by
	// "namespace/deployment".
	Executors map[string]Executor `json:"executors,omitempty"`
}

// Executor is one executor Deployment run locally.
type Executor struct {
	Namespace  string `json:"namespace"`
	Deployment string `json:"deployment"`
	// Flow is the ChatFlow that owns the Deployment.
	Flow string `json:"flow"`
	// Revision is the flow revision of the Deployment's pod template.
	Revision string `json:"revision"`
	// Replicas are the processes, current revision first.
	Replicas []Replica `json:"replicas"`
}

// Replica is one executor process (a "pod").
type Replica struct {
	Name     string `json:"name"`
	PID      int    `json:"pid"`
	URL      string `json:"url"`
	Revision string `json:"revision"`
	Ready    bool   `json:"ready"`
	Restarts int    `json:"restarts"`
	Log      string `json:"log"`
}

// ExecutorOf returns the executor of a flow.
func (s *State) ExecutorOf(namespace, flow string) (Executor, bool) {
	keys := make([]string, 0, len(s.Executors))
	for k := range s.Executors {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if e := s.Executors[k]; e.Namespace == namespace && e.Flow == flow {
			return e, true
		}
	}
	return Executor{}, false
}

// URL returns the URL of a ready replica of the current revision, else of
// any ready replica.
func (e Executor) URL() (string, bool) {
	for _, r := range e.Replicas {
		if r.Ready && r.Revision == e.Revision {
			return r.URL, true
		}
	}
	for _, r := range e.Replicas {
		if r.Ready {
			return r.URL, true
		}
	}
	return "", false
}

// LoadState reads the state of the dev environment in dir. It fails with
// a hint when no chatflow dev runs there.
func LoadState(dir string) (*State, error) {
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no chatflow dev runs with --dir %s: start it with `make dev` (or `chatflow dev --dir %s`)", dir, dir)
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, StateFile), err)
	}
	if s.PID > 0 && !processAlive(s.PID) {
		return nil, fmt.Errorf("chatflow dev (pid %d) of %s is gone: start it again with `make dev`", s.PID, dir)
	}
	return &s, nil
}

// WriteState replaces the state file atomically.
func WriteState(dir string, s *State) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, StateFile), append(data, '\n'), 0o600)
}

// WriteFileAtomic writes a file through a temporary file and a rename, so
// readers never see it half written.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
