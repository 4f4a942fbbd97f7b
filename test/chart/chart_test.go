// Package chart tests charts/chatflow: helm lint; helm template with
// several value sets, each compared with a golden file and applied to a
// real API server (envtest, CRDs installed) with server-side dry-run; the
// pods it runs admitted under the restricted Pod Security Standard; the
// executor defaults parsed by the manager's own parser and the manager's
// arguments by its own flags; and the RBAC, webhooks, admission policy and
// CRDs held equal to what config/ generates.
//
// Run `go test ./test/chart -update` after changing the chart to rewrite
// the golden files (and the chart's copy of the CRDs).
package chart

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/internal/cli"
	"github.com/chatflow-dev/chatflow/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files and the chart's copy of the CRDs")

const (
	release   = "chatflow"
	namespace = "chatflow-system"
)

var (
	k8s         client.Client
	kubeconfig  string // of a cluster-admin of the API server, for helm
	kubeVersion string
	root        = testenv.RepoRoot()
	chartDir    = filepath.Join(root, "charts", "chatflow")
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	env, err := testenv.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.CRDDirectoryPaths = append(env.CRDDirectoryPaths, filepath.Join("testdata", "servicemonitor-crd.yaml"), filepath.Join("testdata", "prometheusrule-crd.yaml"))
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if k8s, err = client.New(cfg, client.Options{Scheme: cli.Scheme()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if kubeconfig, err = writeKubeconfig(env); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.Remove(kubeconfig)
	if kubeVersion, err = testenv.KubeVersion(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	for _, ns := range []string{namespace, "shop", "support"} {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	restricted := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "restricted",
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}
	if err := k8s.Create(ctx, restricted); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// writeKubeconfig writes the kubeconfig of an admin of env's API server.
func writeKubeconfig(env *envtest.Environment) (string, error) {
	user, err := env.AddUser(envtest.User{Name: "helm", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp("", "chatflow-chart-kubeconfig-")
	if err != nil {
		return "", err
	}
	defer f.Close()
	_, err = f.Write(data)
	return f.Name(), err
}

// helm is the pinned helm binary (make helm installs it; make test passes
// it as HELM).
func helm(t *testing.T) string {
	t.Helper()
	h, err := testenv.Helm()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// valueSets are the files of testdata/values.
func valueSets(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "values", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no value sets: %v", err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".yaml"))
	}
	return names
}

func runHelm(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(helm(t), args...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func render(t *testing.T, set string) string {
	t.Helper()
	return runHelm(t, "template", release, chartDir, "--namespace", namespace, "--kube-version", kubeVersion,
		"--values", filepath.Join(root, "test", "chart", "testdata", "values", set+".yaml"))
}

func TestLint(t *testing.T) {
	for _, set := range valueSets(t) {
		runHelm(t, "lint", "--strict", chartDir, "--namespace", namespace, "--kube-version", kubeVersion,
			"--values", filepath.Join(root, "test", "chart", "testdata", "values", set+".yaml"))
	}
}

func TestRefusedValues(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "manager.replicaz=2"}, "additional properties 'replicaz' not allowed"},
		{[]string{"--set", "redis.enabled=true", "--set", "externalRedis.url=redis://r:6379/0"}, "not both"},
		{[]string{"--set", "executor.replicas=2"}, "needs a shared session store"},
		{[]string{"--set", "executor.store=mysql://x"}, "executor/store"},
		{[]string{"--set", "executor.store=redis://:hunter2@redis:6379/0"}, "executor.store must not hold a password"},
		{[]string{"--set", "bindings.apiBaseURLHosts={http://graph.facebook.com}"}, "bindings/apiBaseURLHosts/0"},
	} {
		cmd := exec.Command(helm(t), append([]string{"template", release, chartDir, "--kube-version", kubeVersion}, c.args...)...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("helm template %v: %v\n%s\nwant an error with %q", c.args, err, out, c.want)
		}
	}
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

var (
	// generatedSecret matches the Secret of the password the chart
	// generates for its Redis, generatedValue its data values.
	generatedSecret = regexp.MustCompile(`(?s)^\s*(# Source: chatflow/templates/redis.yaml\s*)?apiVersion: v1\nkind: Secret\n.*app.kubernetes.io/component: redis\n`)
	generatedValue  = regexp.MustCompile(`(?m)^(  [A-Za-z0-9._-]+: )"[A-Za-z0-9+/=]+"$`)
)

// generated marks a value the chart generates at random on install.
var generated = regexp.MustCompile(`(?m)^(\s+[\w.-]+: )"[^"]*"( # generated by the chart)$`)

// golden is a rendering with each CRD replaced by one line (TestCRDs
// checks them) and generated passwords by a placeholder, so the golden
// files show what the values change.
func golden(out string) string {
	var b strings.Builder
	for _, doc := range docSeparator.Split(out, -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		b.WriteString("---")
		if generatedSecret.MatchString(doc) {
			// A password the chart generates differs on every rendering.
			doc = generatedValue.ReplaceAllString(doc, `$1"<generated>"`)
		}
		if m := regexp.MustCompile(`(?m)^kind: CustomResourceDefinition$`).FindString(doc); m != "" {
			name := regexp.MustCompile(`(?m)^  name: (\S+)$`).FindStringSubmatch(doc)
			keep := strings.Contains(doc, "helm.sh/resource-policy: keep")
			fmt.Fprintf(&b, "\n# CustomResourceDefinition %s from files/crds (helm.sh/resource-policy: keep = %v)\n", name[1], keep)
			continue
		}
		b.WriteString(generated.ReplaceAllString(doc, `$1"<generated>"$2`))
		if !strings.HasSuffix(doc, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

func decode(t *testing.T, data string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatal(err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

func TestTemplates(t *testing.T) {
	for _, set := range valueSets(t) {
		t.Run(set, func(t *testing.T) {
			out := render(t, set)
			path := filepath.Join("testdata", "golden", set+".yaml")
			if *update {
				if err := os.WriteFile(path, []byte(golden(out)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v: run go test ./test/chart -update", err)
			}
			if got := golden(out); got != string(want) {
				t.Errorf("the rendering differs from %s (run go test ./test/chart -update and review the diff)", path)
			}
			objs := decode(t, out)
			applyDryRun(t, objs)
			checkPodsAreRestricted(t, objs)
			checkExecutorConfig(t, objs)
			checkManagerArgs(t, objs)
			checkGateway(t, set, objs)
			checkManagerRunsReadOnly(t, objs)
		})
	}
}

// applyDryRun applies every object to the API server with server-side
// dry-run: schema, CEL rules and admission of the real API server.
func applyDryRun(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, u := range objs {
		err := k8s.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u.DeepCopy()),
			client.FieldOwner("helm"), client.ForceOwnership, client.DryRunAll)
		if err != nil {
			t.Errorf("%s %s does not apply: %v", u.GetKind(), u.GetName(), err)
		}
	}
}

// checkPodsAreRestricted creates, dry-run, a pod of every workload's
// template in a namespace that enforces the restricted Pod Security
// Standard.
func checkPodsAreRestricted(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, u := range objs {
		spec, ok := podTemplateOf(t, u)
		if !ok {
			continue
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: u.GetName(), Namespace: "restricted", Labels: spec.Labels}, Spec: spec.Spec}
		if err := k8s.Create(context.Background(), pod, client.DryRunAll); err != nil {
			t.Errorf("a pod of %s %s is not admitted under the restricted Pod Security Standard: %v", u.GetKind(), u.GetName(), err)
		}
	}
}

// podTemplateOf returns the pod template of a Deployment or StatefulSet
// (a StatefulSet's volume claim templates become PVC volumes).
func podTemplateOf(t *testing.T, u *unstructured.Unstructured) (corev1.PodTemplateSpec, bool) {
	switch u.GetKind() {
	case "Deployment":
		d := &appsv1.Deployment{}
		mustConvert(t, u, d)
		return d.Spec.Template, true
	case "StatefulSet":
		s := &appsv1.StatefulSet{}
		mustConvert(t, u, s)
		spec := s.Spec.Template
		for _, c := range s.Spec.VolumeClaimTemplates {
			spec.Spec.Volumes = append(spec.Spec.Volumes, corev1.Volume{Name: c.Name,
				VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name}}})
		}
		return spec, true
	}
	return corev1.PodTemplateSpec{}, false
}

// checkExecutorConfig parses the executor defaults with the manager's
// parser (strict: an unknown field fails).
func checkExecutorConfig(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, u := range objs {
		if u.GetKind() != "ConfigMap" || !strings.HasSuffix(u.GetName(), "-executor-config") {
			continue
		}
		data, _, _ := unstructured.NestedString(u.Object, "data", "config.yaml")
		if _, err := builders.ParseConfig([]byte(data)); err != nil {
			t.Errorf("the manager refuses the chart's executor config: %v\n%s", err, data)
		}
		return
	}
	t.Error("no executor config ConfigMap")
}

// deployment returns the Deployment of a component (manager, gateway), nil
// when the rendering has none.
func deployment(t *testing.T, objs []*unstructured.Unstructured, component string) *appsv1.Deployment {
	t.Helper()
	for _, u := range objs {
		if u.GetKind() == "Deployment" && u.GetLabels()["app.kubernetes.io/component"] == component {
			d := &appsv1.Deployment{}
			mustConvert(t, u, d)
			return d
		}
	}
	return nil
}

// checkManagerArgs parses the manager container's arguments with the
// manager command's own flags.
func checkManagerArgs(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	d := deployment(t, objs, "manager")
	if d == nil {
		t.Fatal("no manager Deployment")
	}
	args := d.Spec.Template.Spec.Containers[0].Args
	if len(args) == 0 || args[0] != "manager" {
		t.Fatalf("the manager container runs %q", args)
	}
	root := cli.NewRoot()
	mgr, _, err := root.Find([]string{"manager"})
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.ParseFlags(args[1:]); err != nil {
		t.Errorf("the manager refuses its arguments %q: %v", args[1:], err)
	}
	if d.Spec.Template.Spec.SecurityContext == nil || !ptr.Deref(d.Spec.Template.Spec.SecurityContext.RunAsNonRoot, false) {
		t.Error("the manager pod does not require a non-root user")
	}
}

// checkGateway parses the gateway container's arguments with the gateway
// command's own flags, and checks it is spread, probed and disruption-
// budgeted, serves what its Service and Ingress send it, and that the
// manager is told its public URL.
func checkGateway(t *testing.T, set string, objs []*unstructured.Unstructured) {
	t.Helper()
	d := deployment(t, objs, "gateway")
	if d == nil {
		t.Fatal("no gateway Deployment")
	}
	c := d.Spec.Template.Spec.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "gateway" {
		t.Fatalf("the gateway container runs %q", c.Args)
	}
	gw, _, err := cli.NewRoot().Find([]string{"gateway"})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.ParseFlags(c.Args[1:]); err != nil {
		t.Errorf("the gateway refuses its arguments %q: %v", c.Args[1:], err)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Error("the gateway is not probed on /readyz and /healthz")
	}
	if ptr.Deref(d.Spec.Replicas, 1) < 2 {
		t.Errorf("%d gateway replicas: one public entry needs at least two", ptr.Deref(d.Spec.Replicas, 1))
	}
	var pdb, svc bool
	var publicURL string
	for _, u := range objs {
		switch {
		case u.GetKind() == "PodDisruptionBudget" && u.GetName() == d.Name:
			pdb = true
		case u.GetKind() == "Service" && u.GetName() == d.Name:
			s := &corev1.Service{}
			mustConvert(t, u, s)
			svc = s.Spec.Ports[0].TargetPort.StrVal == c.Ports[0].Name && equality.Semantic.DeepEqual(s.Spec.Selector, d.Spec.Selector.MatchLabels)
		case u.GetKind() == "Ingress":
			if b := u.Object["spec"].(map[string]any)["rules"].([]any)[0].(map[string]any)["http"].(map[string]any)["paths"].([]any)[0].(map[string]any)["backend"].(map[string]any)["service"].(map[string]any)["name"]; b != d.Name {
				t.Errorf("the Ingress sends to %v, not to the gateway", b)
			}
		}
	}
	if !pdb || !svc {
		t.Errorf("the gateway lacks a PodDisruptionBudget (%v) or a Service selecting it (%v)", pdb, svc)
	}
	for _, a := range deployment(t, objs, "manager").Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(a, "--gateway-public-url="); ok {
			publicURL = v
		}
	}
	var values struct {
		Gateway struct {
			PublicURL string `json:"publicURL"`
		} `json:"gateway"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join("testdata", "values", set+".yaml"))), &values); err != nil {
		t.Fatal(err)
	}
	if publicURL != values.Gateway.PublicURL {
		t.Errorf("the manager is told the gateway's public URL is %q, the values say %q", publicURL, values.Gateway.PublicURL)
	}
}

// checkManagerRunsReadOnly checks what the pods need on a real node
// (make test-cluster found both): every container with a read-only root
// filesystem has a writable /tmp, which the chatflow binary's init writes
// to at start; and, with leader election, the manager's Lease is declared
// in the release, so `helm uninstall` does not leave it behind.
func checkManagerRunsReadOnly(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	lease, leaderElect := false, false
	for _, u := range objs {
		var pod corev1.PodSpec
		switch u.GetKind() {
		case "Lease":
			lease = lease || u.GetName() == cli.LeaderElectionID
			continue
		case "Deployment":
			d := &appsv1.Deployment{}
			mustConvert(t, u, d)
			pod = d.Spec.Template.Spec
		case "StatefulSet":
			s := &appsv1.StatefulSet{}
			mustConvert(t, u, s)
			pod = s.Spec.Template.Spec
		default:
			continue
		}
		for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
			leaderElect = leaderElect || slices.Contains(c.Args, "--leader-elect=true")
			if c.SecurityContext != nil && ptr.Deref(c.SecurityContext.ReadOnlyRootFilesystem, false) && !writableTmp(pod, c) {
				t.Errorf("%s %s: container %s has a read-only root filesystem and no writable emptyDir at /tmp", u.GetKind(), u.GetName(), c.Name)
			}
		}
	}
	if leaderElect != lease {
		t.Errorf("the manager elects a leader: %v, but the release declares its Lease %s: %v", leaderElect, cli.LeaderElectionID, lease)
	}
}

func writableTmp(pod corev1.PodSpec, c corev1.Container) bool {
	for _, m := range c.VolumeMounts {
		if m.MountPath != "/tmp" || m.ReadOnly {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == m.Name && v.EmptyDir != nil {
				return true
			}
		}
	}
	return false
}

func mustConvert(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		t.Fatal(err)
	}
}

// TestCRDs checks that the chart's CRDs are config/crd/bases (make
// manifests copies them; -update does too).
func TestCRDs(t *testing.T) {
	bases, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(bases) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	copies, _ := filepath.Glob(filepath.Join(chartDir, "files", "crds", "*.yaml"))
	var names []string
	for _, b := range bases {
		want, err := os.ReadFile(b)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(chartDir, "files", "crds", filepath.Base(b))
		names = append(names, filepath.Base(b))
		if *update {
			if err := os.WriteFile(dst, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(dst)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("charts/chatflow/files/crds/%s differs from config/crd/bases: run make manifests", filepath.Base(b))
		}
	}
	for _, c := range copies {
		if !slices.Contains(names, filepath.Base(c)) {
			t.Errorf("charts/chatflow/files/crds/%s is not in config/crd/bases: delete it", filepath.Base(c))
		}
	}
	objs := decode(t, render(t, "default"))
	n := 0
	for _, u := range objs {
		if u.GetKind() == "CustomResourceDefinition" {
			n++
			if u.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
				t.Errorf("CRD %s lacks helm.sh/resource-policy: keep", u.GetName())
			}
		}
	}
	if n != len(bases) {
		t.Errorf("the chart renders %d CRDs, config has %d", n, len(bases))
	}
}

// rule is one permission: group, resource, verb and resource name.
type rule struct{ group, resource, verb, name string }

func rulesOf(rs []rbacv1.PolicyRule, rename map[string]string) map[rule]bool {
	out := map[rule]bool{}
	for _, r := range rs {
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					for _, n := range names {
						if to, ok := rename[n]; ok {
							n = to
						}
						out[rule{g, res, v, n}] = true
					}
				}
			}
		}
	}
	return out
}

// TestRBACMatchesMarkers checks that the chart grants the manager exactly
// what config/rbac/role.yaml (generated from the +kubebuilder:rbac markers)
// grants, cluster-wide and per namespace.
func TestRBACMatchesMarkers(t *testing.T) {
	generated := decode(t, readFile(t, filepath.Join(root, "config", "rbac", "role.yaml")))
	var wantCluster, wantSystem []rbacv1.PolicyRule
	for _, u := range generated {
		switch {
		case u.GetKind() == "ClusterRole" && u.GetName() == "manager-role":
			r := &rbacv1.ClusterRole{}
			mustConvert(t, u, r)
			wantCluster = r.Rules
		case u.GetKind() == "Role" && u.GetName() == "manager-role":
			r := &rbacv1.Role{}
			mustConvert(t, u, r)
			wantSystem = r.Rules
		}
	}
	for _, set := range []string{"default", "namespaced"} {
		t.Run(set, func(t *testing.T) {
			objs := decode(t, render(t, set))
			fullname := "chatflow"
			if set == "namespaced" {
				fullname = "team-a-chatflow"
			}
			// The markers name the default install's objects.
			rename := map[string]string{
				"chatflow-validating-webhook-configuration": "WEBHOOK-CONFIGURATION",
				"chatflow-webhook-server-cert":              "WEBHOOK-SECRET",
			}
			chartNames := map[string]string{
				fullname + "-validating-webhook-configuration": "WEBHOOK-CONFIGURATION",
				fullname + "-webhook-server-cert":              "WEBHOOK-SECRET",
			}
			var cluster []rbacv1.PolicyRule
			perNamespace := map[string][]rbacv1.PolicyRule{}
			for _, u := range objs {
				switch {
				case u.GetKind() == "ClusterRole" && strings.HasSuffix(u.GetName(), "-manager-role"):
					r := &rbacv1.ClusterRole{}
					mustConvert(t, u, r)
					cluster = r.Rules
				case u.GetKind() == "Role" && u.GetLabels()["app.kubernetes.io/component"] != "gateway":
					r := &rbacv1.Role{}
					mustConvert(t, u, r)
					perNamespace[u.GetNamespace()] = append(perNamespace[u.GetNamespace()], r.Rules...)
				}
			}
			want := rulesOf(wantCluster, rename)
			if set == "default" {
				if got := rulesOf(cluster, chartNames); !equality.Semantic.DeepEqual(got, want) {
					t.Errorf("the chart's ClusterRole differs from config/rbac/role.yaml:\n got %v\nwant %v", keys(got), keys(want))
				}
			} else {
				for _, ns := range []string{"shop", "support"} {
					got := rulesOf(cluster, chartNames)
					for r := range rulesOf(perNamespace[ns], chartNames) {
						got[r] = true
					}
					if !equality.Semantic.DeepEqual(got, want) {
						t.Errorf("in %s the chart grants\n %v\nwant %v", ns, keys(got), keys(want))
					}
				}
				for r := range rulesOf(cluster, chartNames) {
					if r.resource != "namespaces" && r.resource != "validatingwebhookconfigurations" && r.resource != "subjectaccessreviews" {
						t.Errorf("per-namespace mode grants %v cluster-wide", r)
					}
				}
			}
			system := rulesOf(perNamespace[namespace], chartNames)
			for r := range rulesOf(wantSystem, rename) {
				if !system[r] {
					t.Errorf("the manager lacks %v in its own namespace", r)
				}
			}
		})
	}
}

// TestGatewayRBACMatchesMarkers checks that the chart grants the gateway
// exactly gateway-role of config/rbac/role.yaml (generated from the
// roleName=gateway-role markers), cluster-wide or in each watched
// namespace, bound to the gateway's own ServiceAccount.
func TestGatewayRBACMatchesMarkers(t *testing.T) {
	var want map[rule]bool
	for _, u := range decode(t, readFile(t, filepath.Join(root, "config", "rbac", "role.yaml"))) {
		if u.GetKind() == "ClusterRole" && u.GetName() == "gateway-role" {
			r := &rbacv1.ClusterRole{}
			mustConvert(t, u, r)
			want = rulesOf(r.Rules, nil)
		}
	}
	if len(want) == 0 {
		t.Fatal("config/rbac/role.yaml has no gateway-role: run make manifests")
	}
	for set, scopes := range map[string][]string{"default": {""}, "namespaced": {"shop", "support"}} {
		t.Run(set, func(t *testing.T) {
			objs := decode(t, render(t, set))
			granted := map[string]map[rule]bool{}
			var subjects []string
			for _, u := range objs {
				if u.GetLabels()["app.kubernetes.io/component"] != "gateway" {
					continue
				}
				switch u.GetKind() {
				case "ClusterRole", "Role":
					r := &rbacv1.Role{}
					mustConvert(t, u, r)
					granted[u.GetNamespace()] = rulesOf(r.Rules, nil)
				case "ClusterRoleBinding", "RoleBinding":
					b := &rbacv1.RoleBinding{}
					mustConvert(t, u, b)
					subjects = append(subjects, u.GetNamespace()+":"+b.Subjects[0].Name)
				}
			}
			if len(granted) != len(scopes) {
				t.Fatalf("the gateway is granted rules in %d scopes, want %v", len(granted), scopes)
			}
			for _, ns := range scopes {
				if !equality.Semantic.DeepEqual(granted[ns], want) {
					t.Errorf("in %q the chart grants the gateway\n %v\nwant %v", ns, keys(granted[ns]), keys(want))
				}
			}
			sa := deployment(t, objs, "gateway").Spec.Template.Spec.ServiceAccountName
			for _, s := range subjects {
				if !strings.HasSuffix(s, ":"+sa) || strings.HasSuffix(sa, "controller-manager") {
					t.Errorf("binding %s is not to the gateway's own ServiceAccount %s", s, sa)
				}
			}
		})
	}
}

func keys(m map[rule]bool) []string {
	var out []string
	for r := range m {
		out = append(out, fmt.Sprintf("%s/%s:%s[%s]", r.group, r.resource, r.verb, r.name))
	}
	slices.Sort(out)
	return out
}

// TestWebhooksAndPolicyMatchConfig checks the chart's webhooks and
// admission policy against config/webhook and config/policy.
func TestWebhooksAndPolicyMatchConfig(t *testing.T) {
	objs := decode(t, render(t, "default"))
	byKind := map[string]*unstructured.Unstructured{}
	for _, u := range objs {
		byKind[u.GetKind()] = u
	}

	want := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	mustConvert(t, decode(t, readFile(t, filepath.Join(root, "config", "webhook", "manifests.yaml")))[0], want)
	got := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	mustConvert(t, byKind["ValidatingWebhookConfiguration"], got)
	if len(got.Webhooks) != len(want.Webhooks) {
		t.Fatalf("the chart has %d webhooks, config/webhook %d", len(got.Webhooks), len(want.Webhooks))
	}
	for i, w := range want.Webhooks {
		g := got.Webhooks[i]
		if g.Name != w.Name || !equality.Semantic.DeepEqual(g.Rules, w.Rules) || *g.FailurePolicy != *w.FailurePolicy ||
			*g.SideEffects != *w.SideEffects || *g.MatchPolicy != *w.MatchPolicy || *g.TimeoutSeconds != *w.TimeoutSeconds ||
			!slices.Equal(g.AdmissionReviewVersions, w.AdmissionReviewVersions) ||
			*g.ClientConfig.Service.Path != *w.ClientConfig.Service.Path {
			t.Errorf("webhook %d differs from config/webhook:\n got %+v\nwant %+v", i, g, w)
		}
		if g.ClientConfig.Service.Name != "chatflow-webhook-service" || g.ClientConfig.Service.Namespace != namespace {
			t.Errorf("webhook %s calls %+v", g.Name, g.ClientConfig.Service)
		}
	}

	for _, file := range []string{"deny-delete-published.yaml", "credentials-access.yaml"} {
		policy := decode(t, readFile(t, filepath.Join(root, "config", "policy", file)))
		wantVAP := &admissionregistrationv1.ValidatingAdmissionPolicy{}
		mustConvert(t, policy[0], wantVAP)
		chartName := "chatflow-" + wantVAP.Name
		var gotVAP *admissionregistrationv1.ValidatingAdmissionPolicy
		var binding *unstructured.Unstructured
		for _, u := range objs {
			switch {
			case u.GetKind() == "ValidatingAdmissionPolicy" && u.GetName() == chartName:
				gotVAP = &admissionregistrationv1.ValidatingAdmissionPolicy{}
				mustConvert(t, u, gotVAP)
			case u.GetKind() == "ValidatingAdmissionPolicyBinding" && u.GetName() == chartName:
				binding = u
			}
		}
		if gotVAP == nil || binding == nil {
			t.Errorf("the chart has no policy %s and binding (config/policy/%s)", chartName, file)
			continue
		}
		if !equality.Semantic.DeepEqual(gotVAP.Spec, wantVAP.Spec) {
			t.Errorf("the chart's admission policy %s differs from config/policy/%s:\n got %+v\nwant %+v", chartName, file, gotVAP.Spec, wantVAP.Spec)
		}
		if name, _, _ := unstructured.NestedString(binding.Object, "spec", "policyName"); name != gotVAP.Name {
			t.Errorf("the policy binding names %s, the policy is %s", name, gotVAP.Name)
		}
	}
}

// TestAggregatedRoles checks the chart's chatflow-editor and
// chatflow-viewer against config/rbac: the same rules, aggregated into the
// same built-in roles.
func TestAggregatedRoles(t *testing.T) {
	objs := decode(t, render(t, "default"))
	for file, name := range map[string]string{"chatflow_editor_role.yaml": "chatflow-editor", "chatflow_viewer_role.yaml": "chatflow-viewer"} {
		want := &rbacv1.ClusterRole{}
		mustConvert(t, decode(t, readFile(t, filepath.Join(root, "config", "rbac", file)))[0], want)
		var got *rbacv1.ClusterRole
		for _, u := range objs {
			if u.GetKind() == "ClusterRole" && u.GetName() == name {
				got = &rbacv1.ClusterRole{}
				mustConvert(t, u, got)
			}
		}
		if got == nil {
			t.Errorf("the chart has no ClusterRole %s", name)
			continue
		}
		if !equality.Semantic.DeepEqual(rulesOf(got.Rules, nil), rulesOf(want.Rules, nil)) {
			t.Errorf("%s grants %v, config/rbac/%s %v", name, keys(rulesOf(got.Rules, nil)), file, keys(rulesOf(want.Rules, nil)))
		}
		for k, v := range want.Labels {
			if strings.HasPrefix(k, "rbac.authorization.k8s.io/aggregate-to-") && got.Labels[k] != v {
				t.Errorf("%s lacks the label %s=%s", name, k, v)
			}
		}
		for r := range rulesOf(got.Rules, nil) {
			if r.group != "chatflow.dev" {
				t.Errorf("%s grants %v: editors and viewers get Chatflow objects only (Secrets come with the built-in roles)", name, r)
			}
		}
	}
}

// TestStorePasswordNeverInArguments: with every value set, no container of
// the chart gets a password in its arguments or in a literal variable, the
// executors' store URL holds none, and every password comes from a Secret.
func TestStorePasswordNeverInArguments(t *testing.T) {
	for _, set := range valueSets(t) {
		t.Run(set, func(t *testing.T) {
			objs := decode(t, render(t, set))
			secrets := map[string]map[string]string{} // the chart's own Secrets, decoded
			for _, u := range objs {
				if u.GetKind() == "Secret" {
					s := &corev1.Secret{}
					mustConvert(t, u, s)
					secrets[s.Name] = map[string]string{}
					for k, v := range s.Data {
						secrets[s.Name][k] = string(v)
					}
				}
			}
			var passwordRefs []corev1.SecretKeySelector
			for _, u := range objs {
				if u.GetKind() == "ConfigMap" {
					if data, _, _ := unstructured.NestedString(u.Object, "data", "config.yaml"); strings.Contains(data, "store:") {
						cfg, err := builders.ParseConfig([]byte(data))
						if err != nil {
							t.Fatal(err)
						}
						if cfg.StorePassword != "" || strings.Contains(data, "@") {
							t.Errorf("the executor config holds a password: %s", data)
						}
					}
				}
				tmpl, ok := podTemplateOf(t, u)
				if !ok {
					continue
				}
				pod := tmpl.Spec
				for _, c := range append(pod.InitContainers, pod.Containers...) {
					for _, a := range append(append([]string{}, c.Command...), c.Args...) {
						if strings.Contains(a, "requirepass") || strings.Contains(a, "$(") || regexp.MustCompile(`://[^/@]*:[^/@]*@`).MatchString(a) {
							t.Errorf("%s %s, container %s: argument %q carries a password", u.GetKind(), u.GetName(), c.Name, a)
						}
						for name, data := range secrets {
							for key, v := range data {
								if len(v) >= 8 && strings.Contains(a, v) {
									t.Errorf("%s %s, container %s: argument %q holds Secret %s key %s", u.GetKind(), u.GetName(), c.Name, a, name, key)
								}
							}
						}
					}
					for _, e := range c.Env {
						if strings.Contains(e.Name, "PASSWORD") {
							if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
								t.Errorf("%s %s, container %s: %s does not come from a Secret", u.GetKind(), u.GetName(), c.Name, e.Name)
								continue
							}
							passwordRefs = append(passwordRefs, *e.ValueFrom.SecretKeyRef)
						}
					}
				}
			}
			if set == "redis" || set == "redis-generated" || set == "external-redis" {
				if len(passwordRefs) < 1 {
					t.Fatalf("no container gets the store password")
				}
				for _, r := range passwordRefs[1:] {
					if r != passwordRefs[0] {
						t.Errorf("the manager and Redis read different Secrets: %v", passwordRefs)
					}
				}
			}
			if set == "redis-generated" {
				if pw := secrets["chatflow-redis"]["password"]; len(pw) != 40 {
					t.Errorf("the generated password is %d characters long, want 40", len(pw))
				}
			}
		})
	}
}

// TestGeneratedPasswordKeptAcrossUpgrades renders the chart against the API
// server (helm template --dry-run=server, as an upgrade renders) where the
// generated Secret exists: the password stays.
func TestGeneratedPasswordKeptAcrossUpgrades(t *testing.T) {
	ctx := context.Background()
	existing := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "chatflow-redis", Namespace: namespace},
		Data: map[string][]byte{"password": []byte("kept-across-upgrades")}}
	if err := k8s.Create(ctx, existing); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx, existing) })
	out := runHelm(t, "template", release, chartDir, "--namespace", namespace, "--kube-version", kubeVersion,
		"--dry-run=server", "--kubeconfig", kubeconfig,
		"--values", filepath.Join(root, "test", "chart", "testdata", "values", "redis-generated.yaml"))
	for _, u := range decode(t, out) {
		if u.GetKind() == "Secret" && u.GetName() == "chatflow-redis" {
			s := &corev1.Secret{}
			mustConvert(t, u, s)
			if got := string(s.Data["password"]); got != "kept-across-upgrades" {
				t.Errorf("the upgrade generated a new password %q", got)
			}
			return
		}
	}
	t.Error("no Secret chatflow-redis")
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
