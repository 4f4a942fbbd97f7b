package gateway

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/chatflow-dev/chatflow/internal/dev/statefile"
)

// DevResolver resolves executor Services to the local executor processes
// of the `chatflow dev` running in dir: there is no cluster network there,
// the dev runner starts each executor Deployment (named like its Service)
// as processes on loopback ports and lists them in its state file. The
// file is read again whenever it changes, so rollouts and restarts are
// followed.
func DevResolver(dir string) func(*Backend) (string, error) {
	d := &devState{path: filepath.Join(dir, statefile.StateFile), dir: dir}
	return d.resolve
}

type devState struct {
	path, dir string

	mu    sync.Mutex
	mtime time.Time
	size  int64
	state *statefile.State
}

func (d *devState) resolve(b *Backend) (string, error) {
	st, err := d.load()
	if err != nil {
		return "", err
	}
	e, ok := st.Executors[b.Namespace+"/"+b.Name]
	if !ok {
		return "", fmt.Errorf("%w of %s/%s in chatflow dev", errNoReplica, b.Namespace, b.Name)
	}
	url, ok := e.URL()
	if !ok {
		return "", fmt.Errorf("%w of %s/%s in chatflow dev", errNoReplica, b.Namespace, b.Name)
	}
	return url, nil
}

// load returns the state, read again when the file changed.
func (d *devState) load() (*statefile.State, error) {
	info, err := os.Stat(d.path)
	if err != nil {
		return nil, fmt.Errorf("reading the chatflow dev state: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state != nil && info.ModTime().Equal(d.mtime) && info.Size() == d.size {
		return d.state, nil
	}
	st, err := statefile.LoadState(d.dir)
	if err != nil {
		return nil, err
	}
	d.state, d.mtime, d.size = st, info.ModTime(), info.Size()
	return st, nil
}
