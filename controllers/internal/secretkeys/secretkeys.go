// Package secretkeys tells which keys of a Secret hold a value without
// keeping any value: the binding controller checks a credentials Secret's
// keys with it, the LanguageModel controller an API key's. It must not
// import the reconcilers.
package secretkeys

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Reader reads which keys of a Secret hold a value, without keeping any
// value. It remembers the answer per Secret version (uid and
// resourceVersion, from the metadata-only cache), so an object reconciled
// again reads its Secret from the API server only when the Secret changed.
// It is safe for concurrent use.
type Reader struct {
	// cache serves Secret metadata (the controller watches it).
	cache client.Reader
	// api reads Secrets, uncached.
	api client.Reader

	mu   sync.Mutex
	seen map[types.NamespacedName]keysAt
}

// keysAt are the non-empty keys of one version of a Secret.
type keysAt struct {
	uid             types.UID
	resourceVersion string
	keys            []string
}

// New returns a Reader: cache serves Secret metadata (the controller
// watches it), api reads Secrets uncached.
func New(cache, api client.Reader) *Reader { return &Reader{cache: cache, api: api} }

// Get returns the Secret with every non-empty key mapped to a placeholder
// value, or nil when it does not exist.
func (s *Reader) Get(ctx context.Context, key types.NamespacedName) (*corev1.Secret, error) {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := s.cache.Get(ctx, key, m); err == nil {
		s.mu.Lock()
		k, ok := s.seen[key]
		s.mu.Unlock()
		if ok && k.uid == m.UID && k.resourceVersion == m.ResourceVersion {
			return withKeys(m.ObjectMeta, k.keys), nil
		}
	}
	// Not in the cache yet, or changed since: ask the API server.
	secret := &corev1.Secret{}
	if err := s.api.Get(ctx, key, secret); err != nil {
		if apierrors.IsNotFound(err) {
			s.forget(key)
			return nil, nil
		}
		return nil, fmt.Errorf("reading Secret %s: %w", key.Name, err)
	}
	var keys []string
	for k, v := range secret.Data {
		if len(v) > 0 {
			keys = append(keys, k)
		}
	}
	s.mu.Lock()
	if s.seen == nil {
		s.seen = map[types.NamespacedName]keysAt{}
	}
	s.seen[key] = keysAt{uid: secret.UID, resourceVersion: secret.ResourceVersion, keys: keys}
	s.mu.Unlock()
	return withKeys(secret.ObjectMeta, keys), nil
}

func (s *Reader) forget(key types.NamespacedName) {
	s.mu.Lock()
	delete(s.seen, key)
	s.mu.Unlock()
}

func withKeys(meta metav1.ObjectMeta, keys []string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: meta, Data: map[string][]byte{}}
	for _, k := range keys {
		s.Data[k] = []byte{1}
	}
	return s
}
