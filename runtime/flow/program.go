package flow

import (
	"slices"
	"time"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/expr"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// Program is a compiled, valid flow: the nodes indexed by position with
// their links resolved to indices, the compiled expressions and templates,
// the initial variables and the declared trigger inputs. It is immutable
// and safe for concurrent use by any number of Step calls.
type Program struct {
	name      string
	revision  string
	canonical []byte
	trigger   v1alpha1.TriggerType
	channel   message.Channel
	nodes     []node
	ids       map[string]int // node id → index; used at run start and revision changes, not per node
	start     int
	vars      []v1alpha1.Variable
	inputs    []Input
	greeting  int // node index of the greeting (greeting.go), or none
	// recent: sessions keep the recent conversation (Session.Recent),
	// which only hand-offs and AI nodes read; other flows do not pay for it.
	recent bool
	// sensitive are the variables whose values the session inspector
	// redacts (observe.go).
	sensitive map[string]bool
	// models are the LanguageModels the AI nodes name, sorted.
	models []string
	// link holds the flows ForwardToFlow nodes call (link.go); nil until
	// the program is linked.
	link *linkSet
}

// Input is a variable a Manual run accepts.
type Input struct {
	Name     string
	Required bool
}

// Name is the flow name given in Options.FlowName.
func (p *Program) Name() string { return p.name }

// Revision is the first 10 hex digits of the sha256 of the canonical form.
func (p *Program) Revision() string { return p.revision }

// Canonical returns a copy of the canonical JSON form the revision hashes.
func (p *Program) Canonical() []byte { return append([]byte(nil), p.canonical...) }

// Trigger is the flow's trigger type.
func (p *Program) Trigger() v1alpha1.TriggerType { return p.trigger }

// Channel is the channel messages go out on (Options.Channel).
func (p *Program) Channel() message.Channel { return p.channel }

// Inputs are the inputs a Manual run accepts (nil for channel triggers,
// whose inputs are ignored).
func (p *Program) Inputs() []Input { return append([]Input(nil), p.inputs...) }

// Variables are the flow variables with their initial values, in spec order.
func (p *Program) Variables() []v1alpha1.Variable { return append([]v1alpha1.Variable(nil), p.vars...) }

// NodeType returns the type of the node with the id, if there is one.
func (p *Program) NodeType(id string) (v1alpha1.NodeType, bool) {
	i, ok := p.ids[id]
	if !ok {
		return "", false
	}
	return p.nodes[i].typ, true
}

// Models are the names of the LanguageModels the flow's AI nodes use,
// sorted, each once: what the executor must be configured with.
func (p *Program) Models() []string {
	out := append([]string(nil), p.models...)
	if p.link == nil || p.link.root != p {
		return out
	}
	// A linked root's executor runs the flows it forwards to as well, so it
	// needs their models too.
	for _, name := range p.Linked() {
		for _, m := range p.link.flows[name].models {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Len is the number of nodes.
func (p *Program) Len() int { return len(p.nodes) }

// none marks an absent link.
const none = -1

// node is one compiled node. Links are indices into Program.nodes, none
// when absent. Only the member of the node's type is set.
type node struct {
	id        string
	typ       v1alpha1.NodeType
	next      int
	onError   int
	onTimeout int

	send    *sendNode
	wait    waitNode
	cond    *condNode
	set     []assignment
	http    *httpNode
	delay   time.Duration
	jump    jumpNode
	handoff *handoffNode
	ai      *aiNode
	fwd     *forwardNode
}

// text is a template, or a plain string when it has no {{ }}: a static
// template is rendered once at compile time so a turn does not pay for it.
type text struct {
	s string
	t *expr.Template
}

func (x text) render(sc *expr.Scope) (string, error) {
	if x.t == nil {
		return x.s, nil
	}
	return x.t.Render(sc)
}

type sendNode struct {
	text     text
	hasText  bool
	media    *mediaTmpl
	buttons  []buttonTmpl
	quick    []buttonTmpl
	list     *listTmpl
	template *templateTmpl
	tag      string
}

type mediaTmpl struct {
	kind     message.MediaKind
	url      text
	caption  text
	filename string
}

type buttonTmpl struct {
	id    string
	title text
	desc  text
}

type listTmpl struct {
	button   text
	sections []sectionTmpl
}

type sectionTmpl struct {
	title text
	rows  []buttonTmpl
}

type templateTmpl struct {
	name, language string
	components     []componentTmpl
}

type componentTmpl struct {
	typ, subType string
	index        int
	params       []paramTmpl
}

type paramTmpl struct {
	typ     string
	text    text
	payload string
	link    text
}

type waitNode struct {
	timeout time.Duration
	saveAs  string
}

type condNode struct {
	branches []branch
	def      int
}

type branch struct {
	label string // the branch name, or "branches[i]" for logs
	when  *expr.Program
	next  int
}

type assignment struct {
	name  string
	value text
	expr  *expr.Program // nil: value is used
}

// compute evaluates the assignment's value in sc: its CEL expr, or its
// template.
func (a *assignment) compute(sc *expr.Scope) (any, error) {
	if a.expr == nil {
		return a.value.render(sc)
	}
	v, err := a.expr.Eval(sc)
	if err != nil {
		return nil, err
	}
	return normalize(v)
}

type httpNode struct {
	method  string
	url     text
	headers []headerTmpl
	query   []queryTmpl
	body    text
	timeout time.Duration
	saveAs  string
}

type headerTmpl struct {
	name   string
	value  text
	secret SecretRef // set when the value comes from a Secret
}

type queryTmpl struct {
	name  string
	value text
}

type jumpNode struct {
	target int
	max    int
}

type handoffNode struct {
	url     text
	timeout time.Duration
	queue   string
}
