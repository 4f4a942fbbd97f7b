package whatsapp

// sendRequest is the body of POST /{phone_number_id}/messages.
type sendRequest struct {
	MessagingProduct string `json:"messaging_product"`
	RecipientType    string `json:"recipient_type"`
	// To is the phone number (wa_id); Recipient a business-scoped user id
	// for contacts known only by one.
	To          string       `json:"to,omitempty"`
	Recipient   string       `json:"recipient,omitempty"`
	Type        string       `json:"type"`
	Text        *textBody    `json:"text,omitempty"`
	Image       *mediaBody   `json:"image,omitempty"`
	Video       *mediaBody   `json:"video,omitempty"`
	Audio       *mediaBody   `json:"audio,omitempty"`
	Document    *mediaBody   `json:"document,omitempty"`
	Sticker     *mediaBody   `json:"sticker,omitempty"`
	Interactive *interactive `json:"interactive,omitempty"`
	Template    *template    `json:"template,omitempty"`
}

type textBody struct {
	Body       string `json:"body"`
	PreviewURL bool   `json:"preview_url"`
}

type mediaBody struct {
	Link     string `json:"link,omitempty"`
	ID       string `json:"id,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
}

type interactive struct {
	Type   string  `json:"type"` // button, list
	Header *header `json:"header,omitempty"`
	Body   struct {
		Text string `json:"text"`
	} `json:"body"`
	Action action `json:"action"`
}

type header struct {
	Type     string     `json:"type"` // image, video, document
	Image    *mediaBody `json:"image,omitempty"`
	Video    *mediaBody `json:"video,omitempty"`
	Document *mediaBody `json:"document,omitempty"`
}

type action struct {
	Button   string        `json:"button,omitempty"` // list opener label
	Buttons  []replyButton `json:"buttons,omitempty"`
	Sections []section     `json:"sections,omitempty"`
}

type replyButton struct {
	Type  string `json:"type"` // reply
	Reply struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	} `json:"reply"`
}

type section struct {
	Title string `json:"title,omitempty"`
	Rows  []row  `json:"rows"`
}

type row struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

type template struct {
	Name     string `json:"name"`
	Language struct {
		Policy string `json:"policy"`
		Code   string `json:"code"`
	} `json:"language"`
	Components []component `json:"components,omitempty"`
}

type component struct {
	Type       string      `json:"type"`
	SubType    string      `json:"sub_type,omitempty"`
	Index      *string     `json:"index,omitempty"` // a string, buttons only
	Parameters []parameter `json:"parameters,omitempty"`
}

type parameter struct {
	Type     string     `json:"type"`
	Text     string     `json:"text,omitempty"`
	Payload  string     `json:"payload,omitempty"`
	Image    *mediaBody `json:"image,omitempty"`
	Video    *mediaBody `json:"video,omitempty"`
	Document *mediaBody `json:"document,omitempty"`
}

// readRequest marks an inbound message read, with the typing indicator:
// POST /{phone_number_id}/messages (Meta, "Typing indicators").
type readRequest struct {
	MessagingProduct string          `json:"messaging_product"`
	Status           string          `json:"status"`
	MessageID        string          `json:"message_id"`
	TypingIndicator  typingIndicator `json:"typing_indicator"`
}

type typingIndicator struct {
	Type string `json:"type"`
}

// statusResponse is the success body of a readRequest.
type statusResponse struct {
	Success bool `json:"success"`
}

// sendResponse is the success body.
type sendResponse struct {
	Messages []struct {
		ID string `json:"id"`
	} `json:"messages"`
}
