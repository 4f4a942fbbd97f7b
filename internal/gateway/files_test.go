package gateway

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

func TestParseExecutor(t *testing.T) {
	for v, ok := range map[string]bool{
		"shop/orders-executor=http://127.0.0.1:8081": true, "shop/x=https://e.example/": true,
		"orders-executor=http://127.0.0.1:8081": false, "shop/=http://x": false, "shop/x": false,
		"shop/x=127.0.0.1:8081": false, "shop/x=ftp://h": false,
	} {
		key, url, err := ParseExecutor(v)
		if (err == nil) != ok {
			t.Errorf("ParseExecutor(%q) = %q %q %v", v, key, url, err)
		}
	}
}

// TestFileSourceReadsManifests: the same files a user applies (a Secret
// with stringData, a binding without a namespace, another kind) route as
// they would in a cluster; an executor given on the command line is the
// flow's Service.
func TestFileSourceReadsManifests(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.yaml")
	manifests := `apiVersion: v1
kind: Secret
metadata: {name: shop}
stringData: {appSecret: s1, verifyToken: v1, accessToken: a1}
---
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: orders}
spec: {trigger: {type: WhatsApp}}
---
apiVersion: chatflow.dev/v1alpha1
kind: ChannelBinding
metadata: {name: shop}
spec:
  flowRef: {name: orders}
  channel: WhatsApp
  account: {id: "111"}
  credentialsRef: {name: shop}
`
	if err := os.WriteFile(path, []byte(manifests), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &FileSource{Paths: []string{path}, Executors: map[string]string{"default/orders-executor": "http://127.0.0.1:1"}}
	in, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	tb := Build(in)
	r := tb.Route(v1alpha1.ChannelWhatsApp, "111")
	if r == nil || r.Secret != "s1" || r.VerifyToken != "v1" || r.Backend == nil {
		t.Fatalf("route %+v, problems %+v", r, tb.Problems)
	}
	if u, err := f.Resolve(r.Backend); err != nil || u != "http://127.0.0.1:1" {
		t.Fatalf("resolve: %q %v", u, err)
	}
	if err := os.WriteFile(path, []byte("apiVersion: chatflow.dev/v1alpha1\nkind: ChannelBinding\nspec: {nope: 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Load(); err == nil {
		t.Fatal("an unknown field in a binding is accepted")
	}
}
