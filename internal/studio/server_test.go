package studio

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
)

// workspaceOf copies samples into a temporary directory.
func workspaceOf(t *testing.T, files ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join("../../config/samples", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// studio is a studio serving on loopback for a test.
type studio struct {
	t    *testing.T
	s    *Server
	base string
	dir  string
}

func startStudio(t *testing.T, o Options) *studio {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	dir := ""
	if len(o.Paths) > 0 {
		dir = o.Paths[0]
	}
	return &studio{t: t, s: s, base: "http://" + ln.Addr().String(), dir: dir}
}

// call makes an API call with the token; it returns the status and body.
func (st *studio) call(method, path string, body any) (int, map[string]any) {
	st.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(mustJSON(st.t, body))
	}
	req, err := http.NewRequest(method, st.base+path, rd)
	if err != nil {
		st.t.Fatal(err)
	}
	req.Header.Set(TokenHeader, st.s.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		st.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		st.t.Fatalf("%s %s: %s: not JSON: %v", method, path, resp.Status, err)
	}
	return resp.StatusCode, out
}

func (st *studio) ok(method, path string, body any) map[string]any {
	st.t.Helper()
	code, out := st.call(method, path, body)
	if code != http.StatusOK {
		st.t.Fatalf("%s %s: %d %v", method, path, code, out)
	}
	return out
}

func TestGuardRefusesRequestsWithoutTokenOrFromElsewhere(t *testing.T) {
	st := startStudio(t, Options{Paths: []string{workspaceOf(t, "order-status.yaml")}})
	host := strings.TrimPrefix(st.base, "http://")
	tok := st.s.Token()
	for _, c := range []struct {
		name   string
		method string
		path   string
		header map[string]string
		want   int
	}{
		{"no token", "GET", "/api/info", nil, http.StatusUnauthorized},
		{"a wrong token", "GET", "/api/info", map[string]string{TokenHeader: "x" + tok}, http.StatusUnauthorized},
		{"the token", "GET", "/api/info", map[string]string{TokenHeader: tok}, http.StatusOK},
		{"the page with the token in the URL", "GET", "/?token=" + tok, nil, http.StatusOK},
		{"the page without", "GET", "/", nil, http.StatusUnauthorized},
		{"the API with the URL's token", "GET", "/api/info?token=" + tok, nil, http.StatusUnauthorized},
		{"the API with the cookie", "GET", "/api/info", map[string]string{"Cookie": "chatflow_studio_" + host[strings.LastIndex(host, ":")+1:] + "=" + tok}, http.StatusUnauthorized},
		{"a cookie alone does not change anything", "POST", "/api/validate", map[string]string{"Cookie": "chatflow_studio_" + host[strings.LastIndex(host, ":")+1:] + "=" + tok}, http.StatusUnauthorized},
		{"the token in the URL does not change anything", "POST", "/api/validate?token=" + tok, nil, http.StatusUnauthorized},
		{"another origin", "GET", "/api/info", map[string]string{TokenHeader: tok, "Origin": "http://evil.example"}, http.StatusForbidden},
		{"a cross-site fetch", "GET", "/api/info", map[string]string{TokenHeader: tok, "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"a rebinding host name", "GET", "/api/info", map[string]string{TokenHeader: tok, "Host": "evil.example:" + host[strings.LastIndex(host, ":")+1:]}, http.StatusMisdirectedRequest},
		{"its own origin", "GET", "/api/info", map[string]string{TokenHeader: tok, "Origin": st.base}, http.StatusOK},
	} {
		req, _ := http.NewRequest(c.method, st.base+c.path, nil)
		for k, v := range c.header {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", c.name, resp.StatusCode, c.want)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: the studio answered with CORS headers", c.name)
		}
	}
	// The page's token becomes an HttpOnly, same-site cookie the assets are loaded with.
	resp, err := http.Get(st.base + "/?token=" + tok)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		cookie = c
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Value != tok {
		t.Fatalf("cookie: %+v", cookie)
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("no CSP: %v", resp.Header)
	}
	sub, _ := fs.Sub(dist, "dist")
	assets, _ := fs.Glob(sub, "assets/*.js")
	if len(assets) == 0 {
		t.Fatal("the embedded front end has no script: run make studio")
	}
	req, _ := http.NewRequest("GET", st.base+"/"+assets[0], nil)
	req.AddCookie(cookie)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") {
		t.Errorf("an asset with the cookie: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
}

func TestListenIsLoopbackOnly(t *testing.T) {
	ln, err := Listen(0)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if !strings.HasPrefix(ln.Addr().String(), "127.0.0.1:") {
		t.Errorf("listens on %s", ln.Addr())
	}
}

func TestOpenValidateSaveThroughTheAPI(t *testing.T) {
	dir := workspaceOf(t, "order-status.yaml", "order-status.test.yaml", "instagram-faq.yaml")
	st := startStudio(t, Options{Paths: []string{dir}})

	info := st.ok("GET", "/api/info", nil)
	var paths []string
	for _, f := range info["files"].([]any) {
		paths = append(paths, f.(map[string]any)["path"].(string))
	}
	if !slices.Equal(paths, []string{"instagram-faq.yaml", "order-status.yaml"}) {
		t.Errorf("files: %v (the test file is not a flow)", paths)
	}
	if info["live"].(map[string]any)["enabled"] != false {
		t.Errorf("live without a cluster: %v", info["live"])
	}

	file := st.ok("GET", "/api/file?path=order-status.yaml", nil)
	if file["tests"] != "order-status.test.yaml" || len(file["problems"].([]any)) != 0 {
		t.Errorf("file: tests %v, problems %v", file["tests"], file["problems"])
	}
	obj := file["flows"].([]any)[0].(map[string]any)["object"].(map[string]any)
	hash := file["hash"].(string)

	// A node whose next is gone: the problem lint reports, by field path.
	nodes := obj["spec"].(map[string]any)["nodes"].([]any)
	ask := nodes[1].(map[string]any)
	ask["next"] = "nowhere"
	v := st.ok("POST", "/api/validate", map[string]any{"path": "order-status.yaml", "name": "order-status", "object": obj})
	probs := v["problems"].([]any)
	if len(probs) == 0 || probs[0].(map[string]any)["field"] != "spec.nodes[1].next" {
		t.Fatalf("validation: %v", probs)
	}
	// It is the same verdict as chatflow lint's on the file as it would be saved.
	rendered := st.ok("POST", "/api/render", map[string]any{"path": "order-status.yaml", "name": "order-status", "object": obj})
	r := lint.Lint([]manifest.Source{{Name: "order-status.yaml", Data: []byte(rendered["content"].(string))}})
	var lintProbs []any
	_ = json.Unmarshal(mustJSON(t, r.Problems), &lintProbs)
	if got := mustJSON(t, lintProbs); string(got) != string(mustJSON(t, probs)) {
		t.Errorf("the studio's problems differ from lint's:\n%s\n%s", mustJSON(t, probs), got)
	}
	if d := rendered["diff"].(string); !strings.Contains(d, "-    next: wait-order\n+    next: nowhere\n") {
		t.Errorf("diff:\n%s", d)
	}
	// Fixed, saved, and the file is what lint and the transcript tests accept.
	ask["next"] = "wait-order"
	ask["sendMessage"].(map[string]any)["text"] = "Hi {{ contact.name }}! What is your order number?"
	code, body := st.call("POST", "/api/save", map[string]any{"path": "order-status.yaml", "name": "order-status", "object": obj, "hash": "stale"})
	if code != http.StatusConflict {
		t.Errorf("a save over a file changed since: %d %v", code, body)
	}
	saved := st.ok("POST", "/api/save", map[string]any{"path": "order-status.yaml", "name": "order-status", "object": obj, "hash": hash})
	if len(saved["problems"].([]any)) != 0 {
		t.Errorf("saved with problems: %v", saved["problems"])
	}
	data, _ := os.ReadFile(filepath.Join(dir, "order-status.yaml"))
	orig := readSample(t, "order-status.yaml")
	if string(data) != string(orig) {
		t.Errorf("saving the flow as it was changed the file:\n%s", unifiedDiff("f", string(orig), string(data)))
	}
	tests := st.ok("POST", "/api/test", map[string]any{"path": "order-status.yaml", "name": "order-status", "object": obj})
	if tests["failed"].(float64) != 0 || tests["passed"].(float64) < 3 {
		t.Errorf("transcript tests: %v", tests)
	}
	// A change the tests catch.
	ask["sendMessage"].(map[string]any)["text"] = "Hello"
	tests = st.ok("POST", "/api/test", map[string]any{"path": "order-status.yaml", "name": "order-status", "object": obj})
	if tests["failed"].(float64) == 0 {
		t.Errorf("a changed greeting passes the tests: %v", tests)
	}
}

func TestPathsStayInTheWorkspace(t *testing.T) {
	st := startStudio(t, Options{Paths: []string{workspaceOf(t, "order-status.yaml")}})
	for _, p := range []string{"../etc/passwd.yaml", "/etc/x.yaml", "a/../../b.yaml", ".git/config.yaml", "order-status.txt", ""} {
		code, out := st.call("GET", "/api/file?path="+p, nil)
		if code != http.StatusBadRequest {
			t.Errorf("%q: %d %v", p, code, out)
		}
	}
	code, _ := st.call("GET", "/api/file?path=missing.yaml", nil)
	if code != http.StatusNotFound {
		t.Errorf("a missing file: %d", code)
	}
	code, out := st.call("POST", "/api/validate", "not an edit")
	if code != http.StatusBadRequest || !strings.Contains(out["error"].(string), "JSON") {
		t.Errorf("a bad body: %d %v", code, out)
	}
	big := strings.Repeat("x", maxBody+1)
	code, _ = st.call("POST", "/api/validate", map[string]any{"path": big})
	if code != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over the cap: %d", code)
	}
}

func TestTemplatesImportExportSchema(t *testing.T) {
	dir := t.TempDir()
	st := startStudio(t, Options{Paths: []string{dir}})
	f := st.ok("POST", "/api/new", map[string]any{"template": "faq-menu", "name": "help-desk", "trigger": "Messenger"})
	if f["path"] != "help-desk.yaml" || f["tests"] != "help-desk.test.yaml" || len(f["problems"].([]any)) != 0 {
		t.Fatalf("new: %v", f)
	}
	if code, _ := st.call("POST", "/api/new", map[string]any{"template": "faq-menu", "name": "help-desk"}); code != http.StatusConflict {
		t.Errorf("new over an existing file: %d", code)
	}
	obj := f["flows"].([]any)[0].(map[string]any)["object"]
	exp := st.ok("POST", "/api/export", map[string]any{"path": "help-desk.yaml", "name": "help-desk", "object": obj})
	content := exp["content"].(string)
	if !strings.Contains(content, `"format": "chatflow.dev/flow/v1alpha1"`) {
		t.Fatalf("export: %s", content)
	}
	imp := st.ok("POST", "/api/import", map[string]any{"from": "chatflow", "data": content, "name": "help-desk-copy"})
	file := imp["file"].(map[string]any)
	if file["path"] != "help-desk-copy.yaml" || len(file["problems"].([]any)) != 0 {
		t.Errorf("import: %v", imp)
	}
	twilioFlow, err := os.ReadFile("../twilio/testdata/" + firstJSON(t, "../twilio/testdata"))
	if err != nil {
		t.Fatal(err)
	}
	imp = st.ok("POST", "/api/import", map[string]any{"from": "twilio-studio", "data": string(twilioFlow), "name": "from-twilio"})
	if imp["file"].(map[string]any)["path"] != "from-twilio.yaml" {
		t.Errorf("twilio import: %v", imp)
	}
	if code, out := st.call("POST", "/api/import", map[string]any{"from": "twilio-studio", "data": "{}"}); code != http.StatusBadRequest {
		t.Errorf("twilio import without a name: %d %v", code, out)
	}
	// An invalid flow is not exported, as chatflow export refuses it.
	o := obj.(map[string]any)
	o["spec"].(map[string]any)["nodes"].([]any)[0].(map[string]any)["next"] = "nowhere"
	if code, out := st.call("POST", "/api/export", map[string]any{"path": "help-desk.yaml", "name": "help-desk", "object": o}); code != http.StatusUnprocessableEntity || len(out["problems"].([]any)) == 0 {
		t.Errorf("export of an invalid flow: %d %v", code, out)
	}

	schema := st.ok("GET", "/api/schema", nil)
	node := schema["properties"].(map[string]any)["spec"].(map[string]any)["properties"].(map[string]any)["nodes"].(map[string]any)["items"].(map[string]any)
	typ := node["properties"].(map[string]any)["type"].(map[string]any)
	if len(typ["enum"].([]any)) != len(v1alpha1.NodeTypes) || !strings.Contains(typ["description"].(string), "component") {
		t.Errorf("the node type's schema: %v", typ)
	}
}

func firstJSON(t *testing.T, dir string) string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if strings.HasSuffix(e.Name(), ".json") {
			return e.Name()
		}
	}
	t.Fatal("no Twilio flow in testdata")
	return ""
}

func TestNodeCounters(t *testing.T) {
	text := `# HELP chatflow_node_entered_total Runs that entered a node.
# TYPE chatflow_node_entered_total counter
chatflow_node_entered_total{namespace="shop",flow="order-status",node="ask"} 7
chatflow_node_entered_total{namespace="shop",flow="order-status",node="end"} 3
chatflow_node_entered_total{namespace="shop",flow="other",node="ask"} 100
# TYPE chatflow_node_errors_total counter
chatflow_node_errors_total{namespace="shop",flow="order-status",node="lookup",reason="timeout"} 2
chatflow_node_errors_total{namespace="shop",flow="order-status",node="lookup",reason="status"} 1
chatflow_node_errors_total{type="HTTPRequest"} 9
# TYPE chatflow_node_waiting gauge
chatflow_node_waiting{namespace="shop",flow="order-status",node="wait-order"} 4
`
	out := map[string]*Counters{}
	for range 2 { // two replicas
		fams, err := parseMetrics(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		addNodeCounters(fams, "shop", "order-status", out)
	}
	want := map[string]Counters{"ask": {Entered: 14}, "end": {Entered: 6}, "lookup": {Errors: 6}, "wait-order": {Waiting: 4}}
	if len(out) != len(want) {
		t.Errorf("nodes: %v", out)
	}
	for k, w := range want {
		if out[k] == nil || *out[k] != w {
			t.Errorf("%s: %+v, want %+v", k, out[k], w)
		}
	}
	addNodeCounters(map[string]*dto.MetricFamily{}, "shop", "order-status", out)
}

// sourcesHash is the hash web/studio/sources-hash.mjs records in
// dist/SOURCES.sha256 when the front end is built.
func sourcesHash(root string) (string, error) {
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	slices.Sort(files)
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			return "", err
		}
		h.Write([]byte(f))
		h.Write([]byte{0})
		h.Write(b)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// TestEmbeddedFrontEndIsCurrent fails when web/studio changed since the
// embedded bundle was built: run make studio and commit internal/studio/dist.
func TestEmbeddedFrontEndIsCurrent(t *testing.T) {
	want, err := sourcesHash("../../web/studio")
	if err != nil {
		t.Fatal(err)
	}
	got, err := fs.ReadFile(dist, "dist/SOURCES.sha256")
	if err != nil {
		t.Fatalf("the embedded front end has no SOURCES.sha256: run make studio (%v)", err)
	}
	if strings.TrimSpace(string(got)) != want {
		t.Fatalf("internal/studio/dist was built from other sources than web/studio has now: run make studio and commit internal/studio/dist")
	}
}
