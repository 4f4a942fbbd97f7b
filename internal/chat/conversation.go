package chat

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// Conversation is a chat driven by a program (the studio's chat panel)
// instead of lines on a terminal: the same signed webhooks in and the same
// reading of the sandbox's records out as `chatflow chat`.
type Conversation struct {
	mu    sync.Mutex
	s     *session
	after int64 // the last sandbox record read
}

// NewConversation starts a conversation: later replies only are read, and
// a Manual flow's run is started when c.Run is set. c.In and c.Out are not
// used.
func NewConversation(ctx context.Context, c Config) (*Conversation, error) {
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: 60 * time.Second}
	}
	c.Out = io.Discard
	s := &session{Config: c}
	after, err := s.cursor(ctx)
	if err != nil {
		return nil, err
	}
	if c.Run != nil {
		if err := s.startRun(ctx); err != nil {
			return nil, err
		}
	}
	return &Conversation{s: s, after: after}, nil
}

// Say sends what the contact types. As in `chatflow chat`, a number within
// the choices of the last message picks that choice.
func (c *Conversation) Say(ctx context.Context, text string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s.send(ctx, c.s.inputFor(text))
}

// Replies returns the messages the flow sent to the contact since the last
// call, waiting up to wait for one to arrive.
func (c *Conversation) Replies(ctx context.Context, wait time.Duration) ([]Reply, error) {
	c.mu.Lock()
	after := c.after
	c.mu.Unlock()
	recs, err := c.s.messages(ctx, after, wait)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := []Reply{}
	for _, r := range recs {
		if r.Seq <= c.after {
			continue // read by a concurrent call
		}
		c.after = r.Seq
		if c.s.otherAccount(r) {
			continue
		}
		rep := parseReply(r)
		if len(rep.Choices) > 0 || rep.Tracking != "" {
			c.s.last = &rep
		}
		out = append(out, rep)
	}
	return out, nil
}
