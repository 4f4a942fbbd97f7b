package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

// Pos is a place in a source: 1-based line and column.
type Pos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// Object is one Kubernetes object of a source.
type Object struct {
	// Source names the input it came from.
	Source string
	// Value is the object as kubectl sends it to the API server, as
	// JSON-compatible data: map[string]any, []any, string, int64, float64,
	// bool and nil.
	Value map[string]any
	// Pos maps field paths, spelled as field.Path prints them, to where
	// they were written, and knows how each scalar was written.
	Pos *Index

	APIVersion, Kind, Name, Namespace string
}

// Start is where the object begins.
func (o *Object) Start() Pos { return o.Pos.root }

// SyntaxError is a source that kubectl could not read: not YAML (or JSON),
// or a document that is not an object.
type SyntaxError struct {
	Source string
	Pos    Pos
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.Source, e.Pos.Line, e.Msg)
}

// maxNodes bounds the values built from one source, aliases expanded: an
// alias bomb must not take the linter down.
const maxNodes = 1 << 20

// Parse splits a source into its objects the way kubectl reads a file
// (k8s.io/apimachinery's YAMLOrJSONDecoder): a stream of JSON objects when
// it starts with '{', otherwise YAML documents separated by "---" lines,
// each converted to JSON without a schema by sigs.k8s.io/yaml. Scalars are
// therefore resolved as YAML 1.1: an unquoted y, n, yes, no, on or off is
// a boolean, 0755 an octal number. The items of a List (kind List or
// *List) are objects of their own. Empty documents are skipped; a
// document that is not a mapping is a SyntaxError.
//
// Beyond kubectl, a key written twice in one mapping is an error (kubectl
// keeps one of them, in an order it does not define), and so is a
// document whose aliases expand past a million values.
//
// On an error it returns the objects before it and the error: the rest of
// the stream cannot be read.
func Parse(src Source) ([]Object, error) {
	if utilyaml.IsJSONBuffer(src.Data) {
		objs, rest, restLine, err := parseJSONStream(src)
		if err != nil || rest == nil {
			return objs, err
		}
		// As kubectl does: a stream that is not JSON after its first
		// object is read again as YAML.
		more, err := parseYAMLStream(src, rest, restLine)
		return append(objs, more...), err
	}
	return parseYAMLStream(src, src.Data, 1)
}

// parseYAMLStream reads YAML documents with the splitter kubectl uses,
// counting lines so that positions are those of the whole source.
func parseYAMLStream(src Source, data []byte, firstLine int) ([]Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []Object
	budget := maxNodes
	keys := keyCache{}
	line := firstLine
	for {
		chunk, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, &SyntaxError{Source: src.Name, Pos: Pos{Line: separatorLine(data, line, firstLine)}, Msg: "invalid YAML: " + err.Error()}
		}
		objs, err := parseDocument(src.Name, chunk, line, &budget, keys)
		out = append(out, objs...)
		if err != nil {
			return out, err
		}
		// The chunk's lines and the separator that ended it.
		line += bytes.Count(chunk, []byte("\n")) + 1
	}
}

// separatorLine finds the line of the malformed "---" separator the
// splitter refused, searching from the document it was reading.
func separatorLine(data []byte, from, firstLine int) int {
	lines := strings.Split(string(data), "\n")
	for i := from - firstLine; i >= 0 && i < len(lines); i++ {
		if rest, ok := strings.CutPrefix(lines[i], "---"); ok {
			if t := strings.TrimSpace(rest); t != "" && !strings.HasPrefix(t, "#") {
				return i + firstLine
			}
		}
	}
	return from
}

// parseJSONStream reads JSON objects one after the other, as kubectl's
// decoder does for a stream that starts with '{'. When the stream is not
// JSON after at most one object, rest is what is left to read as YAML
// (kubectl's fallback) and restLine the line it starts on.
func parseJSONStream(src Source) (objs []Object, rest []byte, restLine int, err error) {
	dec := json.NewDecoder(bytes.NewReader(src.Data))
	dec.UseNumber()
	budget := maxNodes
	keys := keyCache{}
	prev := int64(0)
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return objs, nil, 0, nil
		}
		startLine := 1 + bytes.Count(src.Data[:prev], []byte("\n"))
		if err != nil {
			var syn *json.SyntaxError
			if errors.As(err, &syn) && len(objs) <= 1 {
				rest := src.Data[prev:]
				// kubectl drops the whitespace up to and including the
				// first newline before it reads the rest as YAML.
				trimmed := bytes.TrimLeft(rest, " \t\r")
				trimmed = bytes.TrimPrefix(trimmed, []byte("\n"))
				return objs, trimmed, startLine + bytes.Count(rest[:len(rest)-len(trimmed)], []byte("\n")), nil
			}
			line := startLine
			if errors.As(err, &syn) {
				line = 1 + bytes.Count(src.Data[:min(int(syn.Offset), len(src.Data))], []byte("\n"))
			}
			return objs, nil, 0, &SyntaxError{Source: src.Name, Pos: Pos{Line: line}, Msg: "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
		}
		end := dec.InputOffset()
		raw := src.Data[prev:end]
		prev = end
		// JSON is YAML: the YAML parser gives the positions, the JSON
		// decoder the values.
		got, err := newDocument(src.Name, raw, startLine, &budget, keys).objects(v)
		objs = append(objs, got...)
		if err != nil {
			return objs, nil, 0, err
		}
	}
}

// parseDocument converts one YAML document to JSON as kubectl does and
// indexes the positions of its fields.
func parseDocument(src string, chunk []byte, firstLine int, budget *int, keys keyCache) ([]Object, error) {
	d := newDocument(src, chunk, firstLine, budget, keys)
	if d.err != nil {
		return nil, d.err
	}
	js, err := sigsyaml.YAMLToJSON(chunk)
	if err != nil {
		return nil, d.yamlError(err)
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, &SyntaxError{Source: src, Pos: Pos{Line: firstLine}, Msg: "invalid YAML: " + err.Error()}
	}
	return d.objects(v)
}

// objects makes the objects of one document's value: the document, or
// the items of a List.
func (d *document) objects(v any) ([]Object, error) {
	if v == nil {
		return nil, nil // an empty document, or comments only
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &SyntaxError{Source: d.src, Pos: d.rootPos(), Msg: "a manifest document must be an object (a YAML mapping), not " + jsonKind(v)}
	}
	m = numbers(m).(map[string]any)
	idx := d.index(d.root)
	obj := newObject(d.src, m, idx)
	if !isList(obj) {
		return []Object{obj}, nil
	}
	// A List: every item is an object with paths of its own.
	items, _ := m["items"].([]any)
	var out []Object
	for i, it := range items {
		im, ok := it.(map[string]any)
		if !ok {
			return out, &SyntaxError{Source: d.src, Pos: idx.at("items[" + strconv.Itoa(i) + "]"), Msg: "a List item must be an object, not " + jsonKind(it)}
		}
		out = append(out, newObject(d.src, im, d.index(d.item(i))))
	}
	return out, nil
}

func isList(o Object) bool {
	return (o.APIVersion == "v1" || o.APIVersion == "chatflow.dev/v1alpha1") && strings.HasSuffix(o.Kind, "List")
}

func newObject(src string, v map[string]any, idx *Index) Object {
	o := Object{Source: src, Value: v, Pos: idx}
	o.APIVersion, _ = v["apiVersion"].(string)
	o.Kind, _ = v["kind"].(string)
	if md, ok := v["metadata"].(map[string]any); ok {
		o.Name, _ = md["name"].(string)
		o.Namespace, _ = md["namespace"].(string)
	}
	return o
}

// numbers narrows json.Numbers as the API server decodes them: integers
// to int64, the others to float64.
func numbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = numbers(x)
		}
	case []any:
		for i, x := range t {
			t[i] = numbers(x)
		}
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, err := t.Float64()
		if err != nil || math.IsInf(f, 0) {
			return t.String() // out of range: kept as written, refused by any schema
		}
		return f
	}
	return v
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	}
	return "a scalar"
}

var yamlLine = regexp.MustCompile(`(?:unmarshal errors:\n\s*)?line (\d+): `)

// yamlError turns an error of the YAML-to-JSON conversion into a
// SyntaxError at the line it names (its lines count from the document).
func (d *document) yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	line := d.firstLine
	if m := yamlLine.FindStringSubmatchIndex(msg); m != nil {
		n, _ := strconv.Atoi(msg[m[2]:m[3]])
		line = d.firstLine + n - 1
		msg = msg[:m[0]] + msg[m[1]:]
	}
	if strings.Contains(msg, "json: unsupported value: NaN") || strings.Contains(msg, "json: unsupported value: +Inf") || strings.Contains(msg, "json: unsupported value: -Inf") {
		p, text := d.nonFinite()
		return &SyntaxError{Source: d.src, Pos: p, Msg: text + " is not a number JSON can hold: quote it if it is text"}
	}
	return &SyntaxError{Source: d.src, Pos: Pos{Line: line}, Msg: "invalid YAML: " + msg}
}
