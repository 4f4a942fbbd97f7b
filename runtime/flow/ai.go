package flow

import (
	"encoding/json"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// ModelCall asks a language model for an answer (the AI nodes). The
// performer resolves Model, the name of a LanguageModel, to its endpoint
// and key, calls it and answers with a ModelResult. Messages hold what
// contacts wrote: a performer must not log them unless the flow's logging
// asks for the model's text.
type ModelCall struct {
	ID       string            `json:"id"`
	NodeID   string            `json:"nodeId"`
	NodeType v1alpha1.NodeType `json:"nodeType"`
	// Model is the name of the LanguageModel to ask.
	Model string `json:"model"`
	// Messages are the chat messages, the system prompt first.
	Messages []ModelMessage `json:"messages"`
	// Schema, when set, asks for structured output: an answer that is
	// JSON matching it (OpenAI's response_format json_schema, strict).
	Schema *OutputSchema `json:"schema,omitempty"`
}

// The roles of chat messages.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// ModelMessage is one chat message.
type ModelMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// OutputSchema is the JSON schema an answer must follow.
type OutputSchema struct {
	// Name labels the schema (json_schema.name).
	Name string `json:"name"`
	// Schema is the JSON schema, strict-mode ready: every property
	// required, optional ones nullable, no additional properties.
	Schema json.RawMessage `json:"schema"`
}

// DefaultReplyHistory is how many messages an AIReply sends by default;
// MaxHistory, the CRD's bound, is what sessions keep (MaxRecent).
const DefaultReplyHistory = 6

// aiNode is a compiled AIReply, AIClassify or AIExtract node.
type aiNode struct {
	model string
	// system is AIReply's systemPrompt, or the instructions of the others.
	system text
	// context is AIReply's context.
	context text
	// input is the text AIClassify and AIExtract read; hasInput false means
	// the contact's latest message.
	input    text
	hasInput bool
	history  int
	saveAs   string
	// textMax cuts an AIReply's answer to what the channel sends (0: no cut).
	textMax int

	labels []aiLabel // AIClassify
	def    int       // AIClassify's default
	fields []aiField // AIExtract
	// schema is the structured output of AIClassify and AIExtract; preamble
	// the fixed part of their system prompt, which spells out the labels
	// or fields.
	schema   *OutputSchema
	preamble string
}

type aiLabel struct {
	name string
	next int
}

type aiField struct {
	name        string
	typ         v1alpha1.AIFieldType
	required    bool
	enum        []string
	description string
}

// AINode names an AI node of a program and the model it asks.
type AINode struct {
	ID    string
	Type  v1alpha1.NodeType
	Model string
}

// AINodes lists the program's AI nodes, in spec order.
func (p *Program) AINodes() []AINode {
	var out []AINode
	for i := range p.nodes {
		if n := &p.nodes[i]; n.ai != nil {
			out = append(out, AINode{ID: n.id, Type: n.typ, Model: n.ai.model})
		}
	}
	return out
}
