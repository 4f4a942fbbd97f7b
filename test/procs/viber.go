package procs

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	"github.com/chatflow-dev/chatflow/runtime/channel/viber"
)

// viberFixture decodes a Viber fixture keeping its big integers exact.
func viberFixture(name string) (map[string]any, error) {
	data, err := os.ReadFile(filepath.Join(FixturesDir(), "viber", name))
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc map[string]any
	return doc, dec.Decode(&doc)
}

// ViberMessage builds a text "message" callback from the real message.json
// fixture: sender id and name, message_token, text and tracking_data (the
// fixture's media and location, which a real text message does not carry,
// are dropped, as SOURCES.md notes).
func ViberMessage(from, name string, token int64, text, tracking string) ([]byte, error) {
	doc, err := viberFixture("message.json")
	if err != nil {
		return nil, err
	}
	s := doc["sender"].(map[string]any)
	s["id"], s["name"] = from, name
	doc["message_token"] = json.Number(strconv.FormatInt(token, 10))
	m := doc["message"].(map[string]any)
	delete(m, "media")
	delete(m, "location")
	m["text"] = text
	if tracking == "" {
		delete(m, "tracking_data")
	} else {
		m["tracking_data"] = tracking
	}
	return json.Marshal(doc)
}

// ViberConversationStarted builds a conversation_started callback from the
// real fixture.
func ViberConversationStarted(user, name string, token int64) ([]byte, error) {
	doc, err := viberFixture("conversation_started.json")
	if err != nil {
		return nil, err
	}
	u := doc["user"].(map[string]any)
	u["id"], u["name"] = user, name
	doc["message_token"] = json.Number(strconv.FormatInt(token, 10))
	return json.Marshal(doc)
}

// ViberUnsubscribed builds an unsubscribed callback from the real fixture.
func ViberUnsubscribed(user string, token int64) ([]byte, error) {
	doc, err := viberFixture("unsubscribed.json")
	if err != nil {
		return nil, err
	}
	doc["user_id"] = user
	doc["message_token"] = json.Number(strconv.FormatInt(token, 10))
	return json.Marshal(doc)
}

// PostViberWebhook posts a callback signed with authToken (none when
// empty) and returns the status and the response body.
func PostViberWebhook(ctx context.Context, c *http.Client, url, path string, body []byte, authToken string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if authToken != "" {
		req.Header.Set(viber.SignatureHeader, viber.Sign(body, authToken))
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// ViberText returns the text of a send_message body and its tracking_data.
func ViberText(body []byte) (text, tracking string) {
	var b struct {
		Text         string `json:"text"`
		TrackingData string `json:"tracking_data"`
	}
	_ = json.Unmarshal(body, &b)
	return b.Text, b.TrackingData
}
