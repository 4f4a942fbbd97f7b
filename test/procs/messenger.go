package procs

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// MetaMessage is one inbound Messenger or Instagram message for
// MessengerWebhook: a text, or a quick-reply tap when Payload is set.
type MetaMessage struct {
	From, ID, Text, Payload string
}

// MessengerWebhook builds a webhook body carrying msgs for the Page (or
// Instagram account) accountID by filling the real text fixture of the
// channel (messenger/text_message.json, or instagram/text.json when
// instagram is true); a quick-reply tap gets message.quick_reply.payload,
// the shape of Meta's quick-reply example. Several messages become
// several messaging[] events of one entry, as Meta batches them.
func MessengerWebhook(instagram bool, accountID string, msgs ...MetaMessage) ([]byte, error) {
	file := filepath.Join("messenger", "text_message.json")
	if instagram {
		file = filepath.Join("instagram", "text.json")
	}
	data, err := os.ReadFile(filepath.Join(FixturesDir(), file))
	if err != nil {
		return nil, fmt.Errorf("reading the fixture: %w", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	entry := doc["entry"].([]any)[0].(map[string]any)
	entry["id"] = accountID
	template := entry["messaging"].([]any)[0]
	var events []any
	for _, m := range msgs {
		ev := deepCopy(template).(map[string]any)
		ev["sender"].(map[string]any)["id"] = m.From
		ev["recipient"].(map[string]any)["id"] = accountID
		msg := ev["message"].(map[string]any)
		msg["mid"], msg["text"] = m.ID, m.Text
		if m.Payload != "" {
			msg["quick_reply"] = map[string]any{"payload": m.Payload}
		}
		events = append(events, ev)
	}
	entry["messaging"] = events
	return json.Marshal(doc)
}

// MessengerPostback builds a postback (button tap) webhook from the real
// postback_get_started.json fixture, with the mid Meta adds since v11.
func MessengerPostback(accountID, from, mid, title, payload string) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(FixturesDir(), "messenger", "postback_get_started.json"))
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	entry := doc["entry"].([]any)[0].(map[string]any)
	entry["id"] = accountID
	ev := entry["messaging"].([]any)[0].(map[string]any)
	ev["sender"].(map[string]any)["id"] = from
	ev["recipient"].(map[string]any)["id"] = accountID
	ev["postback"] = map[string]any{"mid": mid, "title": title, "payload": payload}
	return json.Marshal(doc)
}

// MetaText returns the text of a Send API body (a text message, or the
// text of a button template).
func MetaText(body []byte) string {
	var b struct {
		Message struct {
			Text       string `json:"text"`
			Attachment struct {
				Payload struct {
					Text string `json:"text"`
				} `json:"payload"`
			} `json:"attachment"`
		} `json:"message"`
	}
	_ = json.Unmarshal(body, &b)
	if b.Message.Text != "" {
		return b.Message.Text
	}
	return b.Message.Attachment.Payload.Text
}

// MetaBatch joins the entries of several webhook bodies of one channel
// into one body, as Meta batches the events of every Page (or Instagram
// account, or WhatsApp number) of an app into one request.
func MetaBatch(bodies ...[]byte) ([]byte, error) {
	var doc map[string]any
	var entries []any
	for _, b := range bodies {
		var d map[string]any
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, err
		}
		if doc == nil {
			doc = d
		}
		if d["object"] != doc["object"] {
			return nil, fmt.Errorf("object %v in a batch of %v", d["object"], doc["object"])
		}
		entries = append(entries, d["entry"].([]any)...)
	}
	doc["entry"] = entries
	return json.Marshal(doc)
}
