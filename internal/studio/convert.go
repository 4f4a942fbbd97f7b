package studio

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"

	"github.com/pmezard/go-difflib/difflib"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/flowimport"
	"github.com/chatflow-dev/chatflow/internal/flowjson"
	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/internal/templates"
	"github.com/chatflow-dev/chatflow/internal/transcript"
)

// info is what the front end needs first.
func (s *Server) info(*http.Request) (any, error) {
	files, err := s.files.list()
	if err != nil {
		return nil, err
	}
	type tmpl struct {
		Name        string   `json:"name"`
		Description string   `json:"description"`
		Triggers    []string `json:"triggers"`
	}
	ts := []tmpl{}
	for _, t := range templates.All {
		ts = append(ts, tmpl{t.Name, t.Description, t.Triggers})
	}
	return map[string]any{
		"root":      s.files.root,
		"files":     files,
		"templates": ts,
		"nodeTypes": v1alpha1.NodeTypes,
		"live":      s.live.info(),
	}, nil
}

// schema is the OpenAPI schema of ChatFlow from the CRD lint validates
// against: the property panels are generated from it.
func (s *Server) schema(*http.Request) (any, error) {
	b, err := lint.CRDManifest("ChatFlow")
	if err != nil {
		return nil, err
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(b, &crd); err != nil {
		return nil, err
	}
	for _, v := range crd.Spec.Versions {
		if v.Name == "v1alpha1" && v.Schema != nil {
			return v.Schema.OpenAPIV3Schema, nil
		}
	}
	return nil, fmt.Errorf("the ChatFlow CRD has no v1alpha1 schema")
}

func unifiedDiff(name, a, b string) string {
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(a), B: difflib.SplitLines(b),
		FromFile: name + " (on disk)", ToFile: name + " (studio)", Context: 3,
	})
	return d
}

var flowName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// newFromTemplate writes NAME.yaml and NAME.test.yaml from a template of
// `chatflow new`, as that command does, and opens the flow.
func (s *Server) newFromTemplate(r *http.Request) (any, error) {
	var req struct {
		Template, Name, Trigger, Dir string
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	t, err := templates.Find(req.Template)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	flow, tests, err := t.Render(req.Name, req.Trigger)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	rel := req.Name + ".yaml"
	if req.Dir != "" {
		rel = req.Dir + "/" + rel
	}
	if err := s.files.create(rel, flow); err != nil {
		return nil, err
	}
	if err := s.files.create(transcript.TestsFileFor(rel), tests); err != nil {
		return nil, err
	}
	return s.files.load(rel)
}

// validFlow lints the file as it would be saved and returns the edited
// flow when it is valid, as `chatflow export` and `chatflow test` require.
func (s *Server) validFlow(e edit) (*lint.Flow, []byte, error) {
	_, nu, err := s.files.rendered(e)
	if err != nil {
		return nil, nil, err
	}
	var obj struct {
		Metadata struct{ Name string } `json:"metadata"`
	}
	_ = json.Unmarshal(e.Object, &obj)
	res := lint.Lint([]manifest.Source{{Name: e.Path, Data: nu}})
	f, err := res.Valid(obj.Metadata.Name)
	if err != nil {
		return nil, nil, &apiError{status: http.StatusUnprocessableEntity, msg: err.Error(), detail: map[string]any{"problems": orEmpty(res.Problems)}}
	}
	return f, nu, nil
}

// export is the flow in the portable JSON of `chatflow export`.
func (s *Server) export(r *http.Request) (any, error) {
	var e edit
	if err := decode(r, &e); err != nil {
		return nil, err
	}
	f, _, err := s.validFlow(e)
	if err != nil {
		return nil, err
	}
	pf, err := flowjson.FromChatFlow(f.Written)
	if err != nil {
		return nil, err
	}
	b, err := pf.Marshal()
	if err != nil {
		return nil, err
	}
	return map[string]any{"name": f.Object.Name + ".json", "content": string(b)}, nil
}

// importFlow turns a portable flow or a Twilio Studio flow into a new
// manifest file, as `chatflow import` does, and opens it.
func (s *Server) importFlow(r *http.Request) (any, error) {
	var req struct {
		From    string `json:"from"`
		Data    string `json:"data"`
		Name    string `json:"name"`
		Trigger string `json:"trigger"`
		Path    string `json:"path"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.Name != "" && !flowName.MatchString(req.Name) {
		return nil, badRequest("name %q: lower-case letters, digits and '-'", req.Name)
	}
	res, err := flowimport.Import(manifest.Source{Name: "import", Data: []byte(req.Data)},
		flowimport.Options{From: req.From, Name: req.Name, Trigger: req.Trigger, Tool: "chatflow studio"})
	if err != nil {
		return nil, badRequest("%v", err)
	}
	if req.Path == "" {
		objs, _ := manifest.Parse(manifest.Source{Name: "import", Data: res.Manifest})
		if len(objs) == 0 {
			return nil, badRequest("the import gave no flow")
		}
		req.Path = objs[0].Name + ".yaml"
	}
	if err := s.files.create(req.Path, res.Manifest); err != nil {
		return nil, err
	}
	f, err := s.files.load(req.Path)
	if err != nil {
		return nil, err
	}
	return map[string]any{"file": f, "report": res.Report}, nil
}

// runTests runs the transcript tests of the flow's file against the flow
// as edited, as `chatflow test` would after a save.
func (s *Server) runTests(r *http.Request) (any, error) {
	var e edit
	if err := decode(r, &e); err != nil {
		return nil, err
	}
	tests := transcript.TestsFileFor(e.Path)
	tp, err := s.files.path(tests)
	if err != nil {
		return nil, err
	}
	tdata, err := os.ReadFile(tp)
	if err != nil {
		return nil, &apiError{status: http.StatusNotFound, msg: fmt.Sprintf("%s has no transcript tests (%s): chatflow new writes some to start from", e.Path, tests)}
	}
	_, nu, err := s.files.rendered(e)
	if err != nil {
		return nil, err
	}
	tf, prog, ch, err := transcript.Load(manifest.Source{Name: e.Path, Data: nu}, manifest.Source{Name: tests, Data: tdata})
	if err != nil {
		return nil, &apiError{status: http.StatusUnprocessableEntity, msg: err.Error()}
	}
	type result struct {
		Name    string `json:"name"`
		Line    int    `json:"line"`
		Passed  bool   `json:"passed"`
		Failure string `json:"failure,omitempty"`
	}
	out := []result{}
	passed := 0
	for _, res := range transcript.Run(tf, prog, ch, nil) {
		out = append(out, result{res.Name, res.Line, res.Passed(), res.Failure})
		if res.Passed() {
			passed++
		}
	}
	return map[string]any{"tests": tests, "results": out, "passed": passed, "failed": len(out) - passed}, nil
}
