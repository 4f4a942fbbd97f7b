package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// YAML renders v as YAML with the keys in the order encoding/json writes
// them (struct field order), not sorted: a manifest then reads apiVersion,
// kind, metadata, spec, and a node id, type, next, like hand-written ones.
// Multi-line strings are written as literal blocks. header, when not
// empty, is written first as # comments.
func YAML(v any, header string) ([]byte, error) {
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	n, err := jsonNode(json.NewDecoder(bytes.NewReader(js)))
	if err != nil {
		return nil, err
	}
	if header != "" {
		var lines []string
		for _, l := range strings.Split(strings.TrimRight(header, "\n"), "\n") {
			lines = append(lines, strings.TrimRight("# "+l, " "))
		}
		n.HeadComment = strings.Join(lines, "\n")
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{n}}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// jsonNode reads one JSON value from the token stream as a YAML node.
func jsonNode(d *json.Decoder) (*yaml.Node, error) {
	d.UseNumber()
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := jsonNode(d)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, stringNode(k, true), v)
			}
			_, err := d.Token() // }
			return n, err
		case '[':
			n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			for d.More() {
				v, err := jsonNode(d)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, v)
			}
			_, err := d.Token() // ]
			return n, err
		}
	case string:
		return stringNode(t, false), nil
	case json.Number:
		tag := "!!int"
		if strings.ContainsAny(string(t), ".eE") {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: string(t)}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(t)}, nil
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
	return nil, fmt.Errorf("manifest: unexpected JSON token %v", tok)
}

// stringNode is a string scalar (a mapping key when key) written so that
// kubectl reads it back as the same string. yaml.v3 writes YAML 1.2, where
// n, yes and on are strings, and leaves them unquoted; kubectl reads YAML
// 1.1, where they are booleans. So a single-line string stays plain only
// when kubectl's own conversion reads it back unchanged.
func stringNode(s string, key bool) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	switch {
	case strings.Contains(s, "\n"):
		if !hasTrailingSpace(s) {
			n.Style = yaml.LiteralStyle
		}
	case writesPlain(s) && !readsBack(s, key):
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

// ScalarStyle is the style a string scalar needs (as a mapping key when
// key) for kubectl to read it back as the same string: quoted where YAML
// 1.1 would read a plain n, yes or 0755 as something else, a literal block
// for several lines. Editors that write YAML by hand (the studio) use it so
// that what they write is what the flow tools and the API server read.
func ScalarStyle(s string, key bool) yaml.Style { return stringNode(s, key).Style }

// writesPlain reports whether yaml.v3 would write s unquoted; where it
// quotes s itself, its choice of quotes stands.
func writesPlain(s string) bool {
	b, err := yaml.Marshal(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s})
	return err == nil && len(b) > 0 && b[0] != '"' && b[0] != '\''
}

// readsBack reports whether s, written plain as a key or a value, is the
// string s to kubectl.
func readsBack(s string, key bool) bool {
	doc := "k: " + s
	if key {
		doc = s + ": k"
	}
	js, err := sigsyaml.YAMLToJSON([]byte(doc))
	if err != nil {
		return false
	}
	var m map[string]any
	if json.Unmarshal(js, &m) != nil || len(m) != 1 {
		return false
	}
	if key {
		_, ok := m[s]
		return ok
	}
	return m["k"] == s
}

// hasTrailingSpace reports lines ending in blanks, which a literal block
// cannot keep.
func hasTrailingSpace(s string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasSuffix(l, " ") || strings.HasSuffix(l, "\t") {
			return true
		}
	}
	return false
}

// WriteDocuments writes YAML documents separated by ---.
func WriteDocuments(w io.Writer, docs ...[]byte) error {
	for i, d := range docs {
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if _, err := w.Write(d); err != nil {
			return err
		}
	}
	return nil
}
