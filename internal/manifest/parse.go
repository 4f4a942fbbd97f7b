package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
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
	// Value is the object as JSON-compatible data: map[string]any, []any,
	// string, int64, float64, bool and nil. Timestamps stay the text they
	// were written as, as the API server's JSON would have them.
	Value map[string]any
	// Pos maps field paths, spelled as field.Path prints them, to where
	// they were written.
	Pos *Index

	APIVersion, Kind, Name, Namespace string
}

// Start is where the object begins.
func (o *Object) Start() Pos { return o.Pos.root }

// SyntaxError is a source that is not YAML, or a document that is not an
// object.
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

// Parse splits a source into its objects: every YAML document that is a
// mapping, with the items of a List (kind List or *List) as objects of
// their own. Empty documents are skipped; a document that is not a mapping
// is a SyntaxError. On a YAML syntax error it returns the objects before it
// and the error: the rest of the stream cannot be read.
func Parse(src Source) ([]Object, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src.Data))
	var out []Object
	budget := maxNodes
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, yamlError(src.Name, err)
		}
		if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue // a document of comments only
		}
		c := converter{src: src.Name, budget: &budget}
		objs, err := c.objects(root)
		out = append(out, objs...)
		if err != nil {
			return out, err
		}
	}
}

func (c *converter) objects(root *yaml.Node) ([]Object, error) {
	n := resolveAlias(root)
	if n.Kind != yaml.MappingNode {
		return nil, &SyntaxError{Source: c.src, Pos: pos(root), Msg: "a manifest document must be an object (a YAML mapping), not " + kindName(n)}
	}
	idx := newIndex(pos(n))
	v, err := c.value(n, "", idx, 0)
	if err != nil {
		return nil, err
	}
	obj := newObject(c.src, v.(map[string]any), idx)
	if !isList(obj) {
		return []Object{obj}, nil
	}
	// A List: every item is an object with paths of its own.
	var items *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "items" {
			items = resolveAlias(n.Content[i+1])
		}
	}
	if items == nil || items.Kind != yaml.SequenceNode {
		return nil, nil
	}
	var out []Object
	for _, it := range items.Content {
		sub, err := c.objects(it)
		if err != nil {
			return out, err
		}
		out = append(out, sub...)
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

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

func yamlError(src string, err error) error {
	msg := err.Error()
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return &SyntaxError{Source: src, Pos: Pos{Line: line}, Msg: "invalid YAML: " + msg}
}

type converter struct {
	src    string
	budget *int
}

func pos(n *yaml.Node) Pos { return Pos{Line: n.Line, Column: n.Column} }

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a scalar"
	}
	return "something else"
}

// value converts a node to JSON-compatible data and records the position
// of every field and item under path.
func (c *converter) value(n *yaml.Node, path string, idx *Index, depth int) (any, error) {
	*c.budget--
	if *c.budget < 0 {
		return nil, &SyntaxError{Source: c.src, Pos: pos(n), Msg: "the document is too large once its aliases are expanded"}
	}
	if depth > 1000 {
		return nil, &SyntaxError{Source: c.src, Pos: pos(n), Msg: "the document is nested too deeply"}
	}
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		if err := c.mapping(n, path, idx, depth, m, map[string]bool{}); err != nil {
			return nil, err
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			idx.add(p, pos(item))
			v, err := c.value(item, p, idx, depth+1)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		return c.scalar(n)
	case yaml.AliasNode:
		return nil, &SyntaxError{Source: c.src, Pos: pos(n), Msg: "an alias that does not resolve"}
	}
	return nil, &SyntaxError{Source: c.src, Pos: pos(n), Msg: "unexpected YAML node"}
}

// mapping fills m from a mapping node. explicit records the keys written
// in this mapping (not merged in), so that a duplicate is an error but a
// key may override one from a merge (<<).
func (c *converter) mapping(n *yaml.Node, path string, idx *Index, depth int, m map[string]any, explicit map[string]bool) error {
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolveAlias(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return &SyntaxError{Source: c.src, Pos: pos(k), Msg: "a mapping key must be a string"}
		}
		if k.Tag == "!!merge" {
			merges = append(merges, v)
			continue
		}
		key := k.Value
		if explicit[key] {
			return &SyntaxError{Source: c.src, Pos: pos(k), Msg: fmt.Sprintf("duplicate field %q", joinPath(path, key))}
		}
		explicit[key] = true
		p := joinPath(path, key)
		idx.add(p, pos(k))
		if path != "" {
			idx.add(path+"["+key+"]", pos(k)) // map-typed fields (labels) print as labels[key]
		}
		val, err := c.value(v, p, idx, depth+1)
		if err != nil {
			return err
		}
		m[key] = val
	}
	// Merged keys fill in what the mapping does not set itself.
	for _, mv := range merges {
		mv = resolveAlias(mv)
		var srcs []*yaml.Node
		switch mv.Kind {
		case yaml.MappingNode:
			srcs = []*yaml.Node{mv}
		case yaml.SequenceNode:
			srcs = mv.Content
		default:
			return &SyntaxError{Source: c.src, Pos: pos(mv), Msg: "a merge (<<) needs a mapping or a list of mappings"}
		}
		for _, s := range srcs {
			s = resolveAlias(s)
			if s.Kind != yaml.MappingNode {
				return &SyntaxError{Source: c.src, Pos: pos(s), Msg: "a merge (<<) needs a mapping or a list of mappings"}
			}
			tmp := map[string]any{}
			if err := c.mapping(s, path, idx, depth+1, tmp, map[string]bool{}); err != nil {
				return err
			}
			for k, v := range tmp {
				if _, set := m[k]; !set {
					m[k] = v
				}
			}
		}
	}
	return nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// scalar decodes a scalar the way YAML 1.2 resolves it, then narrows it to
// JSON types: integers to int64, timestamps back to their text.
func (c *converter) scalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!str", "!!binary":
		return n.Value, nil
	case "!!timestamp":
		return n.Value, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, &SyntaxError{Source: c.src, Pos: pos(n), Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	switch t := v.(type) {
	case nil, bool, string, int64:
		return t, nil
	case int:
		return int64(t), nil
	case uint64:
		if t <= math.MaxInt64 {
			return int64(t), nil
		}
		return float64(t), nil
	case float32:
		return c.float(n, float64(t))
	case float64:
		return c.float(n, t)
	case time.Time:
		return n.Value, nil
	}
	return n.Value, nil
}

// float refuses what JSON cannot hold.
func (c *converter) float(n *yaml.Node, f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, &SyntaxError{Source: c.src, Pos: pos(n), Msg: fmt.Sprintf("%s is not a number JSON can hold: quote it if it is text", n.Value)}
	}
	return f, nil
}
