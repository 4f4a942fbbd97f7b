package manifest

import "strings"

// Index maps field paths to positions. Paths are spelled as
// k8s.io/apimachinery's field.Path prints them: spec.nodes[3].next, and
// metadata.labels[app] for map keys (map keys are indexed both ways, since
// field errors spell them either way).
type Index struct {
	root Pos
	m    map[string]Pos
	// scalars records how each scalar value was written.
	scalars map[string]scalar
	// alias rewrites path prefixes before a lookup (see Rebase).
	alias map[string]string
}

// scalar is a scalar as written: its text, and whether it was plain
// (neither quoted, nor a block, nor tagged), the only form whose type
// YAML guesses.
type scalar struct {
	text  string
	plain bool
}

func newIndex(root Pos) *Index {
	return &Index{root: root, m: map[string]Pos{}, scalars: map[string]scalar{}}
}

func (x *Index) add(path string, p Pos) { x.m[path] = p }

func (x *Index) scalar(path, text string, plain bool) { x.scalars[path] = scalar{text, plain} }

// Written returns the text of the scalar at path as it was written, and
// whether it was plain (unquoted, untagged: YAML decided its type). ok is
// false when path is not a scalar of the source.
func (x *Index) Written(path string) (text string, plain, ok bool) {
	if x == nil {
		return "", false, false
	}
	path = x.rewrite(strings.TrimPrefix(strings.TrimPrefix(path, "<root>"), "."))
	s, ok := x.scalars[path]
	if !ok && strings.HasSuffix(path, "]") {
		// A map key spelled labels[key]: scalars are recorded as labels.key.
		parent := Parent(path)
		s, ok = x.scalars[joinPath(parent, path[len(parent)+1:len(path)-1])]
	}
	return s.text, s.plain, ok
}

// at is the position of path or its nearest written ancestor.
func (x *Index) at(path string) Pos {
	p, _ := x.Lookup(path)
	return p
}

// Lookup returns the position of path, or of its nearest ancestor that was
// written (a missing required field is reported where its parent is), or
// the start of the object. exact says whether path itself was found.
func (x *Index) Lookup(path string) (p Pos, exact bool) {
	if x == nil {
		return Pos{}, false
	}
	path = strings.TrimPrefix(strings.TrimPrefix(path, "<root>"), ".")
	path = x.rewrite(path)
	for first := true; path != ""; first = false {
		if p, ok := x.m[path]; ok {
			return p, first
		}
		path = Parent(path)
	}
	return x.root, false
}

// Parent drops the last segment of a field path: spec.nodes[3].next →
// spec.nodes[3] → spec.nodes → spec → "".
func Parent(path string) string {
	if strings.HasSuffix(path, "]") {
		// The bracket that opens the last segment: keys may hold dots.
		depth := 0
		for i := len(path) - 1; i >= 0; i-- {
			switch path[i] {
			case ']':
				depth++
			case '[':
				depth--
				if depth == 0 {
					return path[:i]
				}
			}
		}
		return ""
	}
	depth := 0
	for i := len(path) - 1; i >= 0; i-- {
		switch path[i] {
		case ']':
			depth++
		case '[':
			depth--
		case '.':
			if depth == 0 {
				return path[:i]
			}
		}
	}
	return ""
}

// Rebase returns an index over the same positions where paths starting
// with a key of alias are looked up under its value instead: for an object
// built from another one whose fields sit elsewhere (metadata.name of a
// portable flow is its top-level name).
func (x *Index) Rebase(alias map[string]string) *Index {
	return &Index{root: x.root, m: x.m, scalars: x.scalars, alias: alias}
}

func (x *Index) rewrite(path string) string {
	best := ""
	for k := range x.alias {
		if len(k) > len(best) && (path == k || strings.HasPrefix(path, k+".") || strings.HasPrefix(path, k+"[")) {
			best = k
		}
	}
	if best == "" {
		return path
	}
	return x.alias[best] + path[len(best):]
}
