package flow

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// linkSet is the flows a linked program may hand a contact to: every flow
// its ForwardToFlow nodes reach, directly or through each other. The
// programs of one set share it.
type linkSet struct {
	root  *Program
	flows map[string]*Program
}

// called returns the program of a flow of the set: the root for "", nil
// when the set has no such flow (or the program is not linked).
func (p *Program) called(name string) *Program {
	if p.link == nil {
		if name == "" {
			return p
		}
		return nil
	}
	if name == "" {
		return p.link.root
	}
	return p.link.flows[name]
}

// Calls returns the names of the flows the program forwards to, in node
// order, each once.
func (p *Program) Calls() []string {
	var out []string
	for i := range p.nodes {
		if f := p.nodes[i].fwd; f != nil && !slices.Contains(out, f.target) {
			out = append(out, f.target)
		}
	}
	return out
}

// Linked returns the flows the program was linked with, by name (nil when
// it was not linked).
func (p *Program) Linked() []string {
	if p.link == nil {
		return nil
	}
	out := make([]string, 0, len(p.link.flows))
	for name := range p.link.flows {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Link gives a compiled flow the programs of the flows it forwards to
// (compiled for the root's channel, with Options.FlowName set to their
// names), and returns the linked root: the program to hand to Step. Every
// flow reachable through ForwardToFlow nodes must be among called; extra
// programs are ignored.
//
// It checks what only the set of flows shows: every target exists, its
// trigger is Manual or the root's channel (the called flow talks on the
// caller's account), the variables passed are inputs a Manual target
// declares and cover its required ones, and no flow reaches itself
// through forwards. Problems of the root's own nodes carry their paths;
// problems further down are reported on the root's ForwardToFlow node
// that leads there, with the chain of flows. The programs are not
// modified: linked copies share their compiled nodes.
func Link(root *Program, called []*Program) (*Program, field.ErrorList) {
	if root == nil {
		return nil, field.ErrorList{field.InternalError(field.NewPath("spec"), fmt.Errorf("no program to link"))}
	}
	byName := make(map[string]*Program, len(called))
	for _, p := range called {
		if p != nil && p.name != "" && p.name != root.name {
			byName[p.name] = p
		}
	}
	l := &linker{root: root, byName: byName, reached: map[string]*Program{}}
	l.walk(root, nil, -1)
	if len(l.errs) > 0 {
		return nil, l.errs
	}
	set := &linkSet{flows: make(map[string]*Program, len(l.reached))}
	recent := root.recent
	for _, p := range l.reached {
		recent = recent || p.recent
	}
	link := func(p *Program) *Program {
		cp := *p
		cp.link, cp.recent = set, recent
		return &cp
	}
	set.root = link(root)
	for name, p := range l.reached {
		set.flows[name] = link(p)
	}
	return set.root, nil
}

type linker struct {
	root    *Program
	byName  map[string]*Program
	reached map[string]*Program
	errs    field.ErrorList
	// reported keeps one error per root node and kind of problem.
	reported map[string]bool
}

// walk visits the flows p forwards to, depth first; chain is the flows
// from the root to p (p excluded), via the root's node index rootNode (-1
// while p is the root).
func (l *linker) walk(p *Program, chain []string, rootNode int) {
	chain = append(chain, p.name)
	for i := range p.nodes {
		n := &p.nodes[i]
		if n.fwd == nil || n.fwd.target == "" {
			continue
		}
		at := rootNode
		if at < 0 {
			at = i
		}
		target := n.fwd.target
		if slices.Contains(chain, target) || target == l.root.name {
			cycle := append(slices.Clone(chain), target)
			l.fail(at, "cycle", field.Invalid(l.path(at), l.rootTarget(at), fmt.Sprintf(
				"the flows %s forward to each other in a cycle: a flow may not reach itself through ForwardToFlow nodes; return to the caller with return: true instead",
				strings.Join(cycle, " → "))))
			continue
		}
		tp, ok := l.byName[target]
		if !ok {
			l.fail(at, "missing:"+target, l.notFound(at, chain, target))
			continue
		}
		l.checkTarget(at, chain, n, tp)
		if _, seen := l.reached[target]; seen {
			continue
		}
		l.reached[target] = tp
		l.walk(tp, chain, at)
	}
}

// checkTarget applies the rules between a ForwardToFlow node of the flow
// at the end of chain and the flow it calls.
func (l *linker) checkTarget(at int, chain []string, n *node, tp *Program) {
	via := ""
	if len(chain) > 1 {
		via = fmt.Sprintf(" (reached through %s)", strings.Join(chain, " → "))
	}
	if tp.trigger != v1alpha1.TriggerManual && string(tp.trigger) != string(l.root.channel) {
		ch := string(l.root.channel)
		if ch == "" {
			ch = "no channel (a Manual flow without a binding)"
		}
		l.fail(at, "channel:"+tp.name, field.Invalid(l.path(at), l.rootTarget(at), fmt.Sprintf(
			"ChatFlow %s is triggered by %s but would talk to the contact on %s%s: forward to a Manual flow or one of the same channel",
			tp.name, tp.trigger, ch, via)))
	}
	if tp.trigger != v1alpha1.TriggerManual {
		return
	}
	passed := map[string]bool{}
	for _, a := range n.fwd.vars {
		passed[a.name] = true
		if !slices.ContainsFunc(tp.inputs, func(in Input) bool { return in.Name == a.name }) {
			l.fail(at, "input:"+tp.name+":"+a.name, field.Invalid(l.path(at), a.name, fmt.Sprintf(
				"ChatFlow %s declares no input %q%s: pass one of its spec.trigger.inputs (%s)", tp.name, a.name, via, inputNames(tp.inputs))))
		}
	}
	for _, in := range tp.inputs {
		if in.Required && !passed[in.Name] {
			l.fail(at, "required:"+tp.name+":"+in.Name, field.Required(l.path(at), fmt.Sprintf(
				"ChatFlow %s requires the input %q%s: pass it in forwardToFlow.variables", tp.name, in.Name, via)))
		}
	}
}

func inputNames(in []Input) string {
	if len(in) == 0 {
		return "it declares none"
	}
	names := make([]string, len(in))
	for i, x := range in {
		names[i] = x.Name
	}
	return strings.Join(names, ", ")
}

func (l *linker) notFound(at int, chain []string, target string) *field.Error {
	e := field.NotFound(l.path(at), l.rootTarget(at))
	if len(chain) > 1 {
		e.Detail = fmt.Sprintf("ChatFlow %s (reached through %s) is not available: create it in this namespace", target, strings.Join(chain, " → "))
	} else {
		e.Detail = fmt.Sprintf("no ChatFlow %s is available: create it in this namespace (and publish it)", target)
	}
	return e
}

// rootTarget is the flow the root's ForwardToFlow node i names: the value
// at the path of every error found through it.
func (l *linker) rootTarget(i int) string { return l.root.nodes[i].fwd.target }

// path is the field path of the root's ForwardToFlow target at node i.
func (l *linker) path(i int) *field.Path {
	return field.NewPath("spec").Child("nodes").Index(i).Child("forwardToFlow", "flowRef", "name")
}

func (l *linker) fail(at int, kind string, e *field.Error) {
	if l.reported == nil {
		l.reported = map[string]bool{}
	}
	key := fmt.Sprintf("%d/%s", at, kind)
	if l.reported[key] {
		return
	}
	l.reported[key] = true
	l.errs = append(l.errs, e)
}
