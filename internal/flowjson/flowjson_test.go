package flowjson_test

import (
	"bytes"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/flowjson"
	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
)

// manifest → export → import → export gives the same bytes, and the
// imported manifest decodes to the exported flow.
func TestRoundTripIsExact(t *testing.T) {
	srcs, err := manifest.Read([]string{"../../config/samples"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := lint.Lint(srcs)
	if len(r.Flows) < 3 {
		t.Fatalf("%d sample flows", len(r.Flows))
	}
	for _, f := range r.Flows {
		t.Run(f.Object.Name, func(t *testing.T) {
			first := export(t, f.Written)
			pf, err := flowjson.Parse(manifest.Source{Name: "exported.json", Data: first})
			if err != nil {
				t.Fatal(err)
			}
			if w := pf.Check(); w != "" {
				t.Error(w)
			}
			m, err := flowjson.Manifest(pf.ChatFlow(""), "")
			if err != nil {
				t.Fatal(err)
			}
			back := lint.Lint([]manifest.Source{{Name: "imported.yaml", Data: m}})
			g, err := back.Valid(f.Object.Name)
			if err != nil {
				t.Fatal(err)
			}
			if second := export(t, g.Written); !bytes.Equal(first, second) {
				t.Errorf("the round trip changed the flow:\n%s\n---\n%s", first, second)
			}
			if g.Program.Revision() != f.Program.Revision() {
				t.Errorf("revision %s after the round trip, %s before", g.Program.Revision(), f.Program.Revision())
			}
		})
	}
}

func export(t *testing.T, cf *v1alpha1.ChatFlow) []byte {
	t.Helper()
	pf, err := flowjson.FromChatFlow(cf)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pf.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// What the cluster and deployment tools add stays behind.
func TestClusterMetadataIsLeftOut(t *testing.T) {
	cf := &v1alpha1.ChatFlow{
		ObjectMeta: metav1.ObjectMeta{
			Name: "f", Namespace: "shop", UID: "u-1", ResourceVersion: "42", Generation: 3,
			CreationTimestamp: metav1.Now(), Finalizers: []string{"chatflow.dev/cleanup"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
			Labels:        map[string]string{"team": "support", "kustomize.toolkit.fluxcd.io/name": "flows"},
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}",
				"argocd.argoproj.io/tracking-id": "x", "owner": "ana"},
		},
		Spec:   v1alpha1.ChatFlowSpec{Trigger: v1alpha1.Trigger{Type: v1alpha1.TriggerWhatsApp}},
		Status: v1alpha1.ChatFlowStatus{ObservedGeneration: 3, Revision: "abc"},
	}
	b := export(t, cf)
	for _, gone := range []string{"shop", "u-1", "42", "cleanup", "kubectl", "fluxcd", "argocd", "observedGeneration", "abc"} {
		if bytes.Contains(b, []byte(gone)) {
			t.Errorf("the export carries %q:\n%s", gone, b)
		}
	}
	for _, kept := range []string{`"team": "support"`, `"owner": "ana"`, `"format": "chatflow.dev/flow/v1alpha1"`} {
		if !bytes.Contains(b, []byte(kept)) {
			t.Errorf("the export lacks %s:\n%s", kept, b)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for name, tc := range map[string]struct{ src, want string }{
		"unknown field": {`{"format": "chatflow.dev/flow/v1alpha1", "name": "f", "sepc": {}}`, `f.json:1: sepc: unknown field`},
		"wrong type":    {"{\"format\": \"chatflow.dev/flow/v1alpha1\",\n \"name\": \"f\",\n \"spec\": {\"logging\": {\"enabled\": \"yes\"}}}", `f.json:3: spec.logging.enabled: Invalid value: "string": must be a boolean`},
		"other format":  {`{"format": "chatflow.dev/flow/v2", "name": "f", "spec": {}}`, "format"},
		"no name":       {`{"format": "chatflow.dev/flow/v1alpha1", "spec": {}}`, "no name"},
		"trailing":      {`{"format": "chatflow.dev/flow/v1alpha1", "name": "f", "spec": {}} {}`, "holds 2 objects"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := flowjson.Parse(manifest.Source{Name: "f.json", Data: []byte(tc.src)}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCheckSeesEdits(t *testing.T) {
	pf, err := flowjson.Parse(manifest.Source{Name: "f.json", Data: []byte(`{"format": "chatflow.dev/flow/v1alpha1", "name": "f", "revision": "0000000000", "spec": {"trigger": {"type": "Manual"}, "nodes": []}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if w := pf.Check(); !strings.Contains(w, "edited after the export") {
		t.Errorf("got %q", w)
	}
}
