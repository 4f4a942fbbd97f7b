package flow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// The branches an AI node is left by, besides a label's name.
const (
	branchAnswered  = "answered"
	branchSaved     = "saved"
	branchExtracted = "extracted"
	branchDefault   = "default"
)

// isAI says whether a node type calls a language model.
func isAI(t v1alpha1.NodeType) bool {
	return t == v1alpha1.NodeAIReply || t == v1alpha1.NodeAIClassify || t == v1alpha1.NodeAIExtract
}

// execAI starts the model call of an AI node and waits for its result.
func (t *turn) execAI(n *node) int {
	id := t.newID()
	e := t.add(EffectModelCall)
	if err := t.modelCall(n, id, &e.Model); err != nil {
		t.fx = t.fx[:len(t.fx)-1]
		return t.aiFailed(n, err.Error())
	}
	t.s.Status = StatusWaitingModel
	t.s.Wait = Wait{EffectID: id}
	return none
}

// modelCall builds the messages of an AI node: the system prompt, then
// the history (the session's recent conversation, oldest first), then for
// AIClassify and AIExtract the input.
func (t *turn) modelCall(n *node, id string, call *ModelCall) error {
	a := n.ai
	sc := t.scope()
	*call = ModelCall{ID: id, NodeID: n.id, NodeType: n.typ, Model: a.model, Schema: a.schema}
	system, err := a.system.render(sc)
	if err != nil {
		return fmt.Errorf("rendering the %s: %w", systemField(n.typ), err)
	}
	if n.typ == v1alpha1.NodeAIReply {
		ctx, err := a.context.render(sc)
		if err != nil {
			return fmt.Errorf("rendering the context: %w", err)
		}
		if ctx = strings.TrimSpace(ctx); ctx != "" {
			system = strings.TrimSpace(system) + "\n\n" + ctx
		}
	} else {
		system = strings.TrimSpace(a.preamble + "\n\n" + system)
	}
	history := t.s.Recent
	var input string
	if n.typ != v1alpha1.NodeAIReply {
		// The history is context before the input: leave out the
		// contact's latest message, which is the input by default.
		if k := len(history); k > 0 && history[k-1].From == FromContact {
			history = history[:k-1]
		}
		if a.hasInput {
			if input, err = a.input.render(sc); err != nil {
				return fmt.Errorf("rendering the input: %w", err)
			}
		} else {
			input = t.s.Message.Text
			if input == "" {
				input = t.s.Message.ButtonID
			}
		}
	}
	if len(history) > a.history {
		history = history[len(history)-a.history:]
	}
	call.Messages = make([]ModelMessage, 0, len(history)+2)
	call.Messages = append(call.Messages, ModelMessage{Role: RoleSystem, Content: system})
	for _, l := range history {
		role := RoleUser
		if l.From == FromFlow {
			role = RoleAssistant
		}
		call.Messages = append(call.Messages, ModelMessage{Role: role, Content: l.Text})
	}
	if n.typ != v1alpha1.NodeAIReply {
		call.Messages = append(call.Messages, ModelMessage{Role: RoleUser, Content: input})
	}
	return nil
}

func systemField(t v1alpha1.NodeType) string {
	if t == v1alpha1.NodeAIReply {
		return "systemPrompt"
	}
	return "instructions"
}

// onModel applies a model result to the AI node that waits for it. Logs
// say what happened without the prompt or the answer: what contacts write
// stays out of the event log.
func (t *turn) onModel(r *ModelResult) {
	s := t.s
	if s.Status != StatusWaitingModel || r.EffectID == "" || r.EffectID != s.Wait.EffectID || !isAI(s.NodeType) {
		return
	}
	n := t.waitingAt(s.NodeType)
	if n == nil {
		return
	}
	s.Wait = Wait{}
	// The answer is stored (a variable, the conversation): keep it UTF-8,
	// as JSON would make it, so that the session round-trips exactly.
	content := strings.ToValidUTF8(r.Content, "\uFFFD")
	switch {
	case r.Err != "":
		t.run(t.aiFailed(n, "the model call failed: "+r.Err))
		return
	case r.Refusal != "":
		t.run(t.aiFailed(n, "the model refused to answer"))
		return
	case strings.TrimSpace(content) == "":
		t.run(t.aiFailed(n, "the model's answer is empty"))
		return
	}
	switch n.typ {
	case v1alpha1.NodeAIReply:
		t.run(t.replied(n, strings.TrimSpace(content)))
	case v1alpha1.NodeAIClassify:
		t.run(t.classified(n, content))
	case v1alpha1.NodeAIExtract:
		t.run(t.extracted(n, content))
	}
}

// aiFailed handles a call that gave no usable answer: onError when the
// node has one; else an AIClassify takes default and the others end the
// run with an error.
func (t *turn) aiFailed(n *node, msg string) int {
	if n.typ == v1alpha1.NodeAIClassify && n.onError == none {
		t.fault(ReasonModel, n.id, n.typ, msg+"; taking default")
		if !t.classification(n, "", nil) {
			return t.onError(n)
		}
		t.leave(n, branchDefault)
		return n.ai.def
	}
	return t.fail(n, ReasonModel, msg)
}

// replied sends an AIReply's answer, or saves it with saveAs.
func (t *turn) replied(n *node, answer string) int {
	a := n.ai
	if a.saveAs != "" {
		if !t.setVar(n, a.saveAs, answer) {
			return t.onError(n)
		}
		t.leave(n, branchSaved)
		return n.next
	}
	if a.textMax > 0 && utf8.RuneCountInString(answer) > a.textMax {
		// max_tokens normally keeps answers short; a longer one is cut to
		// what the channel sends rather than refused.
		answer = string([]rune(answer)[:a.textMax])
	}
	id := t.newID()
	e := t.add(EffectSend)
	e.Send = Send{ID: id, NodeID: n.id, Message: message.Outbound{To: t.s.Contact, Text: answer}}
	t.remember(id, n.id, n.onError != none)
	t.said(n.id, &e.Send.Message)
	if n.onError != none {
		// As a SendMessage with onError: wait for the channel's verdict.
		t.s.Status = StatusWaitingSend
		t.s.Wait = Wait{EffectID: id}
		return none
	}
	t.leave(n, branchAnswered)
	return n.next
}

// classified validates an AIClassify answer, {"label", "confidence"}, and
// takes the label's node; an answer that does not validate takes default.
func (t *turn) classified(n *node, content string) int {
	var ans struct {
		Label      *string          `json:"label"`
		Confidence *json.RawMessage `json:"confidence"`
	}
	var conf any
	bad := ""
	if err := json.Unmarshal([]byte(strings.TrimSpace(content)), &ans); err != nil || ans.Label == nil {
		bad = "the answer is not a JSON object with a label"
	} else if ans.Confidence != nil && string(*ans.Confidence) != "null" {
		var f float64
		if err := json.Unmarshal(*ans.Confidence, &f); err != nil || f < 0 || f > 1 || math.IsNaN(f) {
			bad = "the answer's confidence is not a number from 0 to 1"
		} else {
			conf = f
		}
	}
	if bad == "" {
		for _, l := range n.ai.labels {
			if l.name == *ans.Label {
				if !t.classification(n, l.name, conf) {
					return t.onError(n)
				}
				t.leave(n, l.name)
				return l.next
			}
		}
		bad = "the answer names none of the node's labels"
	}
	t.fault(ReasonModel, n.id, n.typ, bad+"; taking default")
	if !t.classification(n, "", nil) {
		return t.onError(n)
	}
	t.leave(n, branchDefault)
	return n.ai.def
}

// classification stores an AIClassify outcome in its saveAs variable; it
// reports false when a budget refused it (the node then takes onError).
func (t *turn) classification(n *node, label string, confidence any) bool {
	return n.ai.saveAs == "" || t.setVar(n, n.ai.saveAs, map[string]any{"label": label, "confidence": confidence})
}

// extracted validates an AIExtract answer against the node's fields and
// stores them; a missing required field or a value of the wrong type
// takes onError, and then no variable changes.
func (t *turn) extracted(n *node, content string) int {
	v, err := decodeJSON(bytes.TrimSpace([]byte(content)))
	obj, ok := v.(map[string]any)
	if err != nil || !ok {
		return t.fail(n, ReasonModel, "the answer is not a JSON object of the fields")
	}
	values := make(map[string]any, len(n.ai.fields))
	var missing, wrong []string
	for _, f := range n.ai.fields {
		x, found := obj[f.name]
		if !found || x == nil || (x == "" && f.required) {
			if f.required {
				missing = append(missing, f.name)
			}
			values[f.name] = nil
			continue
		}
		if !fieldValueOK(f, x) {
			wrong = append(wrong, fmt.Sprintf("%s is not %s", f.name, describeType(f)))
			continue
		}
		values[f.name] = asFieldType(f, x)
	}
	if len(missing) > 0 || len(wrong) > 0 {
		var why []string
		if len(missing) > 0 {
			why = append(why, "the answer lacks the required "+plural(len(missing), "field", "fields")+" "+strings.Join(missing, ", "))
		}
		why = append(why, wrong...)
		return t.fail(n, ReasonModel, strings.Join(why, "; "))
	}
	// All fields or none: a budget that refuses one puts back the ones
	// already set, and the node takes onError.
	before := make(map[string]any, len(n.ai.fields))
	for _, f := range n.ai.fields {
		if old, had := t.s.Vars[f.name]; had {
			before[f.name] = old
		}
		if !t.setVar(n, f.name, values[f.name]) {
			for _, g := range n.ai.fields {
				if g.name == f.name {
					break
				}
				if old, had := before[g.name]; had {
					t.s.Vars[g.name] = old
				} else {
					delete(t.s.Vars, g.name)
				}
			}
			return t.onError(n)
		}
	}
	t.leave(n, branchExtracted)
	return n.next
}

func fieldValueOK(f aiField, x any) bool {
	switch f.typ {
	case v1alpha1.AIFieldNumber:
		switch x.(type) {
		case int64, float64:
			return true
		}
	case v1alpha1.AIFieldInteger:
		switch v := x.(type) {
		case int64:
			return true
		case float64:
			// JSON Schema's integer is a number without a fraction: 12.0 is one.
			return v == math.Trunc(v) && math.Abs(v) < 1<<53
		}
	case v1alpha1.AIFieldBoolean:
		_, ok := x.(bool)
		return ok
	default:
		s, ok := x.(string)
		return ok && (len(f.enum) == 0 || slices.Contains(f.enum, s))
	}
	return false
}

// asFieldType gives a valid value the Go type of its field: float64 for a
// Number, int64 for an Integer.
func asFieldType(f aiField, x any) any {
	switch v := x.(type) {
	case int64:
		if f.typ == v1alpha1.AIFieldNumber {
			return float64(v)
		}
	case float64:
		if f.typ == v1alpha1.AIFieldInteger {
			return int64(v)
		}
	}
	return x
}

func describeType(f aiField) string {
	switch f.typ {
	case v1alpha1.AIFieldNumber:
		return "a number"
	case v1alpha1.AIFieldInteger:
		return "an integer"
	case v1alpha1.AIFieldBoolean:
		return "true or false"
	}
	if len(f.enum) > 0 {
		return "one of the field's enum values"
	}
	return "a string"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
