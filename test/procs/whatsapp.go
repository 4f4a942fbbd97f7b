package procs

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// WhatsAppMessage is one inbound text for WhatsAppWebhook.
type WhatsAppMessage struct {
	From, Name, ID, Text string
	// PhoneNumberID is the business number the message is for, when not
	// the webhook's: Meta batches the messages of every number of an app.
	PhoneNumberID string
}

var (
	waFixtureOnce sync.Once
	waFixture     map[string]any
	waFixtureErr  error
)

// WhatsAppWebhook builds a webhook body carrying msgs for phoneNumberID by
// filling the real text_message.json fixture, so the wire format is the one
// Meta sends rather than one we made up. Several messages become several
// entries of one batch, as Meta batches them; a message with its own
// PhoneNumberID is for another number of the same app.
func WhatsAppWebhook(phoneNumberID string, msgs ...WhatsAppMessage) ([]byte, error) {
	waFixtureOnce.Do(func() {
		data, err := os.ReadFile(filepath.Join(FixturesDir(), "whatsapp", "text_message.json"))
		if err != nil {
			waFixtureErr = fmt.Errorf("reading the WhatsApp fixture: %w", err)
			return
		}
		waFixtureErr = json.Unmarshal(data, &waFixture)
	})
	if waFixtureErr != nil {
		return nil, waFixtureErr
	}
	doc := deepCopy(waFixture).(map[string]any)
	entryTemplate := doc["entry"].([]any)[0]
	var entries []any
	for _, m := range msgs {
		entry := deepCopy(entryTemplate).(map[string]any)
		value := entry["changes"].([]any)[0].(map[string]any)["value"].(map[string]any)
		value["metadata"].(map[string]any)["phone_number_id"] = orDefault(m.PhoneNumberID, phoneNumberID)
		contact := value["contacts"].([]any)[0].(map[string]any)
		contact["wa_id"] = m.From
		contact["profile"].(map[string]any)["name"] = m.Name
		msg := value["messages"].([]any)[0].(map[string]any)
		msg["from"] = m.From
		msg["id"] = m.ID
		msg["text"].(map[string]any)["body"] = m.Text
		entries = append(entries, entry)
	}
	doc["entry"] = entries
	return json.Marshal(doc)
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = deepCopy(e)
		}
		return s
	default:
		return v
	}
}
