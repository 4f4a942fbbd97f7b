package dev

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
)

// fakeVolumes serves ConfigMaps and Secrets from maps.
type fakeVolumes struct {
	configMaps, secrets map[string]map[string][]byte
}

func (f fakeVolumes) ConfigMap(name string) (map[string][]byte, bool, error) {
	d, ok := f.configMaps[name]
	return d, ok, nil
}

func (f fakeVolumes) Secret(name string) (map[string][]byte, bool, error) {
	d, ok := f.secrets[name]
	return d, ok, nil
}

// executorTemplate is the pod template the operator builds for a bound
// flow whose HTTPRequest header reads a Secret.
func executorTemplate() corev1.PodTemplateSpec {
	f := &v1alpha1.ChatFlow{
		ObjectMeta: metav1.ObjectMeta{Name: "order-status", Namespace: "shop", UID: "u1"},
		Spec:       v1alpha1.ChatFlowSpec{State: v1alpha1.StatePublished, Trigger: v1alpha1.Trigger{Type: v1alpha1.TriggerWhatsApp}},
	}
	b := &v1alpha1.ChannelBinding{ObjectMeta: metav1.ObjectMeta{Name: "shop-whatsapp", Namespace: "shop"},
		Spec: v1alpha1.ChannelBindingSpec{CredentialsRef: v1alpha1.SecretReference{Name: "shop-whatsapp"}}}
	cfg := builders.DefaultConfig()
	cfg.AllowPrivateNetworks = []string{"127.0.0.0/8"}
	d := builders.Deployment(builders.ExecutorInput{
		Flow: f, Binding: b, Revision: "abc123", ConfigMap: "order-status-abc123-d1",
		HeaderSecrets: []string{"orders-api"}, Config: cfg,
	})
	return d.Spec.Template
}

func TestMaterializeAndCommandLineOfTheOperatorsPodTemplate(t *testing.T) {
	tpl := executorTemplate()
	root := t.TempDir()
	src := fakeVolumes{
		configMaps: map[string]map[string][]byte{"order-status-abc123-d1": {
			builders.FlowKey: []byte("kind: ChatFlow\n"), builders.BindingKey: []byte("kind: ChannelBinding\n"),
		}},
		secrets: map[string]map[string][]byte{
			"shop-whatsapp": {"appSecret": []byte("s3cret"), "accessToken": []byte("t")},
			"orders-api":    {"token": []byte("Bearer x")},
			// The flow's keys, as the operator generates them.
			"order-status-executor-keys": {"itemKey": []byte("0123456789abcdef0123456789abcdef")},
		},
	}
	c := tpl.Spec.Containers[0]
	if err := materialize(root, tpl.Spec, c, src); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{
		"/etc/chatflow/revision/flow.yaml":       "kind: ChatFlow\n",
		"/etc/chatflow/revision/binding.yaml":    "kind: ChannelBinding\n",
		"/etc/chatflow/credentials/appSecret":    "s3cret",
		"/etc/chatflow/secrets/orders-api/token": "Bearer x",
		"/etc/chatflow/credentials/accessToken":  "t",
		"/etc/chatflow/keys/itemKey":             "0123456789abcdef0123456789abcdef",
	} {
		got, err := os.ReadFile(localPath(root, p))
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", p, got, err, want)
		}
	}
	if st, err := os.Stat(localPath(root, "/tmp")); err != nil || !st.IsDir() {
		t.Errorf("the tmp emptyDir is not a directory: %v", err)
	}

	args, err := commandLine(c, nil, root, "127.0.0.1:40001")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"executor",
		"--flow", filepath.Join(root, "etc/chatflow/revision/flow.yaml"),
		"--binding", filepath.Join(root, "etc/chatflow/revision/binding.yaml"),
		"--credentials", filepath.Join(root, "etc/chatflow/credentials"),
		"--secrets", filepath.Join(root, "etc/chatflow/secrets"),
		"--keys", filepath.Join(root, "etc/chatflow/keys"),
		"--store", "memory", "--listen", "127.0.0.1:40001", "--shutdown-delay", "5s",
		"--allow-private-networks", "127.0.0.0/8",
	}
	if !slices.Equal(args, want) {
		t.Errorf("command line\n %q\nwant\n %q", args, want)
	}
	if got := readinessPath(c); got != "/readyz" {
		t.Errorf("readiness path %q", got)
	}
}

func TestCommandLineFlagForms(t *testing.T) {
	c := corev1.Container{
		Command:      []string{"/chatflow", "executor"},
		Args:         []string{"--flow=/etc/x/flow.yaml", "--listen=:8080", "--other=/usr/share/thing", "/etc/x"},
		VolumeMounts: []corev1.VolumeMount{{Name: "x", MountPath: "/etc/x"}},
	}
	c.Args = append(c.Args, "--store=redis://:$(PASSWORD)@redis:6379/0", "$$(PASSWORD)", "$(UNDEFINED)")
	got, err := commandLine(c, []string{"PASSWORD=p@ss"}, "/r", "127.0.0.1:1")
	want := []string{"executor", "--flow=/r/etc/x/flow.yaml", "--listen=127.0.0.1:1", "--other=/usr/share/thing", "/r/etc/x",
		"--store=redis://:p@ss@redis:6379/0", "$(PASSWORD)", "$(UNDEFINED)"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("%q, %v; want %q", got, err, want)
	}
}

// The image's two binaries become the chatflow binary's arguments; any
// other command is refused, not run as something else.
func TestCommandLineImageBinaries(t *testing.T) {
	for _, tc := range []struct {
		command, args []string
		want          []string
	}{
		{command: nil, args: []string{"executor", "--store=memory"}, want: []string{"executor", "--store=memory"}}, // the entrypoint, /chatflow
		{command: []string{"/chatflow", "executor"}, args: []string{"--store=memory"}, want: []string{"executor", "--store=memory"}},
		{command: []string{"/chatflow-executor"}, args: []string{"--store=memory"}, want: []string{"executor", "--store=memory"}},
		{command: []string{"/chatflow-executor", "--store=memory"}, want: []string{"executor", "--store=memory"}},
	} {
		got, err := commandLine(corev1.Container{Command: tc.command, Args: tc.args}, nil, "/r", "127.0.0.1:1")
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("command %q args %q: %q, %v; want %q", tc.command, tc.args, got, err, tc.want)
		}
	}
	for _, command := range [][]string{{"/bin/sh", "-c", "chatflow executor"}, {"chatflow-executor"}, {"/usr/local/bin/chatflow"}} {
		_, err := commandLine(corev1.Container{Name: "executor", Command: command}, nil, "/r", "127.0.0.1:1")
		if err == nil || !strings.Contains(err.Error(), command[0]) || !strings.Contains(err.Error(), "/chatflow-executor") {
			t.Errorf("command %q: %v, want an error naming it and the image's binaries", command, err)
		}
	}
}

func TestMaterializeMissingAndOptionalVolumes(t *testing.T) {
	spec := corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}}}},
		{Name: "opt", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "gone", Optional: ptr.To(true)}}},
		{Name: "items", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s",
			Items: []corev1.KeyToPath{{Key: "a", Path: "sub/renamed"}}}}},
	}}
	src := fakeVolumes{secrets: map[string]map[string][]byte{"s": {"a": []byte("A"), "b": []byte("B")}}}

	missing := corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "cm", MountPath: "/cm"}}}
	if err := materialize(t.TempDir(), spec, missing, src); err == nil || !strings.Contains(err.Error(), "ConfigMap gone") {
		t.Errorf("a missing ConfigMap: %v", err)
	}
	root := t.TempDir()
	ok := corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "opt", MountPath: "/opt"}, {Name: "items", MountPath: "/items"}}}
	if err := materialize(root, spec, ok, src); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(localPath(root, "/items/sub/renamed")); string(got) != "A" {
		t.Errorf("item a: %q", got)
	}
	if _, err := os.Stat(localPath(root, "/items/b")); !os.IsNotExist(err) {
		t.Errorf("key b was not listed in items but was written")
	}
	sub := corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "opt", MountPath: "/x", SubPath: "y"}}}
	if err := materialize(t.TempDir(), spec, sub, src); err == nil {
		t.Error("subPath mounts are refused")
	}
}

func TestEnvironment(t *testing.T) {
	c := corev1.Container{
		Env: []corev1.EnvVar{
			{Name: "PLAIN", Value: "v"},
			{Name: "FROM_SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		},
		EnvFrom: []corev1.EnvFromSource{{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}}}},
	}
	src := fakeVolumes{
		configMaps: map[string]map[string][]byte{"c": {"A": []byte("1")}},
		secrets:    map[string]map[string][]byte{"s": {"k": []byte("secret")}},
	}
	env, err := environment(c, "pod-1", "shop", "/root", src)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PLAIN=v", "FROM_SECRET=secret", "POD_NAMESPACE=shop", "CM_A=1", "HOSTNAME=pod-1", "TMPDIR=/root/tmp"} {
		if !slices.Contains(env, want) {
			t.Errorf("environment %q lacks %s", env, want)
		}
	}
}

func TestTemplateHash(t *testing.T) {
	a := executorTemplate()
	if templateHash(a) != templateHash(executorTemplate()) {
		t.Error("the same template hashes differently")
	}
	b := executorTemplate()
	b.Annotations[builders.AnnotationSecretsVersion] = "v2"
	if templateHash(a) == templateHash(b) {
		t.Error("a rotated Secret (new secrets-version annotation) must be a new revision")
	}
}
