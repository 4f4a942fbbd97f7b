package graph

import (
	"fmt"
	"strings"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// style is how a node type is drawn.
type style struct {
	// mermaid open and close brackets of the shape.
	open, close string
	// dot shape.
	shape string
	fill  string
	line  string
}

var styles = map[v1alpha1.NodeType]style{
	v1alpha1.NodeStart:         {"([", "])", "oval", "#e8f5e9", "#2e7d32"},
	v1alpha1.NodeEnd:           {"(((", ")))", "doublecircle", "#eceff1", "#455a64"},
	v1alpha1.NodeSendMessage:   {"[", "]", "box", "#e3f2fd", "#1565c0"},
	v1alpha1.NodeWaitForReply:  {"[/", "/]", "parallelogram", "#fff8e1", "#f9a825"},
	v1alpha1.NodeCondition:     {"{", "}", "diamond", "#f3e5f5", "#6a1b9a"},
	v1alpha1.NodeSetVariables:  {"[/", `\]`, "trapezium", "#f1f8e9", "#558b2f"},
	v1alpha1.NodeHTTPRequest:   {"[[", "]]", "component", "#e0f7fa", "#00838f"},
	v1alpha1.NodeDelay:         {"{{", "}}", "hexagon", "#fff3e0", "#ef6c00"},
	v1alpha1.NodeJump:          {"((", "))", "circle", "#fce4ec", "#ad1457"},
	v1alpha1.NodeHandoff:       {">", "]", "house", "#ede7f6", "#4527a0"},
	v1alpha1.NodeAIReply:       {"[(", ")]", "cylinder", "#e0f2f1", "#00695c"},
	v1alpha1.NodeAIClassify:    {"{", "}", "diamond", "#e0f2f1", "#00695c"},
	v1alpha1.NodeAIExtract:     {"[(", ")]", "cylinder", "#e0f2f1", "#00695c"},
	v1alpha1.NodeForwardToFlow: {`[\`, `\]`, "box3d", "#eceff1", "#37474f"},
}

var edgeColors = map[EdgeKind]string{
	Error:   "#c62828",
	Timeout: "#ef6c00",
	Jump:    "#ad1457",
}

func styleOf(t v1alpha1.NodeType) style {
	if s, ok := styles[t]; ok {
		return s
	}
	return style{"[", "]", "box", "#ffffff", "#000000"}
}

// className is the Mermaid class of a node type, prefixed because Mermaid
// reserves words such as end.
func className(t v1alpha1.NodeType) string { return "cf" + string(t) }

// Mermaid renders a flowchart. Node ids are prefixed (n_start), since
// Mermaid reserves words such as end.
func (g *Graph) Mermaid() string {
	var b strings.Builder
	b.WriteString("flowchart TD\n")
	used := map[v1alpha1.NodeType][]string{}
	var types []v1alpha1.NodeType
	for _, n := range g.Nodes {
		s := styleOf(n.Type)
		label := n.ID
		if n.Detail != "" {
			label += "<br/>" + mermaidText(n.Detail)
		}
		fmt.Fprintf(&b, "  %s%s\"%s\"%s\n", mermaidID(n.ID), s.open, label, s.close)
		if _, ok := used[n.Type]; !ok {
			types = append(types, n.Type)
		}
		used[n.Type] = append(used[n.Type], mermaidID(n.ID))
	}
	var styled []string
	for i, e := range g.Edges {
		arrow := "-->"
		if e.Kind == Error || e.Kind == Timeout || e.Kind == Jump {
			arrow = "-.->"
		}
		if e.Label != "" {
			arrow += "|\"" + mermaidText(e.Label) + "\"|"
		}
		fmt.Fprintf(&b, "  %s %s %s\n", mermaidID(e.From), arrow, mermaidID(e.To))
		if c, ok := edgeColors[e.Kind]; ok {
			styled = append(styled, fmt.Sprintf("  linkStyle %d stroke:%s,color:%s", i, c, c))
		}
	}
	for _, s := range styled {
		b.WriteString(s + "\n")
	}
	for _, t := range types {
		s := styleOf(t)
		fmt.Fprintf(&b, "  classDef %s fill:%s,stroke:%s\n", className(t), s.fill, s.line)
		fmt.Fprintf(&b, "  class %s %s\n", strings.Join(used[t], ","), className(t))
	}
	return b.String()
}

func mermaidID(id string) string { return "n_" + strings.ReplaceAll(id, "-", "_") }

// mermaidText escapes text for a quoted Mermaid label: quotes and the
// characters Mermaid or the HTML it renders to would interpret become
// entity codes.
func mermaidText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString("#quot;")
		case '#':
			b.WriteString("#35;")
		case '<':
			b.WriteString("#lt;")
		case '>':
			b.WriteString("#gt;")
		case '&':
			b.WriteString("#amp;")
		case '`':
			b.WriteString("#96;")
		case '\n', '\r':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// DOT renders a Graphviz digraph.
func (g *Graph) DOT() string {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n", dotString(g.Name))
	b.WriteString("  rankdir=TB;\n")
	b.WriteString("  node [fontname=\"Helvetica\", fontsize=11, style=filled];\n")
	b.WriteString("  edge [fontname=\"Helvetica\", fontsize=10];\n")
	for _, n := range g.Nodes {
		s := styleOf(n.Type)
		label := n.ID
		if n.Detail != "" {
			label += "\n" + n.Detail
		}
		fmt.Fprintf(&b, "  %s [shape=%s, label=%s, fillcolor=%s, color=%s];\n",
			dotString(n.ID), s.shape, dotString(label), dotString(s.fill), dotString(s.line))
	}
	for _, e := range g.Edges {
		var attrs []string
		if e.Label != "" {
			attrs = append(attrs, "label="+dotString(e.Label))
		}
		switch e.Kind {
		case Error, Timeout:
			attrs = append(attrs, "style=dashed")
		case Jump:
			attrs = append(attrs, "style=dotted")
		}
		if c, ok := edgeColors[e.Kind]; ok {
			attrs = append(attrs, "color="+dotString(c), "fontcolor="+dotString(c))
		}
		a := ""
		if len(attrs) > 0 {
			a = " [" + strings.Join(attrs, ", ") + "]"
		}
		fmt.Fprintf(&b, "  %s -> %s%s;\n", dotString(e.From), dotString(e.To), a)
	}
	b.WriteString("}\n")
	return b.String()
}

// dotString quotes a DOT string: backslash and quote escaped, line breaks
// as \n (DOT's centred line break).
func dotString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", "", "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
