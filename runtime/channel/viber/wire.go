package viber

import "encoding/json"

// callback is the part every callback shares. message_token and timestamp
// stay json.Number: they exceed 2^53.
type callback struct {
	Event        string      `json:"event"`
	Timestamp    json.Number `json:"timestamp"`
	MessageToken json.Number `json:"message_token"`
}

// user is sender (message) or user (conversation_started, subscribed).
type user struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Avatar     string `json:"avatar"`
	Country    string `json:"country"`
	Language   string `json:"language"`
	APIVersion int    `json:"api_version"`
}

// eventBody holds the members of every event type; only those of the
// event are set.
type eventBody struct {
	Sender     *user        `json:"sender"`  // message
	User       *user        `json:"user"`    // conversation_started, subscribed
	UserID     string       `json:"user_id"` // unsubscribed, delivered, seen, failed
	Message    *wireMessage `json:"message"` // message
	Type       string       `json:"type"`    // conversation_started: "open"
	Context    string       `json:"context"` // conversation_started deep-link context
	Subscribed bool         `json:"subscribed"`
	Desc       string       `json:"desc"` // failed
}

type wireMessage struct {
	Type      string      `json:"type"`
	Text      string      `json:"text"`
	Media     string      `json:"media"`
	Thumbnail string      `json:"thumbnail"`
	FileName  string      `json:"file_name"`
	StickerID json.Number `json:"sticker_id"`
	Location  *struct {
		Lat float64 `json:"lat"`
		Lon float64 `json:"lon"`
	} `json:"location"`
	TrackingData string `json:"tracking_data"`
}

// sendRequest is the body of POST /pa/send_message (and, without
// receiver, the welcome message answered to conversation_started).
type sendRequest struct {
	Receiver      string    `json:"receiver,omitempty"`
	MinAPIVersion int       `json:"min_api_version,omitempty"`
	Sender        Sender    `json:"sender"`
	TrackingData  string    `json:"tracking_data,omitempty"`
	Type          string    `json:"type"`
	Text          string    `json:"text,omitempty"`
	Media         string    `json:"media,omitempty"`
	Keyboard      *keyboard `json:"keyboard,omitempty"`
}

type keyboard struct {
	Type          string           `json:"Type"` // keyboard
	DefaultHeight bool             `json:"DefaultHeight"`
	Buttons       []keyboardButton `json:"Buttons"`
}

type keyboardButton struct {
	Columns    int    `json:"Columns"`
	Rows       int    `json:"Rows"`
	ActionType string `json:"ActionType"` // reply
	ActionBody string `json:"ActionBody"`
	Text       string `json:"Text"`
	TextSize   string `json:"TextSize"`
}

// sendResponse is send_message's answer: status 0 and the message_token,
// or a non-zero status, always with HTTP 200.
type sendResponse struct {
	Status        *int        `json:"status"`
	StatusMessage string      `json:"status_message"`
	MessageToken  json.Number `json:"message_token"`
}
