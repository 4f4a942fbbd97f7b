package studio

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/utils/lru"

	"github.com/chatflow-dev/chatflow/internal/manifest"
)

// Writing an edited flow back into the file it came from. The user commits
// that file, so a save must change what the user changed and nothing else:
// the other documents of the file stay byte for byte, and in the flow's
// own document every key, list item and scalar that did not change keeps
// its place, its comments and its quoting. Only when nothing changed is the
// file left exactly as it was; otherwise the flow's document is printed
// again by the YAML encoder, in the file's own indentation.

// document is one YAML document of a file: its bytes are src[start:end].
type document struct {
	start, end int
}

// docSeparator is a line that starts a new document.
var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?\r?$`)

// splitDocuments finds the documents of a multi-document file. Each
// separator line belongs to the document after it.
func splitDocuments(src []byte) []document {
	var out []document
	start := 0
	for _, m := range docSeparator.FindAllIndex(src, -1) {
		out = append(out, document{start, m[0]})
		start = m[0]
	}
	return append(out, document{start, len(src)})
}

// parseDocument decodes the YAML of one document; nil when it is empty.
func parseDocument(b []byte) (*yaml.Node, error) {
	var doc yaml.Node
	err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&doc)
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	return &doc, nil
}

// field returns the value of key in a mapping node, or nil.
func field(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

// scalarOf is the value of a scalar node, or "".
func scalarOf(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// parsedFlows remembers the flow documents findFlow found in files of up
// to maxParsedFile bytes: the studio renders the same file after every
// edit (to validate it), and a parse of a large flow costs as much as the
// rest of the rendering. Entries are read, never changed: WriteFlow builds
// a new tree around what changed.
var parsedFlows = lru.New(8) // flowOfSource → parsedFlow

// maxParsedFile bounds the files whose parse is remembered: a flow of a
// thousand nodes is a few hundred kilobytes.
const maxParsedFile = 2 << 20

type flowOfSource struct {
	src  [sha256.Size]byte
	name string
}

type parsedFlow struct {
	d   document
	doc *yaml.Node
}

// findFlow returns the document of the ChatFlow named name.
func findFlow(src []byte, name string) (document, *yaml.Node, error) {
	key := flowOfSource{sha256.Sum256(src), name}
	if p, ok := parsedFlows.Get(key); ok {
		return p.(parsedFlow).d, p.(parsedFlow).doc, nil
	}
	d, doc, err := parseFlow(src, name)
	if err == nil && len(src) <= maxParsedFile {
		parsedFlows.Add(key, parsedFlow{d, doc})
	}
	return d, doc, err
}

func parseFlow(src []byte, name string) (document, *yaml.Node, error) {
	for _, d := range splitDocuments(src) {
		doc, err := parseDocument(src[d.start:d.end])
		if err != nil || doc == nil {
			continue
		}
		root := doc.Content[0]
		if scalarOf(field(root, "kind")) == "ChatFlow" && scalarOf(field(root, "metadata", "name")) == name {
			return d, doc, nil
		}
	}
	return document{}, nil, fmt.Errorf("the file has no ChatFlow named %q as a document of its own (a flow inside a List cannot be written back)", name)
}

// WriteFlow returns src with the ChatFlow document named name replaced by
// obj (the flow as JSON). An empty src gives a new file.
func WriteFlow(src []byte, name string, obj []byte) ([]byte, error) {
	var newDoc yaml.Node
	if err := yaml.Unmarshal(obj, &newDoc); err != nil {
		return nil, fmt.Errorf("the flow is not JSON: %w", err)
	}
	if newDoc.Kind != yaml.DocumentNode || len(newDoc.Content) == 0 || newDoc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("the flow must be a JSON object")
	}
	newRoot := newDoc.Content[0]
	if err := noDuplicateKeys(newRoot); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(src)) == 0 {
		return encodeDocument(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{fresh(newRoot)}}, style{indent: 2, compact: true})
	}
	d, doc, err := findFlow(src, name)
	if err != nil {
		return nil, err
	}
	if sameValue(doc.Content[0], newRoot) {
		return src, nil
	}
	chunk := src[d.start:d.end]
	merged := *doc
	merged.Content = append([]*yaml.Node{merge(doc.Content[0], newRoot)}, doc.Content[1:]...)
	out, err := encodeDocument(&merged, detectStyle(chunk))
	if err != nil {
		return nil, err
	}
	// Keep the separator line of the document and what the encoder does
	// not print: a separator's own comment, the blank lines at the end.
	var b bytes.Buffer
	b.Write(src[:d.start])
	first, _, _ := bytes.Cut(chunk, []byte("\n"))
	if m := docSeparator.Find(first); m != nil && bytes.HasPrefix(chunk, m) {
		b.Write(m)
		b.WriteByte('\n')
	}
	b.Write(out)
	if d.end < len(src) && !bytes.HasSuffix(out, []byte("\n")) {
		b.WriteByte('\n')
	}
	b.Write(src[d.end:])
	return b.Bytes(), nil
}

// style is how a file indents.
type style struct {
	indent  int
	compact bool // "- " at the indentation of the parent key
}

var (
	keyLine  = regexp.MustCompile(`^( *)[^ #-][^:]*:[ \t]*(#.*)?$`)
	itemLine = regexp.MustCompile(`^( *)- `)
	anyLine  = regexp.MustCompile(`^( *)[^ #]`)
)

// detectStyle reads the indentation of a document from its first nested
// mapping and its first nested list; the defaults are kubectl's.
func detectStyle(chunk []byte) style {
	s := style{indent: 2, compact: true}
	lines := strings.Split(string(chunk), "\n")
	seenIndent, seenList := false, false
	for i, l := range lines {
		m := keyLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		for _, next := range lines[i+1:] {
			if strings.TrimSpace(next) == "" || strings.HasPrefix(strings.TrimSpace(next), "#") {
				continue
			}
			if it := itemLine.FindStringSubmatch(next); it != nil {
				if !seenList {
					s.compact, seenList = len(it[1]) == len(m[1]), true
				}
			} else if a := anyLine.FindStringSubmatch(next); a != nil && len(a[1]) > len(m[1]) && !seenIndent {
				s.indent, seenIndent = len(a[1])-len(m[1]), true
			}
			break
		}
		if seenIndent && seenList {
			break
		}
	}
	if s.indent < 2 || s.indent > 8 {
		s.indent = 2
	}
	return s
}

func encodeDocument(doc *yaml.Node, s style) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(s.indent)
	if s.compact {
		enc.CompactSeqIndent()
	}
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// value decodes a node as plain data, for comparisons.
func value(n *yaml.Node) any {
	var v any
	if err := n.Decode(&v); err != nil {
		return n.Value
	}
	return v
}

// sameValue tells whether two nodes hold the same data: what decoding
// them would tell, without decoding what needs no decoding (the same
// scalar written the same way; mappings of plain string keys, and
// sequences, whose parts are the same).
func sameValue(a, b *yaml.Node) bool {
	switch {
	case a.Kind == yaml.ScalarNode && b.Kind == yaml.ScalarNode && a.Tag == b.Tag && a.Value == b.Value:
		return true
	case a.Kind == yaml.SequenceNode && b.Kind == yaml.SequenceNode && a.Tag == "!!seq" && b.Tag == "!!seq":
		if len(a.Content) != len(b.Content) {
			return false
		}
		for i := range a.Content {
			if !sameValue(a.Content[i], b.Content[i]) {
				return false
			}
		}
		return true
	case a.Kind == yaml.MappingNode && b.Kind == yaml.MappingNode && a.Tag == "!!map" && b.Tag == "!!map":
		ka, okA := plainKeys(a)
		kb, okB := plainKeys(b)
		if !okA || !okB {
			break
		}
		if len(ka) != len(kb) {
			return false
		}
		for k, va := range ka {
			if vb, ok := kb[k]; !ok || !sameValue(va, vb) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(value(a), value(b))
}

// plainKeys maps the keys of a mapping to their values, when every key is
// a string written once (no merge key, no other type, no duplicate).
func plainKeys(m *yaml.Node) (map[string]*yaml.Node, bool) {
	keys := make(map[string]*yaml.Node, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
			return nil, false
		}
		if _, dup := keys[k.Value]; dup {
			return nil, false
		}
		keys[k.Value] = m.Content[i+1]
	}
	return keys, true
}

// merge returns old updated to hold the value of nu, keeping the nodes of
// old that hold the same value (and so their comments and style).
func merge(old, nu *yaml.Node) *yaml.Node {
	if old.Kind == yaml.AliasNode || nu.Kind != old.Kind {
		if old.Kind == yaml.AliasNode && sameValue(old, nu) {
			return old
		}
		n := fresh(nu)
		n.HeadComment, n.LineComment, n.FootComment = old.HeadComment, old.LineComment, old.FootComment
		return n
	}
	switch old.Kind {
	case yaml.MappingNode:
		return mergeMapping(old, nu)
	case yaml.SequenceNode:
		return mergeSequence(old, nu)
	case yaml.ScalarNode:
		if sameValue(old, nu) {
			return old
		}
		n := *old
		n.Value, n.Tag = nu.Value, nu.Tag
		n.Style = keptStyle(old, nu)
		return &n
	}
	return fresh(nu)
}

func mergeMapping(old, nu *yaml.Node) *yaml.Node {
	n := *old
	n.Content = nil
	had := map[string]bool{}
	for i := 0; i+1 < len(old.Content); i += 2 {
		k := old.Content[i].Value
		had[k] = true
		if v := field(nu, k); v != nil {
			n.Content = append(n.Content, old.Content[i], merge(old.Content[i+1], v))
		}
	}
	for i := 0; i+1 < len(nu.Content); i += 2 {
		if !had[nu.Content[i].Value] {
			n.Content = append(n.Content, freshNode(nu.Content[i], true), fresh(nu.Content[i+1]))
		}
	}
	return &n
}

// mergeSequence matches items by their id or name when every item has
// one (nodes, variables, buttons), so that an item keeps its comments
// when others are added, removed or moved; else by position.
func mergeSequence(old, nu *yaml.Node) *yaml.Node {
	n := *old
	n.Content = nil
	key := itemKey(old, nu)
	byKey := map[string]*yaml.Node{}
	if key != "" {
		for _, it := range old.Content {
			byKey[scalarOf(field(it, key))] = it
		}
	}
	for i, it := range nu.Content {
		var prev *yaml.Node
		switch {
		case key != "":
			prev = byKey[scalarOf(field(it, key))]
		case i < len(old.Content):
			prev = old.Content[i]
		}
		if prev != nil {
			n.Content = append(n.Content, merge(prev, it))
		} else {
			n.Content = append(n.Content, fresh(it))
		}
	}
	return &n
}

func itemKey(seqs ...*yaml.Node) string {
	for _, key := range []string{"id", "name"} {
		ok := true
		for _, s := range seqs {
			for _, it := range s.Content {
				if f := field(it, key); f == nil || f.Kind != yaml.ScalarNode {
					ok = false
				}
			}
		}
		if ok {
			return key
		}
	}
	return ""
}

// keptStyle keeps the quoting of a changed scalar where it still fits.
func keptStyle(old, nu *yaml.Node) yaml.Style {
	multiline := strings.Contains(nu.Value, "\n")
	switch {
	case nu.Tag != "!!str":
		return 0
	case old.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		if multiline {
			return old.Style
		}
		return 0
	case multiline:
		return blockStyle(nu.Value)
	}
	if st := old.Style &^ (yaml.FlowStyle | yaml.TaggedStyle); st != 0 {
		return st
	}
	return manifest.ScalarStyle(nu.Value, false)
}

func blockStyle(s string) yaml.Style {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasSuffix(l, " ") || strings.HasSuffix(l, "\t") {
			return 0 // a literal block cannot keep trailing blanks
		}
	}
	return yaml.LiteralStyle
}

// fresh is a node decoded from JSON made to print as block YAML, the way
// the rest of a manifest is written.
func fresh(n *yaml.Node) *yaml.Node { return freshNode(n, false) }

// freshNode is fresh for a mapping key when key: a string scalar is quoted
// where kubectl would not read it back as that string (a plain y or on).
func freshNode(n *yaml.Node, key bool) *yaml.Node {
	c := *n
	c.Style = 0
	if c.Kind == yaml.ScalarNode && c.Tag == "!!str" {
		if strings.Contains(c.Value, "\n") {
			c.Style = blockStyle(c.Value)
		} else {
			c.Style = manifest.ScalarStyle(c.Value, key)
		}
	}
	if len(n.Content) > 0 {
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, k := range n.Content {
			c.Content[i] = freshNode(k, n.Kind == yaml.MappingNode && i%2 == 0)
		}
	}
	if c.Kind == yaml.MappingNode {
		sortKeys(c.Content)
	}
	return &c
}

// Keys of new mappings are written in the order of the API's structs, as
// hand-written manifests have them, whatever order the client sent.
var (
	leadingKeys  = []string{"apiVersion", "kind", "metadata", "spec", "name", "namespace", "id", "type", "displayName", "remark", "state", "trigger", "logging", "variables"}
	trailingKeys = []string{"next", "onError", "onTimeout", "executor"}
)

func keyRank(k string) int {
	if i := slices.Index(leadingKeys, k); i >= 0 {
		return i - len(leadingKeys)
	}
	if i := slices.Index(trailingKeys, k); i >= 0 {
		return i + 1
	}
	return 0
}

// sortKeys orders the key/value pairs of a mapping's content by keyRank,
// stably.
func sortKeys(content []*yaml.Node) {
	pairs := make([][2]*yaml.Node, 0, len(content)/2)
	for i := 0; i+1 < len(content); i += 2 {
		pairs = append(pairs, [2]*yaml.Node{content[i], content[i+1]})
	}
	slices.SortStableFunc(pairs, func(a, b [2]*yaml.Node) int { return keyRank(a[0].Value) - keyRank(b[0].Value) })
	for i, p := range pairs {
		content[2*i], content[2*i+1] = p[0], p[1]
	}
}

// noDuplicateKeys refuses an object that names a key twice: JSON readers
// disagree on which one counts, and YAML forbids it.
func noDuplicateKeys(n *yaml.Node) error {
	seen := map[string]bool{}
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 {
			if seen[c.Value] {
				return fmt.Errorf("the flow names the key %q twice in one object", c.Value)
			}
			seen[c.Value] = true
			continue
		}
		if err := noDuplicateKeys(c); err != nil {
			return err
		}
	}
	return nil
}
