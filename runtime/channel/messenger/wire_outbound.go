package messenger

// sendRequest is the body of POST /{page_id}/messages or /me/messages.
type sendRequest struct {
	Recipient struct {
		ID string `json:"id"`
	} `json:"recipient"`
	// MessagingType is RESPONSE (a reply inside the 24-hour window),
	// UPDATE (a proactive message inside it) or MESSAGE_TAG (with Tag,
	// outside it).
	MessagingType string     `json:"messaging_type"`
	Tag           string     `json:"tag,omitempty"`
	Message       outMessage `json:"message"`
}

type outMessage struct {
	Text         string       `json:"text,omitempty"`
	Attachment   *attachment  `json:"attachment,omitempty"`
	QuickReplies []quickReply `json:"quick_replies,omitempty"`
}

type attachment struct {
	// Type is image, video, audio, file or template.
	Type    string            `json:"type"`
	Payload attachmentPayload `json:"payload"`
}

// attachmentPayload is a media attachment's {url, is_reusable} or a button
// template's {template_type, text, buttons}.
type attachmentPayload struct {
	URL          string   `json:"url,omitempty"`
	IsReusable   bool     `json:"is_reusable,omitempty"`
	TemplateType string   `json:"template_type,omitempty"`
	Text         string   `json:"text,omitempty"`
	Buttons      []button `json:"buttons,omitempty"`
}

type button struct {
	Type    string `json:"type"` // postback
	Title   string `json:"title"`
	Payload string `json:"payload"`
}

type quickReply struct {
	ContentType string `json:"content_type"` // text
	Title       string `json:"title"`
	Payload     string `json:"payload"`
}

// sendResponse is the success body: {"recipient_id", "message_id"}.
type sendResponse struct {
	RecipientID string `json:"recipient_id"`
	MessageID   string `json:"message_id"`
}
