package flow

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// MaxCallDepth bounds the call stack of a session: the ForwardToFlow nodes
// with return that may be waiting for their called flow at once. A call
// beyond it ends the run with an error, which also stops a cycle of flows
// that admission could not see (two flows edited at once).
const MaxCallDepth = 8

// forwardNode is a compiled ForwardToFlow node.
type forwardNode struct {
	target string
	vars   []assignment
	ret    bool
	saveAs string
}

// forwardToFlow compiles the settings of a ForwardToFlow node; its links
// are checked by forwardLinks.
func (c *compiler) forwardToFlow(p *field.Path, f *v1alpha1.ForwardToFlowNode) *forwardNode {
	out := &forwardNode{target: f.FlowRef.Name, ret: f.Return, saveAs: f.SaveAs}
	np := p.Child("flowRef", "name")
	switch {
	case f.FlowRef.Name == "":
		c.add(field.Required(np, "name the ChatFlow of this namespace to hand the contact to, e.g. billing"))
	default:
		for _, msg := range validation.NameIsDNSSubdomain(f.FlowRef.Name, false) {
			c.add(field.Invalid(np, clip(f.FlowRef.Name), "must be the name of a ChatFlow: "+msg))
		}
		if f.FlowRef.Name == c.opts.FlowName && c.opts.FlowName != "" {
			c.add(field.Invalid(np, f.FlowRef.Name, "a flow cannot forward to itself: use a Jump to go back to one of its nodes"))
		}
	}
	if len(f.Variables) > 0 {
		// The same rules as a SetVariables node's: names, and exactly one
		// of a template value or a CEL expr.
		out.vars = c.setVariables(p, &v1alpha1.SetVariablesNode{Variables: f.Variables})
		seen := map[string]int{}
		for j, a := range f.Variables {
			if k, dup := seen[a.Name]; dup && a.Name != "" {
				c.add(dupErr(p.Child("variables").Index(j).Child("name"), a.Name,
					fmt.Sprintf("%s has the same name; each variable is passed once", p.Child("variables").Index(k))))
			} else {
				seen[a.Name] = j
			}
		}
	}
	if f.SaveAs != "" {
		sp := p.Child("saveAs")
		c.checkName(sp, f.SaveAs, "saveAs variable")
		if !f.Return {
			c.add(field.Forbidden(sp, "saveAs keeps the called flow's variables when it returns: set return: true, or remove saveAs"))
		}
	}
	return out
}

// forwardLinks checks next of a ForwardToFlow node: required with return
// (where the called flow comes back to), forbidden without (the caller's
// run ends there).
func (c *compiler) forwardLinks(i int, p *field.Path, sn *v1alpha1.Node, n *node) {
	ret := sn.ForwardToFlow != nil && sn.ForwardToFlow.Return
	if ret {
		n.next = c.requiredLink(i, p.Child("next"), sn.Next,
			"a ForwardToFlow node with return needs next: the node the caller continues on when the called flow ends")
		return
	}
	if sn.Next != "" {
		c.add(field.Forbidden(p.Child("next"),
			"without return the called flow takes the contact over and the caller's run ends here: remove next, or set forwardToFlow.return: true"))
	}
}

// forwardsAway reports whether a node ends its flow's part of the run by
// handing the contact to another flow for good: an exit, like End.
func forwardsAway(n *v1alpha1.Node) bool {
	return n.Type == v1alpha1.NodeForwardToFlow && n.ForwardToFlow != nil && !n.ForwardToFlow.Return
}

// Targets returns the names of the flows a spec forwards to, in node
// order, each once.
func Targets(spec *v1alpha1.ChatFlowSpec) []string {
	if spec == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for i := range spec.Nodes {
		f := spec.Nodes[i].ForwardToFlow
		if f == nil || f.FlowRef.Name == "" || seen[f.FlowRef.Name] {
			continue
		}
		seen[f.FlowRef.Name] = true
		out = append(out, f.FlowRef.Name)
	}
	return out
}
