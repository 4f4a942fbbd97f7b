package cli

import (
	"bytes"
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/flowjson"
	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/internal/testenv"
)

// A flow exported from a real API server (which adds uid, resourceVersion,
// managed fields, defaults and status) is the flow exported from its file.
func TestExportFromCluster(t *testing.T) {
	// testenv.New fails with the fix when KUBEBUILDER_ASSETS is unset.
	env, err := testenv.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()

	src, err := manifest.ReadFile("../../config/samples/order-status.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := lint.Lint([]manifest.Source{src}).Valid("order-status")
	if err != nil {
		t.Fatal(err)
	}
	fromFile, err := flowjson.FromChatFlow(f.Written)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := fromFile.Marshal()

	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	obj := f.Written.DeepCopy()
	obj.Labels = map[string]string{"kustomize.toolkit.fluxcd.io/name": "flows"}
	obj.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}"}
	if err := c.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	got, err := fetchFlow(ctx, cfg, "default", "order-status")
	if err != nil {
		t.Fatal(err)
	}
	if got.UID == "" || got.ResourceVersion == "" {
		t.Fatal("the flow did not come from the API server")
	}
	pf, err := flowjson.FromChatFlow(got)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pf.Marshal()
	if !bytes.Equal(b, want) {
		t.Errorf("export from the cluster:\n%s\nexport from the file:\n%s", b, want)
	}
	if _, err := fetchFlow(ctx, cfg, "default", "missing"); err == nil {
		t.Error("a missing flow was exported")
	}
}
