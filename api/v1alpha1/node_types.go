package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeType names the component a node runs.
// +kubebuilder:validation:Enum=Start;End;SendMessage;WaitForReply;Condition;SetVariables;HTTPRequest;Delay;Jump;Handoff;AIReply;AIClassify;AIExtract;ForwardToFlow
type NodeType string

// The node types. Every type but Start and End carries the member of the
// same name (sendMessage, waitForReply, ...).
const (
	NodeStart        NodeType = "Start"
	NodeEnd          NodeType = "End"
	NodeSendMessage  NodeType = "SendMessage"
	NodeWaitForReply NodeType = "WaitForReply"
	NodeCondition    NodeType = "Condition"
	NodeSetVariables NodeType = "SetVariables"
	NodeHTTPRequest  NodeType = "HTTPRequest"
	NodeDelay        NodeType = "Delay"
	NodeJump         NodeType = "Jump"
	NodeHandoff      NodeType = "Handoff"
	NodeAIReply      NodeType = "AIReply"
	NodeAIClassify   NodeType = "AIClassify"
	NodeAIExtract    NodeType = "AIExtract"
	// NodeForwardToFlow hands the contact to another flow (forward_types.go).
	NodeForwardToFlow NodeType = "ForwardToFlow"
)

// NodeTypes lists every node type, in the order the documentation uses.
var NodeTypes = []NodeType{
	NodeStart, NodeEnd, NodeSendMessage, NodeWaitForReply, NodeCondition,
	NodeSetVariables, NodeHTTPRequest, NodeDelay, NodeJump, NodeHandoff,
	NodeAIReply, NodeAIClassify, NodeAIExtract,
	NodeForwardToFlow,
}

// Node is one component of a flow graph: a discriminated union of the node
// types, where type names the member that must be set, and only that one.
//
// +kubebuilder:validation:XValidation:rule="has(self.sendMessage) == (self.type == 'SendMessage')",message="a SendMessage node needs the sendMessage member, and only SendMessage nodes may have it",fieldPath=".sendMessage"
// +kubebuilder:validation:XValidation:rule="has(self.waitForReply) == (self.type == 'WaitForReply')",message="a WaitForReply node needs the waitForReply member, and only WaitForReply nodes may have it",fieldPath=".waitForReply"
// +kubebuilder:validation:XValidation:rule="has(self.condition) == (self.type == 'Condition')",message="a Condition node needs the condition member, and only Condition nodes may have it",fieldPath=".condition"
// +kubebuilder:validation:XValidation:rule="has(self.setVariables) == (self.type == 'SetVariables')",message="a SetVariables node needs the setVariables member, and only SetVariables nodes may have it",fieldPath=".setVariables"
// +kubebuilder:validation:XValidation:rule="has(self.httpRequest) == (self.type == 'HTTPRequest')",message="an HTTPRequest node needs the httpRequest member, and only HTTPRequest nodes may have it",fieldPath=".httpRequest"
// +kubebuilder:validation:XValidation:rule="has(self.delay) == (self.type == 'Delay')",message="a Delay node needs the delay member, and only Delay nodes may have it",fieldPath=".delay"
// +kubebuilder:validation:XValidation:rule="has(self.jump) == (self.type == 'Jump')",message="a Jump node needs the jump member, and only Jump nodes may have it",fieldPath=".jump"
// +kubebuilder:validation:XValidation:rule="has(self.handoff) == (self.type == 'Handoff')",message="a Handoff node needs the handoff member, and only Handoff nodes may have it",fieldPath=".handoff"
// +kubebuilder:validation:XValidation:rule="has(self.aiReply) == (self.type == 'AIReply')",message="an AIReply node needs the aiReply member, and only AIReply nodes may have it",fieldPath=".aiReply"
// +kubebuilder:validation:XValidation:rule="has(self.aiClassify) == (self.type == 'AIClassify')",message="an AIClassify node needs the aiClassify member, and only AIClassify nodes may have it",fieldPath=".aiClassify"
// +kubebuilder:validation:XValidation:rule="has(self.aiExtract) == (self.type == 'AIExtract')",message="an AIExtract node needs the aiExtract member, and only AIExtract nodes may have it",fieldPath=".aiExtract"
// +kubebuilder:validation:XValidation:rule="has(self.forwardToFlow) == (self.type == 'ForwardToFlow')",message="a ForwardToFlow node needs the forwardToFlow member, and only ForwardToFlow nodes may have it",fieldPath=".forwardToFlow"
// +kubebuilder:validation:XValidation:rule="self.type != 'End' || !has(self.next)",message="an End node has no next: it closes the session",fieldPath=".next"
// +kubebuilder:validation:XValidation:rule="!has(self.onError) || self.type in ['SendMessage', 'HTTPRequest', 'AIReply', 'AIClassify', 'AIExtract']",message="onError applies only to SendMessage, HTTPRequest and AI nodes",fieldPath=".onError"
// +kubebuilder:validation:XValidation:rule="!has(self.onTimeout) || self.type in ['WaitForReply', 'Handoff']",message="onTimeout applies only to WaitForReply and Handoff nodes",fieldPath=".onTimeout"
type Node struct {
	// id names the node; other nodes refer to it in next, onError, onTimeout,
	// branches and jump targets. Lower-case letters, digits and '-', like a
	// DNS label.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	ID string `json:"id"`

	// type is the component the node runs; the member of the same name
	// (sendMessage, waitForReply, ...) holds its settings.
	// +required
	Type NodeType `json:"type"`

	// next is the node that runs after this one: for WaitForReply, when the
	// contact replied (and on timeout when onTimeout is absent); for Jump,
	// once maxJumps is used up; for Handoff, when automation resumes; for a
	// ForwardToFlow with return, when the called flow ends. Every type but
	// End, Condition, AIClassify (which continue on their branches or
	// labels) and a ForwardToFlow without return needs it.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Next string `json:"next,omitempty"`

	// onError is the node that runs when a SendMessage cannot be delivered,
	// an HTTPRequest fails (non-2xx, timeout, refused address) or the model
	// call of an AI node fails (timeout, an error status, a refusal, an
	// empty answer, missing required fields of an AIExtract). Without it
	// the session ends with an error event; an AIClassify takes default.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	OnError string `json:"onError,omitempty"`

	// onTimeout is the node that runs when a WaitForReply gets no reply in
	// time, or a Handoff times out. Without it the flow continues on next.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	OnTimeout string `json:"onTimeout,omitempty"`

	// sendMessage holds the settings of a SendMessage node.
	// +optional
	SendMessage *SendMessageNode `json:"sendMessage,omitempty"`
	// waitForReply holds the settings of a WaitForReply node.
	// +optional
	WaitForReply *WaitForReplyNode `json:"waitForReply,omitempty"`
	// condition holds the settings of a Condition node.
	// +optional
	Condition *ConditionNode `json:"condition,omitempty"`
	// setVariables holds the settings of a SetVariables node.
	// +optional
	SetVariables *SetVariablesNode `json:"setVariables,omitempty"`
	// httpRequest holds the settings of an HTTPRequest node.
	// +optional
	HTTPRequest *HTTPRequestNode `json:"httpRequest,omitempty"`
	// delay holds the settings of a Delay node.
	// +optional
	Delay *DelayNode `json:"delay,omitempty"`
	// jump holds the settings of a Jump node.
	// +optional
	Jump *JumpNode `json:"jump,omitempty"`
	// handoff holds the settings of a Handoff node.
	// +optional
	Handoff *HandoffNode `json:"handoff,omitempty"`
	// aiReply holds the settings of an AIReply node.
	// +optional
	AIReply *AIReplyNode `json:"aiReply,omitempty"`
	// aiClassify holds the settings of an AIClassify node.
	// +optional
	AIClassify *AIClassifyNode `json:"aiClassify,omitempty"`
	// aiExtract holds the settings of an AIExtract node.
	// +optional
	AIExtract *AIExtractNode `json:"aiExtract,omitempty"`
	// forwardToFlow holds the settings of a ForwardToFlow node.
	// +optional
	ForwardToFlow *ForwardToFlowNode `json:"forwardToFlow,omitempty"`
}

// SendMessageNode sends one message to the contact. Text, captions, URLs and
// template parameters are templates: {{ <CEL> }} is replaced by its value.
// What a channel can render is checked when the flow is validated.
//
// +kubebuilder:validation:XValidation:rule="has(self.text) || has(self.media) || has(self.template)",message="a message needs text, media or a template"
// +kubebuilder:validation:XValidation:rule="!has(self.template) || !(has(self.text) || has(self.media) || has(self.buttons) || has(self.list) || has(self.quickReplies))",message="a WhatsApp template message carries nothing else: remove text, media, buttons, list and quickReplies"
// +kubebuilder:validation:XValidation:rule="[has(self.buttons), has(self.list), has(self.quickReplies)].filter(x, x).size() <= 1",message="use at most one of buttons, list and quickReplies"
// +kubebuilder:validation:XValidation:rule="!has(self.list) || has(self.text)",message="a list message needs text for its body"
type SendMessageNode struct {
	// text of the message (a template). Channel limits apply: WhatsApp 4096
	// characters, Messenger 1999, Instagram 999, Viber 7000.
	// +optional
	// +kubebuilder:validation:MaxLength=7000
	Text string `json:"text,omitempty"`

	// media attaches an image, video, audio file, document or sticker, as
	// the channel allows (Viber: images only; see docs/channels.md).
	// +optional
	Media *Media `json:"media,omitempty"`

	// buttons offer reply buttons (WhatsApp: up to 3; Messenger: a button
	// template, up to 3; Viber: a keyboard). The tapped button's id arrives
	// as message.buttonId.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=24
	Buttons []Button `json:"buttons,omitempty"`

	// list offers a WhatsApp list message: a menu of up to 10 rows in sections.
	// +optional
	List *ListMessage `json:"list,omitempty"`

	// quickReplies offer Messenger and Instagram quick replies (up to 13).
	// The chosen one's id arrives as message.buttonId.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=13
	QuickReplies []Button `json:"quickReplies,omitempty"`

	// template sends an approved WhatsApp message template (WhatsApp only),
	// the way to message a contact outside the 24-hour window.
	// +optional
	Template *WhatsAppTemplate `json:"template,omitempty"`

	// tag is the message tag used when the 24-hour window is closed:
	// HUMAN_AGENT lets a person answer within 7 days of the contact's last
	// message. Messenger and Instagram only (Meta retired the other tags).
	// +optional
	// +kubebuilder:validation:Enum=HUMAN_AGENT
	Tag string `json:"tag,omitempty"`
}

// MediaType is the kind of an attachment.
// +kubebuilder:validation:Enum=Image;Video;Audio;Document;Sticker
type MediaType string

// The media kinds.
const (
	MediaImage    MediaType = "Image"
	MediaVideo    MediaType = "Video"
	MediaAudio    MediaType = "Audio"
	MediaDocument MediaType = "Document"
	MediaSticker  MediaType = "Sticker"
)

// Media is an attachment sent by URL.
type Media struct {
	// type of the attachment.
	// +required
	Type MediaType `json:"type"`

	// url the channel fetches the file from (a template); https in production.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`

	// caption shown with an image, video or document (a template).
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Caption string `json:"caption,omitempty"`

	// filename shown for a document.
	// +optional
	// +kubebuilder:validation:MaxLength=240
	Filename string `json:"filename,omitempty"`
}

// Button is a reply button or a quick reply.
type Button struct {
	// id comes back as message.buttonId when the contact taps the button.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	ID string `json:"id"`

	// title shown on the button (WhatsApp and Messenger: up to 20 characters).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Title string `json:"title"`
}

// ListMessage is a WhatsApp list message.
type ListMessage struct {
	// button is the label of the button that opens the list (up to 20 characters).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Button string `json:"button"`

	// sections of the list; WhatsApp allows up to 10 rows in all.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=10
	Sections []ListSection `json:"sections"`
}

// ListSection is a titled group of list rows.
type ListSection struct {
	// title of the section (required by WhatsApp when there are several sections).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Title string `json:"title,omitempty"`

	// rows of the section.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=10
	Rows []ListRow `json:"rows"`
}

// ListRow is one choice of a list message.
type ListRow struct {
	// id comes back as message.buttonId when the contact picks the row.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	ID string `json:"id"`

	// title of the row (WhatsApp: up to 24 characters).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Title string `json:"title"`

	// description under the title (WhatsApp: up to 72 characters).
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Description string `json:"description,omitempty"`
}

// WhatsAppTemplate is an approved WhatsApp message template with its parameters.
type WhatsAppTemplate struct {
	// name of the approved template.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[a-z0-9_]+$`
	Name string `json:"name"`

	// language code of the template, e.g. en_US.
	// +required
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=16
	Language string `json:"language"`

	// components fill the template's header, body and button parameters.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Components []TemplateComponent `json:"components,omitempty"`
}

// TemplateComponent fills the parameters of one part of a template.
// +kubebuilder:validation:XValidation:rule="self.type != 'button' || (has(self.subType) && has(self.index))",message="a button component needs subType and index"
type TemplateComponent struct {
	// type of the component.
	// +required
	// +kubebuilder:validation:Enum=header;body;button
	Type string `json:"type"`

	// subType of a button component.
	// +optional
	// +kubebuilder:validation:Enum=quick_reply;url
	SubType string `json:"subType,omitempty"`

	// index of a button component, from 0.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=9
	Index *int32 `json:"index,omitempty"`

	// parameters in the order the template declares them.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Parameters []TemplateParameter `json:"parameters,omitempty"`
}

// TemplateParameter is one parameter of a template component.
type TemplateParameter struct {
	// type of the parameter.
	// +required
	// +kubebuilder:validation:Enum=text;payload;image;video;document
	Type string `json:"type"`

	// text of a text parameter (a template).
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Text string `json:"text,omitempty"`

	// payload of a quick-reply button parameter; it comes back as message.payload.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Payload string `json:"payload,omitempty"`

	// link of an image, video or document parameter (a template).
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Link string `json:"link,omitempty"`
}

// WaitForReplyNode pauses the flow until the contact replies or the timeout
// passes. The reply is readable as message.* and, with saveAs, as a variable.
type WaitForReplyNode struct {
	// timeout after which the flow goes to onTimeout (or next without it),
	// between 1s and 7 days. Default 10m.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// saveAs stores the reply text (or the tapped button's id when there is
	// no text) in vars.<saveAs>.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	SaveAs string `json:"saveAs,omitempty"`
	// sensitive marks the saved reply (vars.<saveAs>) as sensitive: the
	// session inspector and `chatflow trace` redact it, and the reply's
	// text with it. The flow itself reads it as usual.
	// +optional
	Sensitive bool `json:"sensitive,omitempty"`
}

// ConditionNode branches on CEL expressions, tried in order.
type ConditionNode struct {
	// branches are tried in order; the first whose when is true is taken.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=50
	Branches []Branch `json:"branches"`

	// default is the node that runs when no branch matches.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Default string `json:"default"`
}

// Branch is one outcome of a Condition node.
type Branch struct {
	// name labels the branch in logs and pictures of the flow.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Name string `json:"name,omitempty"`

	// when is a CEL expression returning a bool, e.g.
	// 'message.buttonId == "track"' or 'vars.order.body.status == "shipped"'.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	When string `json:"when"`

	// next is the node that runs when this branch is taken.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Next string `json:"next"`
}

// SetVariablesNode assigns flow variables, in order.
type SetVariablesNode struct {
	// variables to assign, in order; later ones see earlier ones.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=50
	Variables []Assignment `json:"variables"`
}

// Assignment sets one variable from a template or a CEL expression.
// +kubebuilder:validation:XValidation:rule="has(self.value) != has(self.expr)",message="set exactly one of value (a template) and expr (a CEL expression)"
type Assignment struct {
	// name of the variable, readable as vars.<name>.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	Name string `json:"name"`

	// value is a template; the variable gets the rendered string.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Value *string `json:"value,omitempty"`

	// expr is a CEL expression; the variable gets its value (any type).
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Expr *string `json:"expr,omitempty"`
}

// HTTPRequestNode calls an HTTP API. Private, loopback, link-local and
// metadata addresses are refused unless the operator allows them.
// +kubebuilder:validation:XValidation:rule="!has(self.body) || self.method != 'GET'",message="a GET request has no body: use query, or another method"
type HTTPRequestNode struct {
	// method of the request.
	// +optional
	// +kubebuilder:default=GET
	// +kubebuilder:validation:Enum=GET;POST;PUT;PATCH;DELETE
	Method string `json:"method,omitempty"`

	// url of the request (a template); http or https.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`

	// headers of the request; values are templates or come from Secrets.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Headers []HTTPHeader `json:"headers,omitempty"`

	// query parameters added to the url; values are templates.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Query []NameValue `json:"query,omitempty"`

	// body of the request (a template), e.g. JSON.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	Body string `json:"body,omitempty"`

	// timeout of the request, at most 30s. Default 10s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// saveAs stores the response in vars.<saveAs> as {status, headers, body};
	// body is decoded when the response is JSON.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	SaveAs string `json:"saveAs,omitempty"`
	// sensitive marks the saved response (vars.<saveAs>) as sensitive: the
	// session inspector and `chatflow trace` redact it. The flow itself
	// reads it as usual.
	// +optional
	Sensitive bool `json:"sensitive,omitempty"`
}

// HTTPHeader is a request header whose value is a template or a Secret key.
// +kubebuilder:validation:XValidation:rule="has(self.value) != has(self.valueFrom)",message="set exactly one of value and valueFrom"
type HTTPHeader struct {
	// name of the header.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9!#$%&'*+.^_|~-]+$`
	Name string `json:"name"`

	// value of the header (a template).
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Value *string `json:"value,omitempty"`

	// valueFrom reads the value from a Secret in the flow's namespace.
	// +optional
	ValueFrom *HeaderSource `json:"valueFrom,omitempty"`
}

// HeaderSource is where a header value comes from.
type HeaderSource struct {
	// secretKeyRef selects a key of a Secret in the flow's namespace.
	// +required
	SecretKeyRef SecretKeySelector `json:"secretKeyRef"`
}

// SecretKeySelector selects a key of a Secret in the same namespace.
type SecretKeySelector struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key in the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// NameValue is a name and a template value.
type NameValue struct {
	// name of the parameter.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name"`

	// value of the parameter (a template).
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Value string `json:"value,omitempty"`
}

// DelayNode pauses the flow for a while (a durable timer).
type DelayNode struct {
	// duration of the pause, between 1s and 7 days.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	Duration metav1.Duration `json:"duration"`
}

// JumpNode goes back (or forward) to another node, at most maxJumps times
// per session visit, then continues on next. It is how loops are bounded.
type JumpNode struct {
	// target is the node to jump to.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Target string `json:"target"`

	// maxJumps is how many times the jump is taken before the flow goes on
	// to next instead.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MaxJumps int32 `json:"maxJumps,omitempty"`
}

// HandoffNode hands the conversation to a human: automation is paused for
// the contact until an agent resumes it or the timeout passes.
type HandoffNode struct {
	// notifyURL receives a POST with the contact, the flow and the recent
	// transcript when the hand-off starts (a template). Optional.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	NotifyURL string `json:"notifyURL,omitempty"`

	// timeout after which automation resumes on onTimeout (or next), between
	// 1m and 7 days. Default 24h.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// queue names the agent queue or team, passed to notifyURL.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Queue string `json:"queue,omitempty"`
}

// AIReplyNode answers the contact with a language model: the model gets
// the system prompt (with the context), then the most recent messages of
// the conversation, oldest first, the contact's latest included; its
// answer is sent to the contact, or only saved with saveAs. A failed call
// (timeout, an error status, a refusal or an empty answer) takes onError.
type AIReplyNode struct {
	// model names the LanguageModel of the flow's namespace to ask.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Model string `json:"model"`

	// systemPrompt tells the model who it is and how to answer (a
	// template), e.g. "You are the assistant of Harbour Yoga. Answer in
	// two sentences."
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=16384
	SystemPrompt string `json:"systemPrompt"`

	// context adds facts from variables to the system prompt (a
	// template), e.g. "The contact's order: {{ vars.order.body }}".
	// +optional
	// +kubebuilder:validation:MaxLength=16384
	Context string `json:"context,omitempty"`

	// history is how many of the conversation's most recent messages, the
	// contact's and the flow's, go with the prompt: from 1 (the contact's
	// latest message alone) to 12. The session keeps the last 12 messages,
	// each cut to 1 KiB. Default 6.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=12
	History *int32 `json:"history,omitempty"`

	// saveAs stores the answer in vars.<saveAs> instead of sending it.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	SaveAs string `json:"saveAs,omitempty"`
}

// AIClassifyNode asks a language model which of its labels fits the input
// and continues on that label's node, or on default. The answer is
// structured output (a JSON schema with the labels as an enum) and is
// validated: an answer that names no label takes default. A failed call
// takes onError, or default without it.
type AIClassifyNode struct {
	// model names the LanguageModel of the flow's namespace to ask.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Model string `json:"model"`

	// instructions add to the model's system prompt (a template): what
	// the conversation is about, how to tell the labels apart.
	// +optional
	// +kubebuilder:validation:MaxLength=16384
	Instructions string `json:"instructions,omitempty"`

	// input is the text to classify (a template). Default: the contact's
	// latest message, {{ message.text }}.
	// +optional
	// +kubebuilder:validation:MaxLength=16384
	Input string `json:"input,omitempty"`

	// history is how many earlier messages of the conversation go with
	// the input as context, from 0 to 12. Default 0.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=12
	History *int32 `json:"history,omitempty"`

	// labels the model chooses from, each with the node it leads to.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	Labels []AILabel `json:"labels"`

	// default is the node that runs when the answer names no label.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Default string `json:"default"`

	// saveAs stores {label, confidence} in vars.<saveAs>: the label chosen
	// ("" when default was taken) and the model's confidence from 0 to 1,
	// or null when it gave none.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	SaveAs string `json:"saveAs,omitempty"`
}

// AILabel is one outcome of an AIClassify node.
type AILabel struct {
	// name of the label: what the model answers, and the branch in logs,
	// e.g. order.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9_-]*$`
	Name string `json:"name"`

	// description tells the model when the label applies.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// next is the node that runs when the model picks this label.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Next string `json:"next"`
}

// AIExtractNode asks a language model for named, typed values found in
// the input and stores each as vars.<name>. The answer is structured
// output (a JSON schema of the fields) and is validated: a missing
// required field, or a value of the wrong type, takes onError. Optional
// fields the input does not hold are set to null.
type AIExtractNode struct {
	// model names the LanguageModel of the flow's namespace to ask.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Model string `json:"model"`

	// instructions add to the model's system prompt (a template).
	// +optional
	// +kubebuilder:validation:MaxLength=16384
	Instructions string `json:"instructions,omitempty"`

	// input is the text to read (a template). Default: the contact's
	// latest message, {{ message.text }}.
	// +optional
	// +kubebuilder:validation:MaxLength=16384
	Input string `json:"input,omitempty"`

	// history is how many earlier messages of the conversation go with
	// the input as context, from 0 to 12. Default 0.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=12
	History *int32 `json:"history,omitempty"`

	// fields to extract, each stored as vars.<name>.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=30
	Fields []AIField `json:"fields"`
}

// AIFieldType is the type of an extracted value.
// +kubebuilder:validation:Enum=String;Number;Integer;Boolean
type AIFieldType string

// The types of extracted values.
const (
	AIFieldString  AIFieldType = "String"
	AIFieldNumber  AIFieldType = "Number"
	AIFieldInteger AIFieldType = "Integer"
	AIFieldBoolean AIFieldType = "Boolean"
)

// AIField is one value an AIExtract node asks for.
// +kubebuilder:validation:XValidation:rule="!has(self.enum) || !has(self.type) || self.type == 'String'",message="enum applies to String fields only",fieldPath=".enum"
type AIField struct {
	// name of the variable the value is stored in, vars.<name>.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	Name string `json:"name"`

	// type of the value. Default String.
	// +optional
	Type AIFieldType `json:"type,omitempty"`

	// description tells the model what to look for, e.g. "the order
	// number, 4 to 10 digits".
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// required fields must be found: an answer without one takes onError.
	// +optional
	Required bool `json:"required,omitempty"`

	// enum lists the values a String field may take.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MaxLength=256
	Enum []string `json:"enum,omitempty"`
}
