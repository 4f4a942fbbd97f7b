package messenger

import "github.com/chatflow-dev/chatflow/runtime/channel/meta"

// event is one element of entry[].messaging[]. Exactly one of the event
// members is normally set; the ones a flow does not use stay raw.
type event struct {
	Sender    party        `json:"sender"`
	Recipient party        `json:"recipient"`
	Timestamp meta.FlexInt `json:"timestamp"` // Unix milliseconds
	Message   *wireMessage `json:"message"`
	Postback  *postback    `json:"postback"`
	Delivery  *delivery    `json:"delivery"`
	Read      *read        `json:"read"`
	// Events ignored with a debug entry.
	Reaction    *struct{} `json:"reaction"`
	MessageEdit *struct{} `json:"message_edit"`
	Referral    *struct{} `json:"referral"`
	Optin       *struct{} `json:"optin"`
}

// party is sender or recipient: a PSID/IGSID/Page id, or for the chat
// plugin a user_ref.
type party struct {
	ID      meta.FlexString `json:"id"`
	UserRef string          `json:"user_ref"`
}

type wireMessage struct {
	MID           string `json:"mid"`
	Text          string `json:"text"`
	IsEcho        bool   `json:"is_echo"`
	IsDeleted     bool   `json:"is_deleted"`
	IsUnsupported bool   `json:"is_unsupported"`
	QuickReply    *struct {
		Payload string `json:"payload"`
	} `json:"quick_reply"`
	ReplyTo *struct {
		MID string `json:"mid"`
	} `json:"reply_to"`
	Attachments []attachmentIn `json:"attachments"`
}

// attachmentIn is an element of message.attachments[]: image, video,
// audio, file, location, share, story_mention, ig_reel, reel, like_heart,
// fallback, ...
type attachmentIn struct {
	Type    string `json:"type"`
	Payload *struct {
		URL         string          `json:"url"`
		StickerID   meta.FlexString `json:"sticker_id"`
		Title       string          `json:"title"`
		Coordinates *struct {
			Lat  float64 `json:"lat"`
			Long float64 `json:"long"`
		} `json:"coordinates"`
	} `json:"payload"`
}

// postback is a tapped postback button, Get Started or an ice breaker.
type postback struct {
	MID      string `json:"mid"`
	Title    string `json:"title"`
	Payload  string `json:"payload"`
	Referral *struct {
		Ref    string `json:"ref"`
		Source string `json:"source"`
		Type   string `json:"type"`
	} `json:"referral"`
}

// delivery is a Messenger delivery receipt: "watermark is always present
// and mids is sometimes present".
type delivery struct {
	MIDs      []string     `json:"mids"`
	Watermark meta.FlexInt `json:"watermark"`
}

// read is a read receipt: Messenger gives a watermark, Instagram the mid.
type read struct {
	MID       string       `json:"mid"`
	Watermark meta.FlexInt `json:"watermark"`
}
