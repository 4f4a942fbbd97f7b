package whatsapp

import (
	"encoding/json"

	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
)

// changeValue is entry[].changes[].value of the "messages" field.
type changeValue struct {
	MessagingProduct string            `json:"messaging_product"`
	Metadata         metadata          `json:"metadata"`
	Contacts         []wireContact     `json:"contacts"`
	Messages         []json.RawMessage `json:"messages"`
	Statuses         []json.RawMessage `json:"statuses"`
	Errors           []wireError       `json:"errors"`
}

type metadata struct {
	DisplayPhoneNumber string          `json:"display_phone_number"`
	PhoneNumberID      meta.FlexString `json:"phone_number_id"`
}

type wireContact struct {
	Profile struct {
		Name string `json:"name"`
	} `json:"profile"`
	WaID   string `json:"wa_id"`
	UserID string `json:"user_id"` // business-scoped user id (BSUID)
}

// wireMessage is one element of value.messages[].
type wireMessage struct {
	From       string       `json:"from"`
	FromUserID string       `json:"from_user_id"`
	ID         string       `json:"id"`
	Timestamp  meta.FlexInt `json:"timestamp"` // a string of Unix seconds
	Type       string       `json:"type"`
	Context    *struct {
		From string `json:"from"`
		ID   string `json:"id"`
	} `json:"context"`
	Text *struct {
		Body string `json:"body"`
	} `json:"text"`
	Interactive *struct {
		Type        string     `json:"type"`
		ButtonReply *replyPick `json:"button_reply"`
		ListReply   *replyPick `json:"list_reply"`
	} `json:"interactive"`
	Button *struct {
		Payload string `json:"payload"`
		Text    string `json:"text"`
	} `json:"button"`
	Image    *wireMedia `json:"image"`
	Video    *wireMedia `json:"video"`
	Audio    *wireMedia `json:"audio"`
	Voice    *wireMedia `json:"voice"` // legacy name of a voice note
	Document *wireMedia `json:"document"`
	Sticker  *wireMedia `json:"sticker"`
	Location *struct {
		Latitude  float64 `json:"latitude"`
		Longitude float64 `json:"longitude"`
		Name      string  `json:"name"`
		Address   string  `json:"address"`
		URL       string  `json:"url"`
	} `json:"location"`
	Errors []wireError `json:"errors"`
}

// replyPick is an interactive button_reply or list_reply.
type replyPick struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
}

type wireMedia struct {
	ID       string `json:"id"`
	MIMEType string `json:"mime_type"`
	Caption  string `json:"caption"`
	Filename string `json:"filename"`
}

// wireError is an element of value.errors[], messages[].errors[] or
// statuses[].errors[].
type wireError struct {
	Code      int             `json:"code"`
	Title     string          `json:"title"`
	Message   string          `json:"message"`
	Details   string          `json:"details"` // messages[].errors[] put it here
	ErrorData *meta.ErrorData `json:"error_data"`
}

// wireStatus is one element of value.statuses[].
type wireStatus struct {
	ID              string       `json:"id"`
	Status          string       `json:"status"`
	Timestamp       meta.FlexInt `json:"timestamp"`
	RecipientID     string       `json:"recipient_id"`
	RecipientUserID string       `json:"recipient_user_id"`
	Errors          []wireError  `json:"errors"`
}

// describe joins what an error says: title, message and details, without
// repeats.
func (e wireError) describe() string {
	out := ""
	add := func(s string) {
		if s == "" || s == out {
			return
		}
		if out == "" {
			out = s
			return
		}
		out += ": " + s
	}
	add(e.Title)
	if e.Message != e.Title {
		add(e.Message)
	}
	add(e.Details)
	if e.ErrorData != nil && e.ErrorData.Details != e.Details {
		add(e.ErrorData.Details)
	}
	return out
}
