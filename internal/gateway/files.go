package gateway

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// FileSource is the gateway's routes outside a cluster: the same
// ChannelBinding and Secret manifests a user applies, read from files,
// and where each flow's executor listens, since there are no Services to
// resolve. The files are read again when they change.
type FileSource struct {
	// Paths are YAML files of ChannelBindings and Secrets (several
	// documents each; other kinds are skipped).
	Paths []string
	// Executors maps "namespace/service" (the executor Service name,
	// <flow>-executor) to the executor's base URL.
	Executors map[string]string
	// Interval is how often the files are checked for changes (default 1s).
	Interval time.Duration
	// Logger receives what the source reports (default slog.Default()).
	Logger *slog.Logger
}

// ParseExecutor parses a --executor value: namespace/service=URL.
func ParseExecutor(v string) (key, base string, err error) {
	key, base, ok := strings.Cut(v, "=")
	ns, name, okKey := strings.Cut(key, "/")
	u, uerr := url.Parse(base)
	if !ok || !okKey || ns == "" || name == "" || uerr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", fmt.Errorf("%q: want NAMESPACE/SERVICE=http://HOST:PORT", v)
	}
	return key, strings.TrimRight(base, "/"), nil
}

// Resolve returns the URL of an executor Service listed in Executors.
func (f *FileSource) Resolve(b *Backend) (string, error) {
	if u, ok := f.Executors[b.Namespace+"/"+b.Name]; ok {
		return u, nil
	}
	return "", fmt.Errorf("%w of %s/%s given", errNoReplica, b.Namespace, b.Name)
}

// Load reads the files once into an Input; every executor listed becomes a
// Service.
func (f *FileSource) Load() (Input, error) {
	var in Input
	for _, p := range f.Paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return in, err
		}
		if err := decodeManifests(data, &in); err != nil {
			return in, fmt.Errorf("%s: %w", p, err)
		}
	}
	for key := range f.Executors {
		ns, name, _ := strings.Cut(key, "/")
		in.Services = append(in.Services, corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
	}
	return in, nil
}

// Watch calls onTable with the routes now, then after every change of the
// files, until ctx ends. A file that does not parse keeps the last routes.
func (f *FileSource) Watch(ctx context.Context, onTable func(*Table)) error {
	log := f.Logger
	if log == nil {
		log = slog.Default()
	}
	interval := f.Interval
	if interval <= 0 {
		interval = time.Second
	}
	in, err := f.Load()
	if err != nil {
		return err
	}
	onTable(Build(in))
	last := f.stamp()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := f.stamp()
		if now == last {
			continue
		}
		in, err := f.Load()
		if err != nil {
			log.Error("the manifests do not load; keeping the last routes", "error", err.Error())
			continue
		}
		last = now
		onTable(Build(in))
	}
}

// stamp identifies the files' current content by size and modification time.
func (f *FileSource) stamp() string {
	var b strings.Builder
	for _, p := range f.Paths {
		if info, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", p, info.Size(), info.ModTime().UnixNano())
		}
	}
	return b.String()
}

// decodeManifests adds the ChannelBindings and Secrets of a multi-document
// YAML file to in. A Secret's stringData is folded into data, as the API
// server does.
func decodeManifests(data []byte, in *Input) error {
	for _, doc := range bytes.Split(data, []byte("\n---")) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return err
		}
		switch {
		case head.Kind == "ChannelBinding" && head.APIVersion == v1alpha1.GroupVersion.String():
			var b v1alpha1.ChannelBinding
			if err := yaml.UnmarshalStrict(doc, &b); err != nil {
				return err
			}
			if b.Namespace == "" {
				b.Namespace = metav1.NamespaceDefault
			}
			in.Bindings = append(in.Bindings, b)
		case head.Kind == "Secret" && head.APIVersion == "v1":
			var s corev1.Secret
			if err := yaml.UnmarshalStrict(doc, &s); err != nil {
				return err
			}
			if s.Namespace == "" {
				s.Namespace = metav1.NamespaceDefault
			}
			if s.Data == nil {
				s.Data = map[string][]byte{}
			}
			for k, v := range s.StringData {
				s.Data[k] = []byte(v)
			}
			s.StringData = nil
			in.Secrets = append(in.Secrets, s)
		}
	}
	return nil
}
