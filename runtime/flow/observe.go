package flow

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// Reason classes an error of a node, for metrics and people: a closed set,
// so that a metric labelled by it stays small whatever the messages say.
type Reason string

// The reason classes.
const (
	// ReasonSendRefused: the channel refused a message (at once, after
	// the executor's retries, or by a failed delivery status).
	ReasonSendRefused Reason = "send_refused"
	// ReasonHTTPError: an HTTPRequest got a status outside 2xx, or no
	// response (refused address, connection error, response too large).
	ReasonHTTPError Reason = "http_error"
	// ReasonTimeout: an HTTPRequest (or a model call) timed out.
	ReasonTimeout Reason = "timeout"
	// ReasonRender: a template (message, url, header, body, notifyURL,
	// a SetVariables value) did not render, or rendered something unusable.
	ReasonRender Reason = "render"
	// ReasonExpression: a CEL expression (a Condition branch, a
	// SetVariables expr) failed to evaluate.
	ReasonExpression Reason = "expression"
	// ReasonModel: a model call failed (AI nodes).
	ReasonModel Reason = "model"
	// ReasonBudget: a limit bit: the run went through MaxStepsPerTurn
	// nodes in one turn, or a value would outgrow a variable's or the
	// session's budget (Log.Budget names which).
	ReasonBudget Reason = "budget"
	// ReasonInput: a Manual run was rejected for its inputs.
	ReasonInput Reason = "input"
	// ReasonInternal: the session and the program disagree (a session
	// edited by hand, or from an incompatible program).
	ReasonInternal Reason = "internal"
)

// Reasons are all reason classes, for metrics created up front.
var Reasons = []Reason{ReasonSendRefused, ReasonHTTPError, ReasonTimeout, ReasonRender,
	ReasonExpression, ReasonModel, ReasonBudget, ReasonInput, ReasonInternal}

// NodeInfo describes a node for metrics and inspection.
type NodeInfo struct {
	ID   string
	Type v1alpha1.NodeType
	// Exits are the branches a node_left event of this node may carry.
	Exits []string
}

// The branches of node_left events other than Condition branch labels.
const (
	ExitNext       = "next"
	ExitSent       = "sent"
	ExitError      = "error"
	ExitReplied    = "replied"
	ExitTimeout    = "timeout"
	ExitSendFailed = "send_failed"
	ExitSuccess    = "success"
	ExitJump       = "jump"
	ExitResumed    = "resumed"
	ExitDefault    = "default"
	// A ForwardToFlow hands the run on for good (forward), or calls the
	// flow (call) and is left again when it returns (returned); the called
	// flow's End is left with return.
	ExitForward  = "forward"
	ExitCall     = "call"
	ExitReturned = "returned"
	ExitReturn   = "return"
)

// Nodes describes the program's nodes in spec order.
func (p *Program) Nodes() []NodeInfo {
	out := make([]NodeInfo, len(p.nodes))
	for i := range p.nodes {
		n := &p.nodes[i]
		out[i] = NodeInfo{ID: n.id, Type: n.typ, Exits: exits(n)}
	}
	return out
}

// exits lists the ways Step can leave n (node_left's branch).
func exits(n *node) []string {
	var out []string
	switch n.typ {
	case v1alpha1.NodeStart, v1alpha1.NodeSetVariables:
		out = []string{ExitNext}
	case v1alpha1.NodeSendMessage:
		out = []string{ExitNext}
		if n.onError != none {
			out = append(out, ExitSent, ExitError)
		}
	case v1alpha1.NodeWaitForReply:
		out = []string{ExitReplied, ExitTimeout, ExitSendFailed}
	case v1alpha1.NodeCondition:
		if n.cond != nil {
			for _, b := range n.cond.branches {
				out = append(out, b.label)
			}
		}
		out = append(out, ExitDefault)
	case v1alpha1.NodeHTTPRequest:
		out = []string{ExitSuccess, ExitError}
	case v1alpha1.NodeDelay:
		out = []string{ExitNext, ExitSendFailed}
	case v1alpha1.NodeJump:
		out = []string{ExitJump, ExitNext}
	case v1alpha1.NodeHandoff:
		out = []string{ExitResumed, ExitTimeout, ExitSendFailed}
	case v1alpha1.NodeAIReply:
		out = []string{branchAnswered}
		if n.ai != nil && n.ai.saveAs != "" {
			out = []string{branchSaved}
		}
	case v1alpha1.NodeAIClassify:
		if n.ai != nil {
			for _, l := range n.ai.labels {
				out = append(out, l.name)
			}
		}
		out = append(out, ExitDefault)
	case v1alpha1.NodeAIExtract:
		out = []string{branchExtracted}
	case v1alpha1.NodeForwardToFlow:
		out = []string{ExitForward}
		if n.fwd != nil && n.fwd.ret {
			out = []string{ExitCall, ExitReturned}
		}
	case v1alpha1.NodeEnd:
		// The End of a flow another one called with return: true.
		out = []string{ExitReturn}
	}
	if isAI(n.typ) && n.onError != none {
		out = append(out, ExitError)
	}
	return out
}

// Redacted stands for a sensitive value where people read sessions.
const Redacted = "[redacted]"

// Sensitive reports whether the values of the variable (vars.<name>, and
// trigger.<name> of an input) are redacted where people read sessions.
func (p *Program) Sensitive(name string) bool { return p.sensitive[name] }

// SensitiveReplies reports whether a WaitForReply saves its reply as
// sensitive: the text of the contact's messages is then redacted too.
func (p *Program) SensitiveReplies() bool { return p.sensitive[sensitiveReplies] }

// sensitiveReplies is the key of Program.sensitive that says a reply is
// sensitive; it cannot be a variable name.
const sensitiveReplies = "-replies"

// sensitiveOf collects the sensitive variables of a spec: declared so in
// spec.variables or spec.trigger.inputs, or saved by a node marked so.
func sensitiveOf(spec *v1alpha1.ChatFlowSpec) map[string]bool {
	out := map[string]bool{}
	for _, v := range spec.Variables {
		if v.Sensitive {
			out[v.Name] = true
		}
	}
	if spec.Trigger.Type == v1alpha1.TriggerManual {
		for _, in := range spec.Trigger.Inputs {
			if in.Sensitive {
				out[in.Name] = true
			}
		}
	}
	for i := range spec.Nodes {
		n := &spec.Nodes[i]
		if w := n.WaitForReply; w != nil && w.Sensitive && n.Type == v1alpha1.NodeWaitForReply {
			out[w.SaveAs] = true
			out[sensitiveReplies] = true
		}
		if h := n.HTTPRequest; h != nil && h.Sensitive && n.Type == v1alpha1.NodeHTTPRequest {
			out[h.SaveAs] = true
		}
	}
	return out
}

// sensitiveNeedsSaveAs refuses sensitive on a node that saves nothing.
func (c *compiler) sensitiveNeedsSaveAs(p *field.Path, sensitive bool, saveAs string) {
	if sensitive && saveAs == "" {
		c.add(field.Invalid(p.Child("sensitive"), true, "marks the value saveAs stores: set saveAs, or remove sensitive"))
	}
}
