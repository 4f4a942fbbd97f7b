package flow

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// members maps each node type to the member that holds its settings.
var members = []struct {
	typ  v1alpha1.NodeType
	name string
	set  func(*v1alpha1.Node) bool
}{
	{v1alpha1.NodeSendMessage, "sendMessage", func(n *v1alpha1.Node) bool { return n.SendMessage != nil }},
	{v1alpha1.NodeWaitForReply, "waitForReply", func(n *v1alpha1.Node) bool { return n.WaitForReply != nil }},
	{v1alpha1.NodeCondition, "condition", func(n *v1alpha1.Node) bool { return n.Condition != nil }},
	{v1alpha1.NodeSetVariables, "setVariables", func(n *v1alpha1.Node) bool { return n.SetVariables != nil }},
	{v1alpha1.NodeHTTPRequest, "httpRequest", func(n *v1alpha1.Node) bool { return n.HTTPRequest != nil }},
	{v1alpha1.NodeDelay, "delay", func(n *v1alpha1.Node) bool { return n.Delay != nil }},
	{v1alpha1.NodeJump, "jump", func(n *v1alpha1.Node) bool { return n.Jump != nil }},
	{v1alpha1.NodeHandoff, "handoff", func(n *v1alpha1.Node) bool { return n.Handoff != nil }},
	{v1alpha1.NodeAIReply, "aiReply", func(n *v1alpha1.Node) bool { return n.AIReply != nil }},
	{v1alpha1.NodeAIClassify, "aiClassify", func(n *v1alpha1.Node) bool { return n.AIClassify != nil }},
	{v1alpha1.NodeAIExtract, "aiExtract", func(n *v1alpha1.Node) bool { return n.AIExtract != nil }},
	{v1alpha1.NodeForwardToFlow, "forwardToFlow", func(n *v1alpha1.Node) bool { return n.ForwardToFlow != nil }},
}

// canFail says whether a node type may have onError.
func canFail(t v1alpha1.NodeType) bool {
	switch t {
	case v1alpha1.NodeSendMessage, v1alpha1.NodeHTTPRequest, v1alpha1.NodeAIReply, v1alpha1.NodeAIClassify, v1alpha1.NodeAIExtract:
		return true
	}
	return false
}

func validType(t v1alpha1.NodeType) bool {
	for _, v := range v1alpha1.NodeTypes {
		if v == t {
			return true
		}
	}
	return false
}

// article is "a" or "an" before a node type.
func article(t v1alpha1.NodeType) string {
	switch t {
	case v1alpha1.NodeEnd, v1alpha1.NodeHTTPRequest, v1alpha1.NodeAIReply, v1alpha1.NodeAIClassify, v1alpha1.NodeAIExtract:
		return "an"
	}
	return "a"
}

// node checks and compiles spec.nodes[i].
func (c *compiler) node(i int) {
	sn := &c.spec.Nodes[i]
	p := c.nodePath(i)
	n := &c.nodes[i]
	*n = node{id: sn.ID, typ: sn.Type, next: none, onError: none, onTimeout: none}
	n.jump.target = none

	if !validType(sn.Type) {
		if sn.Type == "" {
			c.add(field.Required(p.Child("type"), "set the node type: one of "+typeList()))
		} else {
			c.add(field.NotSupported(p.Child("type"), sn.Type, v1alpha1.NodeTypes))
		}
		c.broken[i] = true
		return
	}
	t := sn.Type
	for _, m := range members {
		has := m.set(sn)
		switch {
		case has && m.typ != t:
			c.add(field.Forbidden(p.Child(m.name), fmt.Sprintf("only %s nodes may have %s; this node is %s %s: remove %s or set type: %s",
				m.typ, m.name, article(t), t, m.name, m.typ)))
		case !has && m.typ == t:
			c.add(field.Required(p.Child(m.name), fmt.Sprintf("%s %s node needs its settings in %s", article(t), t, m.name)))
			c.broken[i] = true
		}
	}

	// Links every type may or must have.
	switch t {
	case v1alpha1.NodeEnd:
		if sn.Next != "" {
			c.add(field.Forbidden(p.Child("next"), "an End node closes the session and has no next: remove it"))
		}
	case v1alpha1.NodeCondition:
		if sn.Next != "" {
			c.add(field.Forbidden(p.Child("next"), "a Condition node continues on its branches and default, not next: remove next (or make it the default)"))
		}
	case v1alpha1.NodeAIClassify:
		if sn.Next != "" {
			c.add(field.Forbidden(p.Child("next"), "an AIClassify node continues on its labels' next and default, not next: remove next (or make it the default)"))
		}
	case v1alpha1.NodeForwardToFlow:
		c.forwardLinks(i, p, sn, n)
	default:
		n.next = c.requiredLink(i, p.Child("next"), sn.Next, fmt.Sprintf("%s %s node needs next: the id of the node that runs after it", article(t), t))
	}
	if sn.OnError != "" {
		if canFail(t) {
			n.onError = c.ref(i, p.Child("onError"), sn.OnError)
		} else {
			c.add(field.Forbidden(p.Child("onError"), fmt.Sprintf("onError applies only to SendMessage, HTTPRequest and AI nodes; %s %s node cannot fail: remove it", article(t), t)))
		}
	}
	if sn.OnTimeout != "" {
		if t == v1alpha1.NodeWaitForReply || t == v1alpha1.NodeHandoff {
			n.onTimeout = c.ref(i, p.Child("onTimeout"), sn.OnTimeout)
		} else {
			c.add(field.Forbidden(p.Child("onTimeout"), fmt.Sprintf("onTimeout applies only to WaitForReply and Handoff nodes; remove it from this %s node", t)))
		}
	}

	switch t {
	case v1alpha1.NodeSendMessage:
		if sn.SendMessage != nil {
			n.send = c.sendMessage(p.Child("sendMessage"), sn.SendMessage)
		}
	case v1alpha1.NodeWaitForReply:
		if w := sn.WaitForReply; w != nil {
			wp := p.Child("waitForReply")
			n.wait.timeout = c.duration(wp.Child("timeout"), dur(w.Timeout), DefaultWaitTimeout, time.Second, maxWait, "10m")
			if w.SaveAs != "" {
				c.checkName(wp.Child("saveAs"), w.SaveAs, "saveAs variable")
			}
			c.sensitiveNeedsSaveAs(wp, w.Sensitive, w.SaveAs)
			n.wait.saveAs = w.SaveAs
		}
	case v1alpha1.NodeCondition:
		if sn.Condition != nil {
			n.cond = c.condition(i, p.Child("condition"), sn.Condition)
		}
	case v1alpha1.NodeSetVariables:
		if sn.SetVariables != nil {
			n.set = c.setVariables(p.Child("setVariables"), sn.SetVariables)
		}
	case v1alpha1.NodeHTTPRequest:
		if sn.HTTPRequest != nil {
			n.http = c.httpRequest(p.Child("httpRequest"), sn.HTTPRequest)
		}
	case v1alpha1.NodeDelay:
		if d := sn.Delay; d != nil {
			dp := p.Child("delay", "duration")
			if d.Duration.Duration == 0 {
				c.add(field.Required(dp, "set how long to pause, between 1s and 7 days (168h), e.g. 30s"))
			} else {
				n.delay = c.duration(dp, &d.Duration.Duration, 0, time.Second, maxWait, "30s")
			}
		}
	case v1alpha1.NodeJump:
		if j := sn.Jump; j != nil {
			jp := p.Child("jump")
			n.jump.target = c.requiredLink(i, jp.Child("target"), j.Target, "a Jump node needs target: the id of the node to jump to")
			n.jump.max = int(j.MaxJumps)
			switch {
			case j.MaxJumps == 0:
				n.jump.max = DefaultMaxJumps
			case j.MaxJumps < MinMaxJumps || j.MaxJumps > MaxMaxJumps:
				c.add(field.Invalid(jp.Child("maxJumps"), j.MaxJumps, fmt.Sprintf("must be between %d and %d (default %d): how many times the jump is taken before the flow goes on to next", MinMaxJumps, MaxMaxJumps, DefaultMaxJumps)))
			}
		}
	case v1alpha1.NodeForwardToFlow:
		if f := sn.ForwardToFlow; f != nil {
			n.fwd = c.forwardToFlow(p.Child("forwardToFlow"), f)
		}
	case v1alpha1.NodeHandoff:
		if h := sn.Handoff; h != nil {
			hp := p.Child("handoff")
			n.handoff = &handoffNode{queue: h.Queue}
			n.handoff.timeout = c.duration(hp.Child("timeout"), dur(h.Timeout), DefaultHandoffTimeout, time.Minute, maxWait, "24h")
			if h.NotifyURL != "" {
				n.handoff.url = c.urlTemplate(hp.Child("notifyURL"), h.NotifyURL)
			}
		}
	case v1alpha1.NodeAIReply:
		if sn.AIReply != nil {
			n.ai = c.aiReply(p.Child("aiReply"), sn.AIReply)
		}
	case v1alpha1.NodeAIClassify:
		if sn.AIClassify != nil {
			n.ai = c.aiClassify(i, p.Child("aiClassify"), sn.AIClassify)
		}
	case v1alpha1.NodeAIExtract:
		if sn.AIExtract != nil {
			n.ai = c.aiExtract(p.Child("aiExtract"), sn.AIExtract)
		}
	}
}

func typeList() string {
	s := make([]string, len(v1alpha1.NodeTypes))
	for i, t := range v1alpha1.NodeTypes {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

func dur(d *metav1.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	return &d.Duration
}

func (c *compiler) condition(i int, p *field.Path, cn *v1alpha1.ConditionNode) *condNode {
	out := &condNode{def: none}
	bp := p.Child("branches")
	if len(cn.Branches) == 0 {
		c.add(field.Required(bp, "a Condition node needs at least one branch: {when: <CEL bool>, next: <node id>}"))
	}
	if len(cn.Branches) > MaxBranches {
		c.add(field.TooMany(bp, len(cn.Branches), MaxBranches))
	}
	out.branches = make([]branch, len(cn.Branches))
	for j, b := range cn.Branches {
		pj := bp.Index(j)
		br := &out.branches[j]
		br.label = b.Name
		if br.label == "" {
			br.label = fmt.Sprintf("branches[%d]", j)
		}
		if b.When == "" {
			c.add(field.Required(pj.Child("when"), `a branch needs when: a CEL condition, e.g. message.buttonId == "track"`))
		} else {
			br.when = c.compileExpr(pj.Child("when"), b.When, true)
		}
		br.next = c.requiredLink(i, pj.Child("next"), b.Next, "a branch needs next: the id of the node that runs when it is taken")
	}
	out.def = c.requiredLink(i, p.Child("default"), cn.Default, "a Condition node needs default: the id of the node that runs when no branch matches")
	return out
}

func (c *compiler) setVariables(p *field.Path, sv *v1alpha1.SetVariablesNode) []assignment {
	vp := p.Child("variables")
	if len(sv.Variables) == 0 {
		c.add(field.Required(vp, "a SetVariables node needs at least one {name, value} or {name, expr}"))
	}
	if len(sv.Variables) > MaxAssigns {
		c.add(field.TooMany(vp, len(sv.Variables), MaxAssigns))
	}
	out := make([]assignment, len(sv.Variables))
	for j, a := range sv.Variables {
		pj := vp.Index(j)
		c.checkName(pj.Child("name"), a.Name, "variable")
		out[j].name = a.Name
		switch {
		case a.Value != nil && a.Expr != nil:
			c.add(field.Forbidden(pj, "set exactly one of value (a template, gives a string) and expr (a CEL expression, gives any type)"))
		case a.Value == nil && a.Expr == nil:
			c.add(field.Required(pj, "set value (a template, gives a string) or expr (a CEL expression, gives any type)"))
		case a.Expr != nil:
			out[j].expr = c.compileExpr(pj.Child("expr"), *a.Expr, false)
		default:
			out[j].value = c.compileTemplate(pj.Child("value"), *a.Value)
		}
	}
	return out
}

var httpMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

func (c *compiler) httpRequest(p *field.Path, h *v1alpha1.HTTPRequestNode) *httpNode {
	out := &httpNode{method: h.Method, saveAs: h.SaveAs}
	if out.method == "" {
		out.method = "GET"
	}
	valid := false
	for _, m := range httpMethods {
		valid = valid || m == out.method
	}
	if !valid {
		c.add(field.NotSupported(p.Child("method"), h.Method, httpMethods))
	}
	if h.URL == "" {
		c.add(field.Required(p.Child("url"), "set the url to call, e.g. https://api.example.com/orders/{{ vars.orderNumber }}"))
	} else {
		out.url = c.urlTemplate(p.Child("url"), h.URL)
	}
	hp := p.Child("headers")
	if len(h.Headers) > MaxHeaders {
		c.add(field.TooMany(hp, len(h.Headers), MaxHeaders))
	}
	out.headers = make([]headerTmpl, len(h.Headers))
	for j, hd := range h.Headers {
		pj := hp.Index(j)
		out.headers[j].name = hd.Name
		switch {
		case hd.Name == "":
			c.add(field.Required(pj.Child("name"), "the header needs a name, e.g. Authorization"))
		case len(hd.Name) > MaxHeaderName || !headerName.MatchString(hd.Name):
			c.add(field.Invalid(pj.Child("name"), clip(hd.Name), "must be an HTTP header name: letters, digits and !#$%&'*+.^_|~- only"))
		}
		switch {
		case hd.Value != nil && hd.ValueFrom != nil:
			c.add(field.Forbidden(pj, "set exactly one of value and valueFrom"))
		case hd.Value == nil && hd.ValueFrom == nil:
			c.add(field.Required(pj, "set value (a template) or valueFrom.secretKeyRef {name, key}"))
		case hd.Value != nil:
			out.headers[j].value = c.compileTemplate(pj.Child("value"), *hd.Value)
		default:
			ref := hd.ValueFrom.SecretKeyRef
			rp := pj.Child("valueFrom", "secretKeyRef")
			if ref.Name == "" {
				c.add(field.Required(rp.Child("name"), "name the Secret in the flow's namespace"))
			}
			if ref.Key == "" {
				c.add(field.Required(rp.Child("key"), "name the key of the Secret"))
			}
			out.headers[j].secret = SecretRef{Name: ref.Name, Key: ref.Key}
		}
	}
	qp := p.Child("query")
	if len(h.Query) > MaxQuery {
		c.add(field.TooMany(qp, len(h.Query), MaxQuery))
	}
	out.query = make([]queryTmpl, len(h.Query))
	for j, q := range h.Query {
		pj := qp.Index(j)
		if q.Name == "" {
			c.add(field.Required(pj.Child("name"), "the query parameter needs a name"))
		}
		out.query[j] = queryTmpl{name: q.Name, value: c.compileTemplate(pj.Child("value"), q.Value)}
	}
	if h.Body != "" {
		if out.method == "GET" {
			c.add(field.Forbidden(p.Child("body"), "a GET request has no body: use query, or set method: POST"))
		}
		out.body = c.compileTemplate(p.Child("body"), h.Body)
	}
	out.timeout = DefaultHTTPTimeout
	if h.Timeout != nil {
		if d := h.Timeout.Duration; d <= 0 || d > MaxHTTPTimeout {
			c.add(field.Invalid(p.Child("timeout"), d.String(), "must be more than 0 and at most 30s (default 10s)"))
		} else {
			out.timeout = d
		}
	}
	if h.SaveAs != "" {
		c.checkName(p.Child("saveAs"), h.SaveAs, "saveAs variable")
	}
	c.sensitiveNeedsSaveAs(p, h.Sensitive, h.SaveAs)
	return out
}

// urlTemplate compiles a URL template (expr.CompileURLTemplate: values are
// escaped for the part of the URL they land in); a URL without {{ }} must
// already be an absolute http(s) URL.
func (c *compiler) urlTemplate(p *field.Path, src string) text {
	t := c.compileTemplateWith(p, src, c.env.CompileURLTemplate)
	if t.t == nil && !strings.Contains(src, "{{") {
		if msg := checkURL(t.s); msg != "" {
			c.add(field.Invalid(p, clip(src), msg))
		}
	}
	return t
}

// checkURL returns what is wrong with an absolute http(s) URL, or "".
func checkURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "is not a URL: " + err.Error()
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be an absolute http or https URL, e.g. https://api.example.com/orders"
	case u.Host == "":
		return "must name a host, e.g. https://api.example.com/orders"
	}
	return ""
}

var mediaKinds = map[v1alpha1.MediaType]message.MediaKind{
	v1alpha1.MediaImage:    message.Image,
	v1alpha1.MediaVideo:    message.Video,
	v1alpha1.MediaAudio:    message.Audio,
	v1alpha1.MediaDocument: message.Document,
	v1alpha1.MediaSticker:  message.Sticker,
}

func (c *compiler) sendMessage(p *field.Path, m *v1alpha1.SendMessageNode) *sendNode {
	out := &sendNode{tag: m.Tag, hasText: m.Text != ""}
	if m.Text == "" && m.Media == nil && m.Template == nil {
		c.add(field.Required(p, "a message needs text, media or a template"))
	}
	if m.Template != nil && (m.Text != "" || m.Media != nil || len(m.Buttons) > 0 || m.List != nil || len(m.QuickReplies) > 0) {
		c.add(field.Forbidden(p.Child("template"), "a WhatsApp template message carries nothing else: remove text, media, buttons, list and quickReplies"))
	}
	choices := 0
	for _, has := range []bool{len(m.Buttons) > 0, m.List != nil, len(m.QuickReplies) > 0} {
		if has {
			choices++
		}
	}
	if choices > 1 {
		c.add(field.Forbidden(p, "use at most one of buttons, list and quickReplies"))
	}
	if m.List != nil && m.Text == "" {
		c.add(field.Required(p.Child("text"), "a list message needs text for its body"))
	}
	if m.Text != "" {
		out.text = c.compileTemplate(p.Child("text"), m.Text)
	}
	if md := m.Media; md != nil {
		mp := p.Child("media")
		kind, ok := mediaKinds[md.Type]
		if !ok {
			c.add(field.NotSupported(mp.Child("type"), md.Type, []v1alpha1.MediaType{
				v1alpha1.MediaImage, v1alpha1.MediaVideo, v1alpha1.MediaAudio, v1alpha1.MediaDocument, v1alpha1.MediaSticker}))
		}
		out.media = &mediaTmpl{kind: kind, filename: md.Filename}
		if md.URL == "" {
			c.add(field.Required(mp.Child("url"), "set the URL the channel fetches the file from (https)"))
		} else {
			out.media.url = c.urlTemplate(mp.Child("url"), md.URL)
		}
		if md.Caption != "" {
			out.media.caption = c.compileTemplate(mp.Child("caption"), md.Caption)
		}
	}
	out.buttons = c.buttons(p.Child("buttons"), m.Buttons, MaxButtons)
	out.quick = c.buttons(p.Child("quickReplies"), m.QuickReplies, MaxQuickReplies)
	// With a channel, channelChecks reports counts against its own limits.
	if l := m.List; l != nil {
		out.list = c.list(p.Child("list"), l)
	}
	if tp := m.Template; tp != nil {
		out.template = c.waTemplate(p.Child("template"), tp)
	}
	// With a channel, channelChecks names the tags the channel takes.
	if m.Tag != "" && !c.hasCaps {
		valid := false
		for _, t := range messageTags {
			valid = valid || t == m.Tag
		}
		if !valid {
			c.add(field.NotSupported(p.Child("tag"), m.Tag, messageTags))
		}
	}
	if c.hasCaps {
		c.channelChecks(p, m)
	}
	return out
}

// maybeTemplate compiles titles only when they contain {{, so that a title
// is a plain string in the common case.
func (c *compiler) maybeTemplate(p *field.Path, s string) text {
	if !strings.Contains(s, "{{") {
		return text{s: s}
	}
	return c.compileTemplate(p, s)
}

func (c *compiler) buttons(p *field.Path, bs []v1alpha1.Button, max int) []buttonTmpl {
	if len(bs) == 0 {
		return nil
	}
	if len(bs) > max && !c.hasCaps {
		c.add(field.TooMany(p, len(bs), max))
	}
	out := make([]buttonTmpl, len(bs))
	seen := map[string]int{}
	for j, b := range bs {
		pj := p.Index(j)
		if b.ID == "" {
			c.add(field.Required(pj.Child("id"), "the button needs an id: it comes back as message.buttonId"))
		} else if k, dup := seen[b.ID]; dup {
			c.add(dupErr(pj.Child("id"), b.ID, fmt.Sprintf("%s has the same id; the reply could not tell them apart", p.Index(k))))
		} else {
			seen[b.ID] = j
		}
		if b.Title == "" {
			c.add(field.Required(pj.Child("title"), "the button needs a title to show"))
		}
		out[j] = buttonTmpl{id: b.ID, title: c.maybeTemplate(pj.Child("title"), b.Title)}
	}
	return out
}

func (c *compiler) list(p *field.Path, l *v1alpha1.ListMessage) *listTmpl {
	out := &listTmpl{}
	if l.Button == "" {
		c.add(field.Required(p.Child("button"), "set the label of the button that opens the list, e.g. Choose"))
	}
	out.button = c.maybeTemplate(p.Child("button"), l.Button)
	sp := p.Child("sections")
	if len(l.Sections) == 0 {
		c.add(field.Required(sp, "a list needs at least one section with rows"))
	}
	if len(l.Sections) > MaxListSections && !c.hasCaps {
		c.add(field.TooMany(sp, len(l.Sections), MaxListSections))
	}
	seen := map[string]*field.Path{}
	for j, s := range l.Sections {
		pj := sp.Index(j)
		sec := sectionTmpl{title: c.maybeTemplate(pj.Child("title"), s.Title)}
		if len(s.Rows) == 0 {
			c.add(field.Required(pj.Child("rows"), "a section needs at least one row {id, title}"))
		}
		if len(s.Rows) > MaxListRows && !c.hasCaps {
			c.add(field.TooMany(pj.Child("rows"), len(s.Rows), MaxListRows))
		}
		for k, r := range s.Rows {
			pk := pj.Child("rows").Index(k)
			if r.ID == "" {
				c.add(field.Required(pk.Child("id"), "the row needs an id: it comes back as message.buttonId"))
			} else if prev, dup := seen[r.ID]; dup {
				c.add(dupErr(pk.Child("id"), r.ID, fmt.Sprintf("%s has the same id; the reply could not tell them apart", prev)))
			} else {
				seen[r.ID] = pk
			}
			if r.Title == "" {
				c.add(field.Required(pk.Child("title"), "the row needs a title to show"))
			}
			sec.rows = append(sec.rows, buttonTmpl{id: r.ID,
				title: c.maybeTemplate(pk.Child("title"), r.Title),
				desc:  c.maybeTemplate(pk.Child("description"), r.Description)})
		}
		out.sections = append(out.sections, sec)
	}
	return out
}

func oneOf(v string, set []string) bool {
	for _, s := range set {
		if s == v {
			return true
		}
	}
	return false
}

func (c *compiler) waTemplate(p *field.Path, t *v1alpha1.WhatsAppTemplate) *templateTmpl {
	out := &templateTmpl{name: t.Name, language: t.Language}
	switch {
	case t.Name == "":
		c.add(field.Required(p.Child("name"), "name the approved template, e.g. order_update"))
	case !tmplName.MatchString(t.Name):
		c.add(field.Invalid(p.Child("name"), clip(t.Name), "template names are lower-case letters, digits and '_', e.g. order_update"))
	}
	if len(t.Language) < MinTemplateLanguage || len(t.Language) > MaxTemplateLanguage {
		c.add(field.Invalid(p.Child("language"), clip(t.Language), "set the template's language code, e.g. en_US"))
	}
	cp := p.Child("components")
	if len(t.Components) > MaxTemplateComponents {
		c.add(field.TooMany(cp, len(t.Components), MaxTemplateComponents))
	}
	for j, comp := range t.Components {
		pj := cp.Index(j)
		ct := componentTmpl{typ: comp.Type, subType: comp.SubType}
		if !oneOf(comp.Type, componentTypes) {
			c.add(field.NotSupported(pj.Child("type"), comp.Type, componentTypes))
		}
		if comp.SubType != "" && !oneOf(comp.SubType, subTypes) {
			c.add(field.NotSupported(pj.Child("subType"), comp.SubType, subTypes))
		}
		if comp.Type == "button" && (comp.SubType == "" || comp.Index == nil) {
			c.add(field.Required(pj, "a button component needs subType (quick_reply or url) and index (from 0)"))
		}
		if comp.Index != nil {
			if *comp.Index < MinComponentIndex || *comp.Index > MaxComponentIndex {
				c.add(field.Invalid(pj.Child("index"), *comp.Index, fmt.Sprintf("must be between %d and %d", MinComponentIndex, MaxComponentIndex)))
			}
			ct.index = int(*comp.Index)
		}
		pp := pj.Child("parameters")
		if len(comp.Parameters) > MaxTemplateParameters {
			c.add(field.TooMany(pp, len(comp.Parameters), MaxTemplateParameters))
		}
		for k, prm := range comp.Parameters {
			pk := pp.Index(k)
			if !oneOf(prm.Type, paramTypes) {
				c.add(field.NotSupported(pk.Child("type"), prm.Type, paramTypes))
			}
			pt := paramTmpl{typ: prm.Type, payload: prm.Payload}
			if prm.Text != "" {
				pt.text = c.compileTemplate(pk.Child("text"), prm.Text)
			}
			if prm.Link != "" {
				pt.link = c.urlTemplate(pk.Child("link"), prm.Link)
			}
			ct.params = append(ct.params, pt)
		}
		out.components = append(out.components, ct)
	}
	return out
}
