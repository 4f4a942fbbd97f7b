package dev

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/chatflow-dev/chatflow/controllers/builders"
)

// The functions here turn a pod template into a local process, the way a
// kubelet would turn it into a container: volumes become files under a
// root directory, paths in the arguments are moved under that root, and
// the container's port becomes a free loopback port.

// templateHash identifies a pod template, as the Deployment controller's
// pod-template-hash does: a new hash is a new revision to roll out.
func templateHash(t corev1.PodTemplateSpec) string {
	data, _ := json.Marshal(t)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:10]
}

// volumeData reads the content of ConfigMaps and Secrets.
type volumeData interface {
	// ConfigMap returns a ConfigMap's data and binary data; found is false
	// when it does not exist.
	ConfigMap(name string) (data map[string][]byte, found bool, err error)
	// Secret returns a Secret's data; found is false when it does not exist.
	Secret(name string) (data map[string][]byte, found bool, err error)
}

// materialize writes the volumes a container mounts under root, each at
// root+mountPath: ConfigMap and Secret keys become files (all keys, or the
// volume's items), emptyDir an empty directory. A missing ConfigMap or
// Secret that is not optional is an error, as it keeps a pod from
// starting.
func materialize(root string, spec corev1.PodSpec, c corev1.Container, src volumeData) error {
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			return fmt.Errorf("volume mount %s: no volume of that name", m.Name)
		}
		if m.SubPath != "" || m.SubPathExpr != "" {
			return fmt.Errorf("volume mount %s: subPath is not supported by the dev runner", m.Name)
		}
		dir := localPath(root, m.MountPath)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		var (
			data     map[string][]byte
			found    bool
			err      error
			items    []corev1.KeyToPath
			optional bool
			what     string
		)
		switch {
		case v.ConfigMap != nil:
			what = "ConfigMap " + v.ConfigMap.Name
			data, found, err = src.ConfigMap(v.ConfigMap.Name)
			items, optional = v.ConfigMap.Items, v.ConfigMap.Optional != nil && *v.ConfigMap.Optional
		case v.Secret != nil:
			what = "Secret " + v.Secret.SecretName
			data, found, err = src.Secret(v.Secret.SecretName)
			items, optional = v.Secret.Items, v.Secret.Optional != nil && *v.Secret.Optional
		case v.EmptyDir != nil:
			continue
		default:
			return fmt.Errorf("volume %s: only configMap, secret and emptyDir volumes are supported by the dev runner", v.Name)
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", what, err)
		}
		if !found {
			if optional {
				continue
			}
			return fmt.Errorf("%s of volume %s not found", what, v.Name)
		}
		if err := writeVolume(dir, data, items); err != nil {
			return fmt.Errorf("volume %s: %w", v.Name, err)
		}
	}
	return nil
}

func writeVolume(dir string, data map[string][]byte, items []corev1.KeyToPath) error {
	if len(items) == 0 {
		for k := range data {
			items = append(items, corev1.KeyToPath{Key: k, Path: k})
		}
	}
	for _, it := range items {
		content, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("key %s not found", it.Key)
		}
		rel := path.Clean("/" + it.Path)
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(p, content, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// localPath is where a path of the container lives under root.
func localPath(root, p string) string {
	return filepath.Join(root, filepath.FromSlash(path.Clean("/"+p)))
}

// imageBinaries are the binaries of the Chatflow image (Dockerfile), each
// with the arguments that make the chatflow binary do the same: chatflow
// dev has no image and runs every container as its own binary.
// /chatflow-executor is `chatflow executor` linked alone (so that the pods
// hold less memory): the same code and command line. A container without
// a command runs the image's entrypoint, /chatflow.
var imageBinaries = map[string][]string{
	"/chatflow":             nil,
	builders.ExecutorBinary: {"executor"},
}

// commandLine is the executor's local command line, the arguments of the
// chatflow binary: the container's command translated by imageBinaries
// and its arguments, with $(VAR) references to the container's
// environment expanded as the kubelet does, every absolute path that lies
// in or above a mount moved under root, and --listen moved to addr. A
// command that is not a binary of the image is an error rather than a
// guess: chatflow would run something else than the container would.
func commandLine(c corev1.Container, env []string, root, addr string) ([]string, error) {
	var args []string
	if len(c.Command) > 0 {
		prefix, ok := imageBinaries[c.Command[0]]
		if !ok {
			return nil, fmt.Errorf("container %s runs %q: chatflow dev runs only the Chatflow image's binaries, %s",
				c.Name, c.Command[0], strings.Join(slices.Sorted(maps.Keys(imageBinaries)), " and "))
		}
		args = append(append(args, prefix...), c.Command[1:]...)
	}
	args = append(args, c.Args...)
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	for i, a := range args {
		args[i] = expandVars(a, vars)
	}
	mounts := make([]string, 0, len(c.VolumeMounts))
	for _, m := range c.VolumeMounts {
		mounts = append(mounts, path.Clean(m.MountPath))
	}
	inMount := func(p string) bool {
		p = path.Clean(p)
		return slices.ContainsFunc(mounts, func(m string) bool {
			return p == m || strings.HasPrefix(p, m+"/") || strings.HasPrefix(m, p+"/")
		})
	}
	out := make([]string, 0, len(args))
	listenNext := false
	for _, a := range args {
		switch {
		case listenNext:
			a, listenNext = addr, false
		case a == "--listen":
			listenNext = true
		case strings.HasPrefix(a, "--listen="):
			a = "--listen=" + addr
		default:
			name, value, isFlag := strings.Cut(a, "=")
			switch {
			case isFlag && strings.HasPrefix(name, "-") && strings.HasPrefix(value, "/") && inMount(value):
				a = name + "=" + localPath(root, value)
			case strings.HasPrefix(a, "/") && inMount(a):
				a = localPath(root, a)
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// environment is the container's environment: the variables it declares
// (values, and references to ConfigMap and Secret keys and to the pod's
// name and namespace), after the dev process's own PATH and HOME.
func environment(c corev1.Container, pod, namespace, root string, src volumeData) ([]string, error) {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + localPath(root, "/tmp"),
		"TMPDIR=" + localPath(root, "/tmp"),
		"HOSTNAME=" + pod,
	}
	for _, from := range c.EnvFrom {
		var data map[string][]byte
		var found bool
		var err error
		switch {
		case from.ConfigMapRef != nil:
			data, found, err = src.ConfigMap(from.ConfigMapRef.Name)
		case from.SecretRef != nil:
			data, found, err = src.Secret(from.SecretRef.Name)
		}
		if err != nil {
			return nil, err
		}
		if found {
			keys := make([]string, 0, len(data))
			for k := range data {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				env = append(env, from.Prefix+k+"="+string(data[k]))
			}
		}
	}
	for _, e := range c.Env {
		value := e.Value
		if vf := e.ValueFrom; vf != nil {
			var data map[string][]byte
			var found bool
			var err error
			var key string
			switch {
			case vf.ConfigMapKeyRef != nil:
				data, found, err = src.ConfigMap(vf.ConfigMapKeyRef.Name)
				key = vf.ConfigMapKeyRef.Key
			case vf.SecretKeyRef != nil:
				data, found, err = src.Secret(vf.SecretKeyRef.Name)
				key = vf.SecretKeyRef.Key
			case vf.FieldRef != nil:
				switch vf.FieldRef.FieldPath {
				case "metadata.name":
					value = pod
				case "metadata.namespace":
					value = namespace
				}
				env = append(env, e.Name+"="+value)
				continue
			default:
				continue
			}
			if err != nil {
				return nil, err
			}
			if !found {
				continue
			}
			value = string(data[key])
		}
		env = append(env, e.Name+"="+value)
	}
	return env, nil
}

// readinessPath is the HTTP path of the container's readiness probe
// (else its liveness probe, else /readyz).
func readinessPath(c corev1.Container) string {
	for _, p := range []*corev1.Probe{c.ReadinessProbe, c.StartupProbe, c.LivenessProbe} {
		if p != nil && p.HTTPGet != nil && p.HTTPGet.Path != "" {
			return p.HTTPGet.Path
		}
	}
	return "/readyz"
}

// expandVars expands $(NAME) with the container's variables the way the
// kubelet expands command and args: $$ is a literal $, and a reference to
// an undefined variable stays as it is.
func expandVars(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteByte(s[i])
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
