package studio

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/internal/transcript"
)

// workspace is what the studio may read and write: the files it was
// given, or every manifest under the directory it was given. Paths in the
// API are relative to root and never leave it.
type workspace struct {
	root string
	// only, when set, are the files named on the command line; else
	// every manifest under root.
	only []string
}

func openWorkspace(paths []string) (*workspace, error) {
	if len(paths) == 0 {
		paths = []string{"."}
	}
	if len(paths) == 1 {
		st, err := os.Stat(paths[0])
		if err != nil {
			return nil, err
		}
		if st.IsDir() {
			abs, err := filepath.Abs(paths[0])
			return &workspace{root: abs}, err
		}
	}
	var root string
	var only []string
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		if st, err := os.Stat(abs); err != nil {
			return nil, err
		} else if st.IsDir() {
			return nil, fmt.Errorf("%s is a directory: give one directory, or files", p)
		}
		dir := filepath.Dir(abs)
		if root == "" {
			root = dir
		}
		for !strings.HasPrefix(dir+string(filepath.Separator), root+string(filepath.Separator)) {
			root = filepath.Dir(root)
		}
		only = append(only, abs)
	}
	ws := &workspace{root: root}
	for _, o := range only {
		rel, _ := filepath.Rel(root, o)
		ws.only = append(ws.only, filepath.ToSlash(rel))
	}
	return ws, nil
}

// path turns an API path into a file path under root, refusing anything
// else: absolute paths, .., hidden entries and files that are not
// manifests.
func (ws *workspace) path(rel string) (string, error) {
	clean := filepath.ToSlash(filepath.Clean("/" + rel))[1:]
	if rel == "" || clean != rel || strings.HasPrefix(rel, "/") {
		return "", badRequest("%q is not a path inside the studio's directory", rel)
	}
	for _, part := range strings.Split(clean, "/") {
		if strings.HasPrefix(part, ".") {
			return "", badRequest("%q: hidden files and directories are not served", rel)
		}
	}
	if !slices.Contains([]string{".yaml", ".yml", ".json"}, filepath.Ext(clean)) {
		return "", badRequest("%q: the studio edits .yaml, .yml and .json files", rel)
	}
	return filepath.Join(ws.root, filepath.FromSlash(clean)), nil
}

// fileEntry is one manifest file the studio can open.
type fileEntry struct {
	Path  string   `json:"path"`
	Flows []string `json:"flows"`
}

// list finds the files with ChatFlows (test files are not flows).
func (ws *workspace) list() ([]fileEntry, error) {
	var rels []string
	if ws.only != nil {
		rels = ws.only
	} else {
		err := filepath.WalkDir(ws.root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p != ws.root && strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() && slices.Contains([]string{".yaml", ".yml", ".json"}, filepath.Ext(p)) {
				rel, _ := filepath.Rel(ws.root, p)
				rels = append(rels, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	out := []fileEntry{}
	for _, rel := range rels {
		p, err := ws.path(rel)
		if err != nil {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil || len(data) > manifest.MaxFileSize {
			continue
		}
		objs, _ := manifest.Parse(manifest.Source{Name: rel, Data: data})
		e := fileEntry{Path: rel, Flows: []string{}}
		for _, o := range objs {
			if o.Kind == "ChatFlow" {
				e.Flows = append(e.Flows, o.Name)
			}
		}
		if len(e.Flows) > 0 {
			out = append(out, e)
		}
	}
	return out, nil
}

// openFile is a file as the front end gets it.
type openFile struct {
	Path    string `json:"path"`
	Content string `json:"content"`
	// Hash of Content: a save names it, and is refused when the file
	// changed on disk since.
	Hash     string         `json:"hash"`
	Flows    []flowOfFile   `json:"flows"`
	Problems []lint.Problem `json:"problems"`
	// Tests is the path of the flow's transcript tests, when there are.
	Tests string `json:"tests,omitempty"`
}

type flowOfFile struct {
	Name   string         `json:"name"`
	Object map[string]any `json:"object"`
}

func hashOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func (ws *workspace) load(rel string) (*openFile, error) {
	p, err := ws.path(rel)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &apiError{status: http.StatusNotFound, msg: fmt.Sprintf("%s does not exist", rel)}
	}
	if err != nil {
		return nil, err
	}
	return ws.describe(rel, data), nil
}

// describe lints a file's content as `chatflow lint` would and lists its
// flows.
func (ws *workspace) describe(rel string, data []byte) *openFile {
	f := &openFile{Path: rel, Content: string(data), Hash: hashOf(data), Flows: []flowOfFile{}, Problems: []lint.Problem{}}
	objs, _ := manifest.Parse(manifest.Source{Name: rel, Data: data})
	for _, o := range objs {
		if o.Kind == "ChatFlow" {
			f.Flows = append(f.Flows, flowOfFile{Name: o.Name, Object: o.Value})
		}
	}
	if len(f.Flows) <= 4 {
		// The first edit renders the file: have its parse ready.
		for _, fl := range f.Flows {
			_, _, _ = findFlow(data, fl.Name)
		}
	}
	if r := lint.Lint([]manifest.Source{{Name: rel, Data: data}}); r.Problems != nil {
		f.Problems = r.Problems
	}
	tests := transcript.TestsFileFor(rel)
	if p, err := ws.path(tests); err == nil {
		if _, err := os.Stat(p); err == nil {
			f.Tests = tests
		}
	}
	return f
}

func (s *Server) readFile(r *http.Request) (any, error) {
	return s.files.load(r.URL.Query().Get("path"))
}

// edit is an edited flow of a file.
type edit struct {
	Path string `json:"path"`
	// Name is the flow's name in the file (before any rename).
	Name   string          `json:"name"`
	Object json.RawMessage `json:"object"`
	// Hash is the content's hash when it was opened (save).
	Hash string `json:"hash"`
}

// editOf reads an edit from a request and renders the file as it would
// be saved: the old and the new content.
func (s *Server) editOf(r *http.Request) (e edit, old, nu []byte, err error) {
	if err := decode(r, &e); err != nil {
		return e, nil, nil, err
	}
	old, nu, err = s.files.rendered(e)
	return e, old, nu, err
}

// rendered is the file as it would be saved.
func (ws *workspace) rendered(e edit) (old, nu []byte, err error) {
	p, err := ws.path(e.Path)
	if err != nil {
		return nil, nil, err
	}
	old, err = os.ReadFile(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	if len(e.Object) == 0 {
		return nil, nil, badRequest("object: the flow is missing")
	}
	nu, err = WriteFlow(old, e.Name, e.Object)
	if err != nil {
		return nil, nil, badRequest("%v", err)
	}
	return old, nu, nil
}

// validation is what the front end draws on the canvas.
type validation struct {
	Problems []lint.Problem `json:"problems"`
}

// validate lints the file as it would be saved: the same input, and the
// same code, as `chatflow lint FILE` after a save.
func (s *Server) validate(r *http.Request) (any, error) {
	e, _, nu, err := s.editOf(r)
	if err != nil {
		return nil, err
	}
	res := lint.Lint([]manifest.Source{{Name: e.Path, Data: nu}})
	return validation{Problems: orEmpty(res.Problems)}, nil
}

func orEmpty(p []lint.Problem) []lint.Problem {
	if p == nil {
		return []lint.Problem{}
	}
	return p
}

// render is the file as it would be saved, with the diff to the file on
// disk: what the diff view shows before a save.
func (s *Server) render(r *http.Request) (any, error) {
	e, old, nu, err := s.editOf(r)
	if err != nil {
		return nil, err
	}
	return map[string]any{"content": string(nu), "diff": unifiedDiff(e.Path, string(old), string(nu))}, nil
}

// save writes the edited flow into its file, unless the file changed on
// disk since the studio read it (that change would be lost).
func (s *Server) save(r *http.Request) (any, error) {
	e, old, nu, err := s.editOf(r)
	if err != nil {
		return nil, err
	}
	if hashOf(old) != e.Hash && !(len(old) == 0 && e.Hash == "") {
		return nil, &apiError{status: http.StatusConflict, msg: e.Path + " changed on disk since the studio opened it: reopen it (your edits would overwrite that change)"}
	}
	p, _ := s.files.path(e.Path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	if err := writeFileKeepMode(p, nu); err != nil {
		return nil, err
	}
	return s.files.describe(e.Path, nu), nil
}

// writeFileKeepMode replaces a file through a rename, keeping its mode.
func writeFileKeepMode(p string, data []byte) error {
	mode := os.FileMode(0o644)
	if st, err := os.Stat(p); err == nil {
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), mode)); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// create writes a new file, refusing to overwrite one.
func (ws *workspace) create(rel string, data []byte) error {
	p, err := ws.path(rel)
	if err != nil {
		return err
	}
	if _, err := os.Stat(p); err == nil {
		return &apiError{status: http.StatusConflict, msg: rel + " exists: choose another name"}
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if ws.only != nil {
		ws.only = append(ws.only, rel)
	}
	return os.WriteFile(p, data, 0o644)
}
