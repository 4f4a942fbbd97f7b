package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
	"github.com/chatflow-dev/chatflow/runtime/store"
)

// Hand-off notifications: what a Handoff node tells the agents' system (the
// hand-off itself, with the recent conversation) and every message the
// contact writes while handed off. Each is a JSON POST to the node's
// notifyURL through the egress client (so private addresses stay refused),
// signed with HMAC-SHA256 over the raw body, and delivered at least once:
// a failed attempt is retried from a durable timer in the session store,
// committed with the turn (or with the failed retry), so neither a crash nor
// a restart loses it. The body is fixed at the first attempt: every attempt
// sends, and signs, the same bytes, with the same delivery id to dedupe on.
const (
	// SignatureHeader carries "sha256=<hex>": HMAC-SHA256 of the raw body
	// keyed by the credentials' handoffSecret (else their runToken).
	SignatureHeader = "X-Chatflow-Signature-256"
	// DeliveryHeader is the notification's id, the same on every attempt.
	DeliveryHeader = "X-Chatflow-Delivery"
	// EventHeader is "handoff" or "message", as the body's "event".
	EventHeader = "X-Chatflow-Event"

	// maxNotifyAttempts bounds the attempts of one notification: with
	// notifyBackoff doubling from 5s to an hour, the last is about three
	// hours after the first.
	maxNotifyAttempts = 12
	notifyBaseDelay   = 5 * time.Second
	notifyMaxDelay    = time.Hour
	notifyTimeout     = 10 * time.Second
	// maxNotifyResponse is what is read of an answer (to reuse the
	// connection); the rest is dropped.
	maxNotifyResponse = 4 << 10
)

// notification is one notice on its way, as a retry timer keeps it.
type notification struct {
	ID    string `json:"id"`
	Event string `json:"event"`
	URL   string `json:"url"`
	Body  []byte `json:"body"`
	// Attempts made so far.
	Attempts int `json:"attempts"`
}

// notice is the body of a notification.
type notice struct {
	Event    string          `json:"event"` // handoff | message
	ID       string          `json:"id"`
	Flow     string          `json:"flow"`
	Revision string          `json:"revision"`
	RunID    string          `json:"runId,omitempty"`
	Node     string          `json:"node"`
	Queue    string          `json:"queue,omitempty"`
	Contact  message.Contact `json:"contact"`
	// Transcript is the recent conversation (event handoff).
	Transcript []flow.Line `json:"transcript,omitempty"`
	// Message is what the contact wrote (event message).
	Message *noticeMessage `json:"message,omitempty"`
	// Resume is the executor path that gives the contact back to the flow.
	Resume string    `json:"resume"`
	Time   time.Time `json:"time"`
}

type noticeMessage struct {
	Kind     message.Kind   `json:"kind"`
	Text     string         `json:"text,omitempty"`
	ButtonID string         `json:"buttonId,omitempty"`
	Payload  string         `json:"payload,omitempty"`
	Media    *message.Media `json:"media,omitempty"`
	At       time.Time      `json:"at,omitzero"`
}

func (e *Executor) handoffNotice(s *flow.Session, h *flow.HandoffNotify) *notification {
	if h.URL == "" {
		return nil
	}
	return e.newNotification(s, h.URL, notice{
		Event: "handoff", ID: h.ID, Node: h.NodeID, Queue: h.Queue, Contact: h.Contact, Transcript: h.Transcript,
	})
}

func (e *Executor) handoffMessage(s *flow.Session, h *flow.HandoffMessage) *notification {
	if h.URL == "" {
		return nil
	}
	m := h.Message
	return e.newNotification(s, h.URL, notice{
		Event: "message", ID: h.ID, Node: h.NodeID, Queue: h.Queue, Contact: h.Contact,
		Message: &noticeMessage{Kind: m.Kind, Text: m.Text, ButtonID: m.ButtonID, Payload: m.Payload, Media: m.Media, At: m.Timestamp},
	})
}

func (e *Executor) newNotification(s *flow.Session, url string, n notice) *notification {
	n.Flow, n.Revision, n.Time = e.flowName, e.program.Revision(), e.now().UTC()
	if s != nil {
		n.RunID = s.RunID
	}
	n.Resume = "/v1/contacts/" + n.Contact.ID + "/resume"
	body, err := json.Marshal(n)
	if err != nil {
		return nil
	}
	return &notification{ID: n.ID, Event: n.Event, URL: url, Body: body}
}

// notifyKey is the key notifications are signed with.
func (e *Executor) notifyKey() string {
	if k := e.creds.Get(channel.KeyHandoffSecret); k != "" {
		return k
	}
	return e.creds.Get(channel.KeyRunToken)
}

// attempt delivers a notification once. It returns nil when the agents'
// system took it or the attempts are used up (logged and counted), else the
// durable timer of the next attempt, for the caller to commit.
func (e *Executor) attempt(ctx context.Context, contact string, n *notification) *store.Timer {
	n.Attempts++
	err := e.deliver(ctx, n)
	if err == nil {
		e.metrics.notifications.WithLabelValues("delivered").Inc()
		return nil
	}
	if n.Attempts >= maxNotifyAttempts {
		e.metrics.notifications.WithLabelValues("failed").Inc()
		e.log.write("", contact, flow.Log{Event: flow.LogError, Message: fmt.Sprintf(
			"hand-off %s notification %s failed %d times, giving up: %s", n.Event, n.ID, n.Attempts, redactURL(err.Error()))}, 0)
		slog.Error("hand-off notification given up", "flow", e.flowName, "id", n.ID, "attempts", n.Attempts, "error", redactURL(err.Error()))
		return nil
	}
	e.metrics.notifications.WithLabelValues("retried").Inc()
	e.log.write("", contact, flow.Log{Event: flow.LogError, Message: fmt.Sprintf(
		"hand-off %s notification %s failed (attempt %d), retrying: %s", n.Event, n.ID, n.Attempts, redactURL(err.Error()))}, 0)
	payload, err := json.Marshal(queued{Notify: n})
	if err != nil {
		return nil
	}
	return &store.Timer{
		ID:      "notify:" + n.ID + ":" + strconv.Itoa(n.Attempts),
		At:      e.now().Add(notifyBackoff(n.Attempts, 0.5+0.5*rand.Float64())),
		Payload: payload,
	}
}

// notifyBackoff is the delay after the given failed attempt: doubling
// from notifyBaseDelay up to notifyMaxDelay, scaled by jitter in (0, 1].
func notifyBackoff(attempts int, jitter float64) time.Duration {
	d := notifyBaseDelay
	for i := 1; i < attempts && d < notifyMaxDelay; i++ {
		d *= 2
	}
	return time.Duration(float64(min(d, notifyMaxDelay)) * jitter)
}

// deliver POSTs the notification; any answer but 2xx is a failure.
func (e *Executor) deliver(ctx context.Context, n *notification) error {
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(n.Body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "chatflow-executor")
	req.Header.Set(EventHeader, n.Event)
	req.Header.Set(DeliveryHeader, n.ID)
	if key := e.notifyKey(); key != "" {
		req.Header.Set(SignatureHeader, "sha256="+channel.SignHMACSHA256(n.Body, key))
	}
	resp, err := e.egress.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxNotifyResponse))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", redactURL(n.URL), resp.Status)
	}
	return nil
}
