package flow

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/channel/capability"
	"github.com/chatflow-dev/chatflow/runtime/expr"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// Options tune Compile.
type Options struct {
	// Channel the flow's messages go out on: the trigger type, or for a
	// Manual flow the channel of its binding. Empty (or Manual) skips the
	// channel capability checks; ChannelOf gives the usual value.
	Channel message.Channel
	// FlowName is the flow's name, readable as flow.name.
	FlowName string
	// Path of the spec in error messages; default field.NewPath("spec").
	Path *field.Path
	// Env compiles expressions and templates; default expr.Default().
	Env *expr.Env
}

// ChannelOf is the channel a flow's messages go out on when it is known from
// the spec alone: the trigger type of a channel trigger, empty for Manual
// flows (their channel is their binding's).
func ChannelOf(spec *v1alpha1.ChatFlowSpec) message.Channel {
	if spec == nil || spec.Trigger.Type == v1alpha1.TriggerManual {
		return ""
	}
	switch t := message.Channel(spec.Trigger.Type); t {
	case message.WhatsApp, message.Messenger, message.Instagram, message.Viber:
		return t
	}
	return ""
}

// Compile checks the CRD's limits itself (the CLI compiles files that never
// went through an API server); they are generated from the CRD into
// zz_generated.limits.go, so both change with the markers of api/v1alpha1.
//go:generate go run ./internal/crdlimits/gen ../../config/crd/bases/chatflow.dev_chatflows.yaml zz_generated.limits.go

// Defaults and the limits that are the compiler's own.
const (
	DefaultWaitTimeout    = 10 * time.Minute
	DefaultHandoffTimeout = 24 * time.Hour
	DefaultHTTPTimeout    = 10 * time.Second
	DefaultMaxJumps       = 3
	MaxHTTPTimeout        = 30 * time.Second
	maxWait               = 7 * 24 * time.Hour
)

var (
	idPattern   = regexp.MustCompile(nodeIDPattern)
	namePattern = regexp.MustCompile(variableNamePattern)
	headerName  = regexp.MustCompile(headerNamePattern)
	tmplName    = regexp.MustCompile(templateNamePattern)
)

// Compile validates a flow spec and compiles it into a Program. It checks
// every rule and reports all problems; the Program is nil whenever the list
// is not empty. It never panics, whatever the spec holds.
func Compile(spec *v1alpha1.ChatFlowSpec, opts Options) (*Program, field.ErrorList) {
	root := opts.Path
	if root == nil {
		root = field.NewPath("spec")
	}
	if spec == nil {
		return nil, field.ErrorList{field.Required(root, "a flow needs a spec with a trigger and nodes")}
	}
	env := opts.Env
	if env == nil {
		env = expr.Default()
	}
	c := &compiler{spec: spec, opts: opts, root: root, env: env, ids: map[string]int{}}
	if caps, ok := capability.For(opts.Channel); ok {
		c.caps, c.hasCaps = caps, true
	}
	c.trigger()
	c.variables()
	c.indexNodes()
	for i := range spec.Nodes {
		c.node(i)
	}
	c.graph()
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	canon, err := Canonical(spec)
	if err != nil {
		return nil, field.ErrorList{field.InternalError(root, err)}
	}
	p := &Program{
		name:      opts.FlowName,
		revision:  revisionOf(canon),
		canonical: canon,
		trigger:   spec.Trigger.Type,
		channel:   opts.Channel,
		nodes:     c.nodes,
		ids:       c.ids,
		start:     c.start,
		vars:      append([]v1alpha1.Variable(nil), spec.Variables...),
	}
	p.greeting = greetingOf(p)
	p.recent = slices.ContainsFunc(p.nodes, func(n node) bool { return n.typ == v1alpha1.NodeHandoff || n.ai != nil })
	for _, n := range p.nodes {
		if n.ai != nil {
			p.models = append(p.models, n.ai.model)
		}
	}
	slices.Sort(p.models)
	p.models = slices.Compact(p.models)
	if spec.Trigger.Type == v1alpha1.TriggerManual {
		for _, in := range spec.Trigger.Inputs {
			p.inputs = append(p.inputs, Input{Name: in.Name, Required: in.Required})
		}
	}
	p.sensitive = sensitiveOf(spec)
	return p, nil
}

type compiler struct {
	spec    *v1alpha1.ChatFlowSpec
	opts    Options
	root    *field.Path
	env     *expr.Env
	caps    capability.Capabilities
	hasCaps bool
	errs    field.ErrorList

	ids    map[string]int // first node with each id
	nodes  []node
	start  int
	broken []bool // nodes with a link that does not resolve or is missing

	suggested int // suggestions computed so far
}

func (c *compiler) add(errs ...*field.Error) { c.errs = append(c.errs, errs...) }

func (c *compiler) nodePath(i int) *field.Path { return c.root.Child("nodes").Index(i) }

func (c *compiler) trigger() {
	p := c.root.Child("trigger")
	t := c.spec.Trigger
	switch t.Type {
	case v1alpha1.TriggerManual, v1alpha1.TriggerWhatsApp, v1alpha1.TriggerInstagram, v1alpha1.TriggerViber, v1alpha1.TriggerMessenger:
	case "":
		c.add(field.Required(p.Child("type"), "set the trigger type: Manual, WhatsApp, Instagram, Viber or Messenger"))
	default:
		c.add(field.NotSupported(p.Child("type"), t.Type, []v1alpha1.TriggerType{
			v1alpha1.TriggerManual, v1alpha1.TriggerWhatsApp, v1alpha1.TriggerInstagram, v1alpha1.TriggerViber, v1alpha1.TriggerMessenger}))
	}
	// Inputs only mean something to Manual runs; for channel triggers they
	// are ignored (and left out of the canonical form), not rejected, so a
	// flow can switch trigger type without losing them.
	if t.Type != v1alpha1.TriggerManual {
		if t.CredentialsRef != nil && t.Type != "" {
			c.add(field.Forbidden(p.Child("credentialsRef"), "is for Manual flows: a channel trigger takes its credentials from its ChannelBinding; remove it"))
		}
		return
	}
	if r := t.CredentialsRef; r != nil && r.Name == "" {
		c.add(field.Required(p.Child("credentialsRef", "name"), "name the Secret with the runToken, e.g. survey-credentials"))
	}
	ip := p.Child("inputs")
	if len(t.Inputs) > MaxInputs {
		c.add(field.TooMany(ip, len(t.Inputs), MaxInputs))
	}
	seen := map[string]int{}
	for i, in := range t.Inputs {
		np := ip.Index(i).Child("name")
		c.checkName(np, in.Name, "input")
		if j, dup := seen[in.Name]; dup && in.Name != "" {
			c.add(dupErr(np, in.Name, fmt.Sprintf("spec.trigger.inputs[%d] has the same name; input names must be unique", j)))
		} else {
			seen[in.Name] = i
		}
	}
}

func (c *compiler) variables() {
	p := c.root.Child("variables")
	if len(c.spec.Variables) > MaxVariables {
		c.add(field.TooMany(p, len(c.spec.Variables), MaxVariables))
	}
	seen := map[string]int{}
	for i, v := range c.spec.Variables {
		np := p.Index(i).Child("name")
		c.checkName(np, v.Name, "variable")
		if j, dup := seen[v.Name]; dup && v.Name != "" {
			c.add(dupErr(np, v.Name, fmt.Sprintf("spec.variables[%d] has the same name; variable names must be unique", j)))
		} else {
			seen[v.Name] = i
		}
	}
}

// checkName checks a variable name (variables, inputs, saveAs, assignments):
// it must be usable as vars.<name> in CEL.
func (c *compiler) checkName(p *field.Path, name, what string) {
	switch {
	case name == "":
		c.add(field.Required(p, fmt.Sprintf("the %s needs a name, e.g. orderNumber", what)))
	case len(name) > MaxVariableName || !namePattern.MatchString(name):
		c.add(field.Invalid(p, clip(name), fmt.Sprintf("must start with a letter or '_' and contain only letters, digits and '_' (at most %d), so that vars."+
			"<name> works in expressions, e.g. orderNumber", MaxVariableName)))
	}
}

// indexNodes records the first node of each id and checks ids.
func (c *compiler) indexNodes() {
	nodes := c.spec.Nodes
	np := c.root.Child("nodes")
	if len(nodes) > MaxNodes {
		c.add(field.TooMany(np, len(nodes), MaxNodes))
	}
	c.nodes = make([]node, len(nodes))
	c.broken = make([]bool, len(nodes))
	for i := range nodes {
		id := nodes[i].ID
		p := c.nodePath(i).Child("id")
		switch {
		case id == "":
			c.add(field.Required(p, "every node needs an id, e.g. ask-name"))
		case len(id) > MaxNodeID || !idPattern.MatchString(id):
			c.add(field.Invalid(p, clip(id), fmt.Sprintf("must be lower-case letters, digits and '-', start and end with a letter or digit, and be at most %d characters (like a DNS label), e.g. %s", MaxNodeID, suggestID(id))))
		}
		if j, dup := c.ids[id]; dup {
			if id != "" {
				c.add(dupErr(p, id, fmt.Sprintf("spec.nodes[%d] already has this id; node ids must be unique", j)))
			}
			continue
		}
		c.ids[id] = i
	}
	if len(nodes) == 0 {
		c.add(field.Required(np, "a flow needs nodes: exactly one Start, at least one End, and the components between them"))
	}
}

// ref resolves a link to a node index. Empty ids return none without an
// error: whether a link is required is the caller's business.
func (c *compiler) ref(from int, p *field.Path, id string) int {
	if id == "" {
		return none
	}
	if i, ok := c.ids[id]; ok && id != "" {
		return i
	}
	c.broken[from] = true
	detail := fmt.Sprintf("no node has id %q", clip(id))
	if s := c.suggest(id); s != "" {
		detail += fmt.Sprintf("; did you mean %q?", s)
	} else {
		detail += ": must name the id of an existing node"
	}
	return c.errRef(p, id, detail)
}

func (c *compiler) errRef(p *field.Path, id, detail string) int {
	e := field.NotFound(p, clip(id))
	e.Detail = detail
	c.add(e)
	return none
}

// link resolves a link that the node type requires.
func (c *compiler) requiredLink(from int, p *field.Path, id, what string) int {
	if id == "" {
		c.broken[from] = true
		c.add(field.Required(p, what))
		return none
	}
	return c.ref(from, p, id)
}

// compileTemplate compiles a template; errors carry the column.
func (c *compiler) compileTemplate(p *field.Path, src string) text {
	return c.compileTemplateWith(p, src, c.env.CompileTemplate)
}

// compileTemplateWith compiles a template with compile (a template, or a
// URL template).
func (c *compiler) compileTemplateWith(p *field.Path, src string, compile func(string) (*expr.Template, error)) text {
	if !strings.Contains(src, "{{") && !strings.Contains(src, "}}") {
		return text{s: src}
	}
	t, err := compile(src)
	if err != nil {
		c.add(exprErr(p, src, err, "template"))
		return text{s: src}
	}
	if t.IsStatic() {
		if s, err := t.Render(&expr.Scope{}); err == nil {
			return text{s: s}
		}
	}
	return text{t: t}
}

func (c *compiler) compileExpr(p *field.Path, src string, boolean bool) *expr.Program {
	var (
		prg *expr.Program
		err error
	)
	if boolean {
		prg, err = c.env.CompileBool(src)
	} else {
		prg, err = c.env.Compile(src)
	}
	if err != nil {
		c.add(exprErr(p, src, err, "expression"))
		return nil
	}
	return prg
}

func exprErr(p *field.Path, src string, err error, what string) *field.Error {
	var ee *expr.Error
	if errors.As(err, &ee) {
		return field.Invalid(p, clip(src), fmt.Sprintf("the %s does not compile: column %d: %s", what, ee.Column, ee.Message))
	}
	return field.Invalid(p, clip(src), fmt.Sprintf("the %s does not compile: %v", what, err))
}

// duration checks an optional duration against its range and returns it,
// or def when absent.
func (c *compiler) duration(p *field.Path, d *time.Duration, def, lo, hi time.Duration, example string) time.Duration {
	if d == nil {
		return def
	}
	if *d < lo || *d > hi {
		c.add(field.Invalid(p, d.String(), fmt.Sprintf("must be between %s and %s, e.g. %s", human(lo), human(hi), example)))
		return def
	}
	return *d
}

// human spells a duration bound the way users write them.
func human(d time.Duration) string {
	switch {
	case d == maxWait:
		return "7 days (168h)"
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	default:
		return d.String()
	}
}

func dupErr(p *field.Path, v, detail string) *field.Error {
	e := field.Duplicate(p, clip(v))
	e.Detail = detail
	return e
}

// clip keeps bad values in messages readable.
func clip(s string) string {
	const max = 80
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max]) + "…"
}

// suggestID turns a bad id into a valid one for the hint.
func suggestID(id string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(id) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
		if b.Len() >= 40 {
			break
		}
	}
	s := strings.Trim(b.String(), "-")
	if s == "" {
		return "ask-name"
	}
	return s
}
