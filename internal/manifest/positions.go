package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"

	yaml "go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// document is one YAML (or JSON) document as yaml.v3 parses it: the
// source of positions only. Values come from the kubectl conversion; the
// two parsers agree on the structure of a document, and where yaml.v3
// cannot read one that kubectl can, the objects are placed at the
// document's first line.
type document struct {
	src       string
	firstLine int
	// root is the document's top node; nil when yaml.v3 could not parse it.
	root *yaml.Node
	// rootIdx indexes root.
	rootIdx *Index
	// err is what makes the document unreadable beyond kubectl's own
	// errors: a duplicate key, an alias bomb, absurd nesting.
	err    error
	budget *int
	keys   keyCache
}

func newDocument(src string, data []byte, firstLine int, budget *int, keys keyCache) *document {
	d := &document{src: src, firstLine: firstLine, budget: budget, keys: keys}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err == nil && doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		d.root = doc.Content[0]
	}
	d.rootIdx, d.err = d.walk(d.root, budget)
	return d
}

// index returns the positions of the subtree n (the document's root or a
// List item).
func (d *document) index(n *yaml.Node) *Index {
	if n == d.root {
		return d.rootIdx
	}
	budget := maxNodes
	idx, _ := d.walk(n, &budget)
	return idx
}

func (d *document) rootPos() Pos {
	if d.root == nil {
		return Pos{Line: d.firstLine, Column: 1}
	}
	return d.pos(d.root)
}

// item is the node of the i-th item of a List document, or nil.
func (d *document) item(i int) *yaml.Node {
	if d.root == nil {
		return nil
	}
	n := resolveAlias(d.root)
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for k := 0; k+1 < len(n.Content); k += 2 {
		if n.Content[k].Value == "items" {
			items := resolveAlias(n.Content[k+1])
			if items.Kind == yaml.SequenceNode && i < len(items.Content) {
				return items.Content[i]
			}
		}
	}
	return nil
}

func (d *document) pos(n *yaml.Node) Pos {
	return Pos{Line: n.Line + d.firstLine - 1, Column: n.Column}
}

// walk indexes the subtree n.
func (d *document) walk(n *yaml.Node, budget *int) (*Index, error) {
	if n == nil {
		return newIndex(Pos{Line: d.firstLine, Column: 1}), nil
	}
	idx := newIndex(d.pos(n))
	w := walker{d: d, idx: idx, budget: budget}
	return idx, w.node(n, "", 0)
}

type walker struct {
	d      *document
	idx    *Index
	budget *int
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func (w *walker) fail(n *yaml.Node, format string, args ...any) error {
	return &SyntaxError{Source: w.d.src, Pos: w.d.pos(n), Msg: fmt.Sprintf(format, args...)}
}

// node records the position of every field and item under path, and how
// every scalar was written.
func (w *walker) node(n *yaml.Node, path string, depth int) error {
	*w.budget--
	if *w.budget < 0 {
		return w.fail(n, "the document is too large once its aliases are expanded")
	}
	if depth > 1000 {
		return w.fail(n, "the document is nested too deeply")
	}
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.MappingNode:
		return w.mapping(n, path, depth, map[string]bool{})
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			w.idx.add(p, w.d.pos(item))
			if err := w.node(item, p, depth+1); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		w.idx.scalar(path, n.Value, n.Style&(yaml.TaggedStyle|yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0)
	}
	return nil
}

// mapping indexes a mapping. explicit records the keys written in it (not
// merged in), so that a duplicate is an error but a key may override one
// from a merge (<<).
func (w *walker) mapping(n *yaml.Node, path string, depth int, explicit map[string]bool) error {
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolveAlias(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			continue // kubectl's conversion refuses it, with its own message
		}
		if k.Tag == "!!merge" {
			merges = append(merges, v)
			continue
		}
		key := k.Value
		if k.Style&(yaml.TaggedStyle|yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
			key = w.d.keys.resolve(key)
		}
		if explicit[key] {
			return w.fail(k, "duplicate field %q: the second one would silently replace the first", joinPath(path, key))
		}
		explicit[key] = true
		p := joinPath(path, key)
		w.idx.add(p, w.d.pos(k))
		if path != "" {
			w.idx.add(path+"["+key+"]", w.d.pos(k)) // map-typed fields (labels) print as labels[key]
		}
		if err := w.node(v, p, depth+1); err != nil {
			return err
		}
	}
	for _, mv := range merges {
		mv = resolveAlias(mv)
		srcs := []*yaml.Node{mv}
		if mv.Kind == yaml.SequenceNode {
			srcs = mv.Content
		}
		for _, s := range srcs {
			if s = resolveAlias(s); s.Kind != yaml.MappingNode {
				continue // refused by the conversion
			}
			// Merged keys fill in what the mapping does not set itself;
			// their positions are where the anchor wrote them.
			if err := w.mergeFrom(s, path, depth+1, explicit); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *walker) mergeFrom(s *yaml.Node, path string, depth int, explicit map[string]bool) error {
	sub := walker{d: w.d, idx: newIndex(Pos{}), budget: w.budget}
	if err := sub.mapping(s, path, depth, map[string]bool{}); err != nil {
		return err
	}
	for p, pos := range sub.idx.m {
		if _, set := w.idx.m[p]; !set && !explicit[topKey(p, path)] {
			w.idx.m[p] = pos
		}
	}
	for p, sc := range sub.idx.scalars {
		if _, set := w.idx.scalars[p]; !set && !explicit[topKey(p, path)] {
			w.idx.scalars[p] = sc
		}
	}
	return nil
}

// topKey is the key of the mapping at path that p lies under.
func topKey(p, path string) string {
	for q := p; q != path && q != ""; q = Parent(q) {
		if Parent(q) == path {
			if path == "" {
				return q
			}
			rest := q[len(path):]
			if rest[0] == '.' {
				return rest[1:]
			}
			return rest[1 : len(rest)-1]
		}
	}
	return ""
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// keyCache resolves plain mapping keys the way kubectl's YAML 1.1
// conversion spells them in JSON: `on:` is the key "true", `1e3:` "1000".
// The conversion itself does the work, once per distinct key.
type keyCache map[string]string

func (k keyCache) resolve(text string) string {
	if s, ok := k[text]; ok {
		return s
	}
	s := text
	if js, err := sigsyaml.YAMLToJSON([]byte(text + ": 0")); err == nil {
		var m map[string]any
		if json.Unmarshal(js, &m) == nil && len(m) == 1 {
			for key := range m {
				s = key
			}
		}
	}
	k[text] = s
	return s
}

var nonFinite = regexp.MustCompile(`^[-+]?\.(?:nan|NaN|NAN|inf|Inf|INF)$`)

// nonFinite finds the first .nan or .inf written in the document.
func (d *document) nonFinite() (Pos, string) {
	best, text := Pos{Line: d.firstLine}, ".nan"
	found := false
	for p, sc := range d.rootIdx.scalars {
		if !sc.plain || !nonFinite.MatchString(sc.text) {
			continue
		}
		at, _ := d.rootIdx.Lookup(p)
		if !found || at.Line < best.Line {
			best, text, found = at, sc.text, true
		}
	}
	return best, text
}
