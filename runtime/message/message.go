// Package message is the channel-neutral vocabulary shared by the flow
// engine, the channel packages and the executor: what a contact sent
// (Inbound), what a flow sends (Outbound), and what became of a send
// (Receipt). It holds plain data only and imports nothing of this module, so
// every other runtime package may depend on it.
package message

import "time"

// Channel names a messaging channel, spelled as in the API (WhatsApp, ...).
type Channel string

// The channels.
const (
	WhatsApp  Channel = "WhatsApp"
	Instagram Channel = "Instagram"
	Viber     Channel = "Viber"
	Messenger Channel = "Messenger"
	// Manual is the pseudo-channel of runs started through the run API.
	Manual Channel = "Manual"
)

// Contact is the person on the other side of a conversation.
type Contact struct {
	// ID is the channel's id of the contact: a WhatsApp wa_id, a Page-scoped
	// id, an Instagram-scoped id or a Viber user id.
	ID string `json:"id"`
	// Name is the contact's profile name when the channel sends it.
	Name string `json:"name,omitempty"`
	// Channel the contact writes on.
	Channel Channel `json:"channel"`
}

// Kind is the kind of an inbound message.
type Kind string

// The inbound message kinds.
const (
	KindText     Kind = "text"
	KindButton   Kind = "button"   // a reply button, list row, quick reply or postback
	KindMedia    Kind = "media"    // image, video, audio, document, sticker
	KindLocation Kind = "location" // a shared location
	KindOther    Kind = "other"    // anything the flow can only see as "something arrived"
)

// Inbound is one message a contact sent, parsed from a channel webhook.
type Inbound struct {
	// ID is the channel's message id (wamid, mid, message_token), the dedupe key.
	ID string `json:"id"`
	// Contact who sent it.
	Contact Contact `json:"contact"`
	// Kind of message.
	Kind Kind `json:"kind"`
	// Text of a text message, the title of a tapped button, or a caption.
	Text string `json:"text,omitempty"`
	// ButtonID is the id of the tapped reply button, list row or quick
	// reply, or a postback payload.
	ButtonID string `json:"buttonId,omitempty"`
	// Payload is extra data the channel attached (a template quick-reply
	// payload, a referral, ...).
	Payload string `json:"payload,omitempty"`
	// Media of a media message.
	Media *Media `json:"media,omitempty"`
	// ReplyTo is the id of the outbound message this one answers, when the
	// channel says so.
	ReplyTo string `json:"replyTo,omitempty"`
	// Timestamp the channel gives for the message.
	Timestamp time.Time `json:"timestamp"`
}

// MediaKind is the kind of a media attachment.
type MediaKind string

// The media kinds.
const (
	Image    MediaKind = "image"
	Video    MediaKind = "video"
	Audio    MediaKind = "audio"
	Document MediaKind = "document"
	Sticker  MediaKind = "sticker"
)

// Media is an attachment, inbound or outbound.
type Media struct {
	Kind MediaKind `json:"kind"`
	// URL to fetch the file from (outbound, and inbound where the channel gives one).
	URL string `json:"url,omitempty"`
	// ID is the channel's media id (inbound WhatsApp media).
	ID string `json:"id,omitempty"`
	// MIMEType when known.
	MIMEType string `json:"mimeType,omitempty"`
	// Caption shown with the media.
	Caption string `json:"caption,omitempty"`
	// Filename of a document.
	Filename string `json:"filename,omitempty"`
}

// Button is a reply button, quick reply or list row offered to the contact.
type Button struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

// Section is a titled group of list rows.
type Section struct {
	Title string   `json:"title,omitempty"`
	Rows  []Button `json:"rows"`
}

// List is a menu message (WhatsApp list).
type List struct {
	// Button is the label of the button that opens the list.
	Button   string    `json:"button"`
	Sections []Section `json:"sections"`
}

// Template is a WhatsApp message template with rendered parameters.
type Template struct {
	Name       string              `json:"name"`
	Language   string              `json:"language"`
	Components []TemplateComponent `json:"components,omitempty"`
}

// TemplateComponent fills the parameters of one part of a template.
type TemplateComponent struct {
	Type       string              `json:"type"`              // header, body, button
	SubType    string              `json:"subType,omitempty"` // quick_reply, url
	Index      int                 `json:"index,omitempty"`
	Parameters []TemplateParameter `json:"parameters,omitempty"`
}

// TemplateParameter is one rendered template parameter.
type TemplateParameter struct {
	Type    string `json:"type"` // text, payload, image, video, document
	Text    string `json:"text,omitempty"`
	Payload string `json:"payload,omitempty"`
	Link    string `json:"link,omitempty"`
}

// Outbound is one message a flow sends, already rendered (templates
// evaluated) but not yet in any channel's wire format.
type Outbound struct {
	// To is the contact.
	To Contact `json:"to"`
	// Text of the message (the body of an interactive message).
	Text string `json:"text,omitempty"`
	// Media attached.
	Media *Media `json:"media,omitempty"`
	// Buttons offered as reply buttons.
	Buttons []Button `json:"buttons,omitempty"`
	// QuickReplies offered (Messenger, Instagram).
	QuickReplies []Button `json:"quickReplies,omitempty"`
	// List offered (WhatsApp).
	List *List `json:"list,omitempty"`
	// Template to send (WhatsApp).
	Template *Template `json:"template,omitempty"`
	// Tag is the Messenger message tag, e.g. HUMAN_AGENT.
	Tag string `json:"tag,omitempty"`
}

// ErrorClass says what a failed send means for the flow.
type ErrorClass string

// The error classes.
const (
	// Retryable errors (rate limits, 5xx, network) are retried with backoff.
	Retryable ErrorClass = "retryable"
	// Permanent errors (outside the 24-hour window, invalid parameter, user
	// unavailable) take the SendMessage node's onError.
	Permanent ErrorClass = "permanent"
)

// Receipt is what became of a send: accepted by the channel with its
// message id, or failed with the channel's error.
type Receipt struct {
	// MessageID the channel assigned (wamid, mid, message_token).
	MessageID string `json:"messageId,omitempty"`
	// Error is empty on success.
	Error *SendError `json:"error,omitempty"`
}

// SendError is a channel's error for a send.
type SendError struct {
	Class ErrorClass `json:"class"`
	// Code is the channel's error code (131047, 613, 6, ...), or the HTTP
	// status when the channel gave no code.
	Code int `json:"code"`
	// Message is the channel's error message.
	Message string `json:"message"`
	// RetryAfter is the delay the channel asked for, if any.
	RetryAfter time.Duration `json:"retryAfter,omitempty"`
}

func (e *SendError) Error() string { return e.Message }

// Status is a delivery status update of an outbound message.
type Status struct {
	// MessageID of the outbound message.
	MessageID string `json:"messageId"`
	// Contact the message went to.
	Contact Contact `json:"contact"`
	// State: sent, delivered, read, failed.
	State string `json:"state"`
	// Error of a failed message.
	Error *SendError `json:"error,omitempty"`
	// Timestamp of the status.
	Timestamp time.Time `json:"timestamp"`
}
