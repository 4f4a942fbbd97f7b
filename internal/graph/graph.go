// Package graph draws a flow as a picture: Mermaid (renders in GitHub and
// GitLab Markdown, so it pastes into a README or a PR) and Graphviz DOT.
// Node types get distinct shapes and colours; the ways out of a node are
// labelled (a Condition's branches and default, an AIClassify's labels and
// default, reply and timeout of a WaitForReply, error edges of sends, HTTP
// and model calls, jumps) and the exceptional ones are dashed.
//
// It draws what the spec says and does not validate it: callers pass flows
// that lint clean. It imports only the API types.
package graph

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// EdgeKind says what kind of way out of a node an edge is.
type EdgeKind string

// The edge kinds.
const (
	Next    EdgeKind = "next"    // the normal way on
	Branch  EdgeKind = "branch"  // a Condition branch or an AIClassify label, or their default
	Timeout EdgeKind = "timeout" // a WaitForReply or Handoff timeout
	Error   EdgeKind = "error"   // onError of a SendMessage, HTTPRequest or AI node
	Jump    EdgeKind = "jump"    // a Jump's target
)

// Node is a node of the picture.
type Node struct {
	ID   string
	Type v1alpha1.NodeType
	// Detail says what the node does, in a few words.
	Detail string
}

// Edge is a labelled link.
type Edge struct {
	From, To string
	Kind     EdgeKind
	Label    string
}

// Graph is the picture's model.
type Graph struct {
	Name  string
	Nodes []Node
	Edges []Edge
}

// maxLabel bounds the text of a label, in characters.
const maxLabel = 40

// Build makes the model of a flow: nodes in spec order, each node's edges
// in the order next, branches, default, onTimeout, onError, jump target.
func Build(name string, spec *v1alpha1.ChatFlowSpec) *Graph {
	g := &Graph{Name: name}
	for i := range spec.Nodes {
		n := &spec.Nodes[i]
		g.Nodes = append(g.Nodes, Node{ID: n.ID, Type: n.Type, Detail: detail(spec, n)})
		g.Edges = append(g.Edges, edges(n)...)
	}
	return g
}

func edges(n *v1alpha1.Node) []Edge {
	var out []Edge
	add := func(to string, k EdgeKind, label string) {
		if to != "" {
			out = append(out, Edge{From: n.ID, To: to, Kind: k, Label: label})
		}
	}
	switch n.Type {
	case v1alpha1.NodeWaitForReply:
		if n.OnTimeout != "" {
			add(n.Next, Next, "reply")
			add(n.OnTimeout, Timeout, "timeout")
		} else {
			add(n.Next, Next, "reply or timeout")
		}
	case v1alpha1.NodeHandoff:
		if n.OnTimeout != "" {
			add(n.Next, Next, "resumed")
			add(n.OnTimeout, Timeout, "timeout")
		} else {
			add(n.Next, Next, "resumed or timeout")
		}
	case v1alpha1.NodeCondition:
		if c := n.Condition; c != nil {
			for _, b := range c.Branches {
				label := b.Name
				if label == "" {
					label = b.When
				}
				add(b.Next, Branch, clip(label))
			}
			add(c.Default, Branch, "default")
		}
	case v1alpha1.NodeJump:
		max := int32(3)
		if n.Jump != nil {
			if n.Jump.MaxJumps > 0 {
				max = n.Jump.MaxJumps
			}
			add(n.Jump.Target, Jump, fmt.Sprintf("jump, at most %d×", max))
		}
		add(n.Next, Next, "then")
	case v1alpha1.NodeHTTPRequest:
		if n.OnError != "" {
			add(n.Next, Next, "2xx")
		} else {
			add(n.Next, Next, "")
		}
	case v1alpha1.NodeAIClassify:
		if c := n.AIClassify; c != nil {
			for _, l := range c.Labels {
				add(l.Next, Branch, clip(l.Name))
			}
			add(c.Default, Branch, "default")
		}
	default:
		add(n.Next, Next, "")
	}
	add(n.OnError, Error, "error")
	return out
}

// detail is the node's second line: what it does.
func detail(spec *v1alpha1.ChatFlowSpec, n *v1alpha1.Node) string {
	switch n.Type {
	case v1alpha1.NodeStart:
		return string(spec.Trigger.Type)
	case v1alpha1.NodeSendMessage:
		m := n.SendMessage
		if m == nil {
			return ""
		}
		var s string
		switch {
		case m.Template != nil:
			s = "template " + m.Template.Name
		case m.Text != "":
			s = clip(m.Text)
		case m.Media != nil:
			s = strings.ToLower(string(m.Media.Type))
		}
		choices := m.Buttons
		if len(choices) == 0 {
			choices = m.QuickReplies
		}
		if len(choices) > 0 {
			titles := make([]string, len(choices))
			for i, b := range choices {
				titles[i] = b.Title
			}
			s += " [" + clip(strings.Join(titles, " | ")) + "]"
		}
		if m.List != nil {
			rows := 0
			for _, sec := range m.List.Sections {
				rows += len(sec.Rows)
			}
			s += fmt.Sprintf(" [list of %d]", rows)
		}
		return s
	case v1alpha1.NodeWaitForReply:
		s := "wait for reply"
		if w := n.WaitForReply; w != nil {
			if w.Timeout != nil {
				s += ", " + short(w.Timeout.Duration.String())
			}
			if w.SaveAs != "" {
				s += " → vars." + w.SaveAs
			}
		}
		return s
	case v1alpha1.NodeCondition:
		return ""
	case v1alpha1.NodeSetVariables:
		if sv := n.SetVariables; sv != nil {
			names := make([]string, len(sv.Variables))
			for i, a := range sv.Variables {
				names[i] = a.Name
			}
			return clip("set " + strings.Join(names, ", "))
		}
	case v1alpha1.NodeHTTPRequest:
		if h := n.HTTPRequest; h != nil {
			m := h.Method
			if m == "" {
				m = "GET"
			}
			return m + " " + clip(shortURL(h.URL))
		}
	case v1alpha1.NodeDelay:
		if d := n.Delay; d != nil {
			return "delay " + short(d.Duration.Duration.String())
		}
	case v1alpha1.NodeJump:
		return ""
	case v1alpha1.NodeHandoff:
		if h := n.Handoff; h != nil && h.Queue != "" {
			return "hand off to " + clip(h.Queue)
		}
		return "hand off to an agent"
	case v1alpha1.NodeAIReply:
		if a := n.AIReply; a != nil {
			if a.SaveAs != "" {
				return clip("ask " + a.Model + " → vars." + a.SaveAs)
			}
			return clip("reply with " + a.Model)
		}
	case v1alpha1.NodeAIClassify:
		if a := n.AIClassify; a != nil {
			return clip("classify with " + a.Model)
		}
	case v1alpha1.NodeAIExtract:
		if a := n.AIExtract; a != nil {
			names := make([]string, len(a.Fields))
			for i, f := range a.Fields {
				names[i] = f.Name
			}
			return clip("extract " + strings.Join(names, ", "))
		}
	case v1alpha1.NodeForwardToFlow:
		if f := n.ForwardToFlow; f != nil {
			if f.Return {
				return clip("call " + f.FlowRef.Name)
			}
			return clip("forward to " + f.FlowRef.Name)
		}
	}
	return ""
}

// short drops the zero units Go durations carry: 1h0m0s → 1h.
func short(d string) string {
	if strings.HasSuffix(d, "m0s") {
		d = strings.TrimSuffix(d, "0s")
	}
	if strings.HasSuffix(d, "h0m") {
		d = strings.TrimSuffix(d, "0m")
	}
	return d
}

// shortURL leaves out the scheme and the query: the host and path say what
// is called. (url.Parse would escape the {{ }} of a templated path.)
func shortURL(s string) string {
	for _, p := range []string{"https://", "http://"} {
		s = strings.TrimPrefix(s, p)
	}
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[:i]
	}
	return s
}

// clip shortens a label and keeps it on one line.
func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= maxLabel {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:maxLabel-1])) + "…"
}
