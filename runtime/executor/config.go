package executor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Credentials are the keys of the binding's Secret, mounted as one file per
// key. Kubernetes updates a mounted Secret by swapping a symlink, so the
// files are re-read when their modification time changes; rotating a token
// needs no restart.
type Credentials struct {
	dir string

	mu      sync.RWMutex
	values  map[string]string
	stamp   string
	checked time.Time
}

// credentialsRecheck bounds how often Get looks at the directory.
const credentialsRecheck = 2 * time.Second

// NewCredentials reads dir. An empty dir yields no credentials (a Manual
// flow with no binding).
func NewCredentials(dir string) (*Credentials, error) {
	c := &Credentials{dir: dir, values: map[string]string{}}
	if dir == "" {
		return c, nil
	}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Get returns the value of key ("" when absent), re-reading the directory
// when it changed.
func (c *Credentials) Get(key string) string {
	if c.dir != "" {
		c.mu.RLock()
		stale := time.Since(c.checked) > credentialsRecheck
		c.mu.RUnlock()
		if stale {
			_ = c.reload() // keep the last good values on a transient error
		}
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.values[key]
}

func (c *Credentials) reload() error {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("reading credentials: %w", err)
	}
	var stamp strings.Builder
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		info, err := os.Stat(filepath.Join(c.dir, e.Name()))
		if err != nil || info.IsDir() {
			continue
		}
		fmt.Fprintf(&stamp, "%s:%d:%d;", e.Name(), info.ModTime().UnixNano(), info.Size())
	}
	c.mu.RLock()
	same := stamp.String() == c.stamp
	c.mu.RUnlock()
	if same {
		c.mu.Lock()
		c.checked = time.Now()
		c.mu.Unlock()
		return nil
	}
	values := map[string]string{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(c.dir, e.Name()))
		if err != nil {
			continue // a directory, or a file that vanished mid-swap
		}
		values[e.Name()] = strings.TrimRight(string(data), "\r\n")
	}
	c.mu.Lock()
	c.values, c.stamp, c.checked = values, stamp.String(), time.Now()
	c.mu.Unlock()
	return nil
}

// mountedSecrets reads keys of the Secrets mounted under dir/<name>/<key>
// (HTTPRequest headers from secretKeyRef, model API keys).
func mountedSecrets(dir string) secretReader {
	return func(name, key string) (string, error) {
		if dir == "" || strings.ContainsAny(name, "/\\") || strings.ContainsAny(key, "/\\") || name == ".." || key == ".." {
			return "", fmt.Errorf("secret %s/%s is not available to the executor", name, key)
		}
		data, err := os.ReadFile(filepath.Join(dir, name, key))
		if err != nil {
			return "", fmt.Errorf("secret %s key %s is not mounted in the executor", name, key)
		}
		return strings.TrimRight(string(data), "\r\n"), nil
	}
}

// The keys of the executor's keys directory (--keys): the Secret
// <flow>-executor-keys the operator generates for each flow and mounts.
const (
	// KeyItem is the flow's own key: the session store seals the flow's
	// queued items, timers and states with it (store.Options.ItemKey), so
	// that nothing without it can queue work for the flow.
	KeyItem = "itemKey"
	// KeyContactHash is the installation's key of the hash that stands for
	// contact ids in logs (Config.ContactHashKey), derived per namespace.
	KeyContactHash = "contactHashKey"
)

// minItemKey is the shortest item key accepted: 128 bits.
const minItemKey = 16

// Keys are what the keys directory holds.
type Keys struct {
	Item        []byte
	ContactHash []byte
}

// LoadKeys reads the keys directory. An empty dir yields no keys: the
// development defaults (a key derived from the flow's name, which anyone
// can compute, and an unkeyed contact hash).
func LoadKeys(dir string) (Keys, error) {
	var k Keys
	if dir == "" {
		return k, nil
	}
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return bytes.TrimRight(b, "\r\n"), err
	}
	var err error
	if k.Item, err = read(KeyItem); err != nil {
		return k, fmt.Errorf("reading the keys: %w", err)
	}
	if len(k.Item) < minItemKey {
		return k, fmt.Errorf("the keys directory %s has no %s of at least %d bytes: the operator generates it in the Secret <flow>-executor-keys", dir, KeyItem, minItemKey)
	}
	if k.ContactHash, err = read(KeyContactHash); err != nil {
		return k, fmt.Errorf("reading the keys: %w", err)
	}
	return k, nil
}
