package flow

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// edge is a link between two nodes. bounded edges are Jump targets: a jump
// is taken at most maxJumps times per run, so a cycle closed by one ends.
type edge struct {
	to      int
	bounded bool
}

// edges lists the resolved links of node i.
func (c *compiler) edges(i int) []edge {
	n := &c.nodes[i]
	var out []edge
	add := func(to int, bounded bool) {
		if to != none {
			out = append(out, edge{to, bounded})
		}
	}
	add(n.next, false)
	add(n.onError, false)
	add(n.onTimeout, false)
	if n.cond != nil {
		for _, b := range n.cond.branches {
			add(b.next, false)
		}
		add(n.cond.def, false)
	}
	add(n.jump.target, true)
	if n.ai != nil {
		for _, l := range n.ai.labels {
			add(l.next, false)
		}
		add(n.ai.def, false)
	}
	return out
}

// waits says whether a node pauses the run for an outside event, which
// makes a cycle through it harmless: every turn of it needs a new event.
func waits(t v1alpha1.NodeType) bool {
	return t == v1alpha1.NodeWaitForReply || t == v1alpha1.NodeDelay || t == v1alpha1.NodeHandoff
}

// graph checks the rules on the whole graph: one Start, an End, every node
// reachable from Start, an End reachable from every node, and no cycle that
// could spin without waiting.
func (c *compiler) graph() {
	nodes := c.spec.Nodes
	np := c.root.Child("nodes")
	c.start = none
	ends := 0
	anyBroken := false
	for i := range nodes {
		anyBroken = anyBroken || c.broken[i]
		switch nodes[i].Type {
		case v1alpha1.NodeStart:
			if c.start == none {
				c.start = i
			} else {
				c.add(field.Invalid(c.nodePath(i).Child("type"), "Start", fmt.Sprintf(
					"a flow has exactly one Start node and %q (spec.nodes[%d]) is already one: change this node's type or remove it", nodes[c.start].ID, c.start)))
			}
		case v1alpha1.NodeEnd:
			ends++
		case v1alpha1.NodeForwardToFlow:
			if forwardsAway(&nodes[i]) {
				ends++ // a run may end by handing the contact to another flow
			}
		}
	}
	if len(nodes) == 0 {
		return
	}
	if c.start == none {
		c.add(field.Required(np, "a flow needs exactly one Start node, e.g. {id: start, type: Start, next: <first node>}"))
	}
	if ends == 0 {
		c.add(field.Required(np, "a flow needs at least one End node, e.g. {id: end, type: End}"))
	}

	adj := make([][]edge, len(nodes))
	for i := range nodes {
		adj[i] = c.edges(i)
	}

	// Reachable from Start. A broken link may well be the one meant to
	// lead to an "unreachable" node (next: shiped → shipped), so this is
	// only judged once every link resolves.
	var seen []bool // nil: reachability not judged
	if c.start != none && !anyBroken {
		seen = make([]bool, len(nodes))
		seen[c.start] = true
		queue := []int{c.start}
		for len(queue) > 0 {
			i := queue[0]
			queue = queue[1:]
			for _, e := range adj[i] {
				if !seen[e.to] {
					seen[e.to] = true
					queue = append(queue, e.to)
				}
			}
		}
		for i := range nodes {
			// Nodes without an id and extra Starts are reported already.
			if !seen[i] && nodes[i].ID != "" && c.ids[nodes[i].ID] == i && nodes[i].Type != v1alpha1.NodeStart {
				c.add(field.Invalid(c.nodePath(i).Child("id"), clip(nodes[i].ID),
					"no path leads to this node from the Start node: link it from another node (next, a branch, default, onError, onTimeout or a jump target), or remove it"))
			}
		}
	}

	// An End reachable from every node: walk the links backwards from the
	// End nodes. Nodes with a broken link count as exits, since the fix of
	// that link decides where they lead.
	if ends > 0 {
		radj := make([][]int, len(nodes))
		for i := range nodes {
			for _, e := range adj[i] {
				radj[e.to] = append(radj[e.to], i)
			}
		}
		done := make([]bool, len(nodes))
		var queue []int
		for i := range nodes {
			// A ForwardToFlow without return hands the run to another
			// flow: an exit, like End.
			if nodes[i].Type == v1alpha1.NodeEnd || c.broken[i] || forwardsAway(&nodes[i]) {
				done[i] = true
				queue = append(queue, i)
			}
		}
		for len(queue) > 0 {
			i := queue[0]
			queue = queue[1:]
			for _, j := range radj[i] {
				if !done[j] {
					done[j] = true
					queue = append(queue, j)
				}
			}
		}
		for i := range nodes {
			// An unreachable node is reported as such: removing it is the
			// likely fix, and it would make this error moot.
			if !done[i] && c.ids[nodes[i].ID] == i && (seen == nil || seen[i]) {
				c.add(field.Invalid(c.nodePath(i), clip(nodes[i].ID),
					"no End node can be reached from this node: every path from it loops forever; give the loop an exit that leads to an End (a Condition default, a WaitForReply onTimeout, a Jump next)"))
			}
		}
	}

	c.cycles(adj)
}

// cycles reports every strongly connected component of the graph of
// unbounded links (links out of non-waiting nodes, except Jump targets)
// that contains a cycle: such a loop would spin without waiting for
// anything. Tarjan's algorithm, iterative so that a deep graph cannot
// exhaust the stack.
func (c *compiler) cycles(adj [][]edge) {
	nodes := c.spec.Nodes
	n := len(nodes)
	succ := func(i int) []int {
		if waits(nodes[i].Type) {
			return nil
		}
		var out []int
		for _, e := range adj[i] {
			if !e.bounded {
				out = append(out, e.to)
			}
		}
		return out
	}
	succs := make([][]int, n)
	for i := range nodes {
		succs[i] = succ(i)
	}

	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	next := 0
	type frame struct{ v, child int }
	for root := 0; root < n; root++ {
		if index[root] != -1 {
			continue
		}
		call := []frame{{root, 0}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			v := f.v
			if f.child < len(succs[v]) {
				w := succs[v][f.child]
				f.child++
				if index[w] == -1 {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{w, 0})
				} else if onStack[w] && index[w] < low[v] {
					low[v] = index[w]
				}
				continue
			}
			call = call[:len(call)-1]
			if len(call) > 0 {
				if u := call[len(call)-1].v; low[v] < low[u] {
					low[u] = low[v]
				}
			}
			if low[v] != index[v] {
				continue
			}
			var comp []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			c.reportCycle(comp, succs)
		}
	}
}

func (c *compiler) reportCycle(comp []int, succs [][]int) {
	nodes := c.spec.Nodes
	first := comp[0]
	for _, i := range comp {
		if i < first {
			first = i
		}
	}
	if len(comp) == 1 {
		self := false
		for _, w := range succs[first] {
			self = self || w == first
		}
		if !self {
			return
		}
	}
	in := make(map[int]bool, len(comp))
	for _, i := range comp {
		in[i] = true
	}
	path := shortestCycle(first, succs, in)
	names := make([]string, len(path))
	for k, i := range path {
		names[k] = nodes[i].ID
	}
	if len(names) > 12 {
		names = append(names[:10], "…", names[len(names)-1])
	}
	c.add(field.Invalid(c.nodePath(first), clip(nodes[first].ID), fmt.Sprintf(
		"the nodes %s form a loop that never waits: add a WaitForReply or Delay to it, or close it with a Jump (its maxJumps bounds the loop)",
		strings.Join(names, " → "))))
}

// shortestCycle finds the shortest cycle from start back to start within
// the component, by breadth-first search.
func shortestCycle(start int, succs [][]int, in map[int]bool) []int {
	prev := map[int]int{}
	queue := []int{start}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range succs[v] {
			if !in[w] {
				continue
			}
			if w == start {
				path := []int{start}
				for u := v; u != start; u = prev[u] {
					path = append(path, u)
				}
				// path is start, v, ..., reversed after the first element.
				for a, b := 1, len(path)-1; a < b; a, b = a+1, b-1 {
					path[a], path[b] = path[b], path[a]
				}
				return append(path, start)
			}
			if _, seen := prev[w]; !seen {
				prev[w] = v
				queue = append(queue, w)
			}
		}
	}
	return []int{start, start}
}

// suggest returns the node id closest to a misspelled one, or "".
func (c *compiler) suggest(id string) string {
	// Suggestions cost a pass over all ids; a spec full of broken links
	// gets them for the first few only.
	c.suggested++
	if len(id) > 64 || len(c.spec.Nodes) > MaxNodes || c.suggested > 50 {
		return ""
	}
	best, bestD := "", 3
	limit := min(1+len(id)/4, 2) // short ids are too easily "close" to each other
	for _, n := range c.spec.Nodes {
		if n.ID == "" || len(n.ID) > 64 {
			continue
		}
		if d := levenshtein(id, n.ID); d <= limit && (d < bestD || d == bestD && n.ID < best) {
			best, bestD = n.ID, d
		}
	}
	if best == "" {
		// A different case or separator is a common slip: Ask_Name → ask-name.
		norm := suggestID(id)
		if _, ok := c.ids[norm]; ok && norm != id {
			return norm
		}
	}
	return best
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
