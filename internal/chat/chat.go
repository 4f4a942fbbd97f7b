package chat

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/channel/viber"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// Config says whom to talk to and how.
type Config struct {
	// Flow names the flow, for the greeting.
	Flow string
	// Channel is the binding's channel.
	Channel message.Channel
	// Account is the binding's account id (phone_number_id, Page id,
	// Instagram account id, Viber bot id).
	Account string
	// Phone is the binding's phone number (WhatsApp).
	Phone string
	// Secret signs the webhooks: the app secret (Meta channels) or the auth
	// token (Viber).
	Secret string
	// ExecutorURL is where the webhooks and the run go: the gateway, or
	// the flow's executor itself.
	ExecutorURL string
	// RunPath is the run API's path there (default "/v1/runs", the
	// executor's; the gateway's is /v1/namespaces/{ns}/chatflows/{flow}/runs).
	RunPath string
	// SandboxURL is where the binding sends (its apiBaseURL).
	SandboxURL string
	// ContactID and ContactName are who the user plays.
	ContactID, ContactName string
	// Run, when set, starts a Manual run first through the executor's run
	// API with the runToken.
	Run *Run
	// In is what the user types, one message per line; Out gets the
	// conversation.
	In  io.Reader
	Out io.Writer
	// Echo writes each line read from In after the prompt (when In is not
	// a terminal), so the output reads as a transcript.
	Echo bool
	// ReplyTimeout is how long to wait for the first reply to a message
	// (default 30s); Quiet how long no further message must arrive for
	// the turn to end (default 1.5s).
	ReplyTimeout, Quiet time.Duration
	// HTTP is the client (default: one with a 60s timeout).
	HTTP *http.Client
}

// Run is a Manual run to start.
type Run struct {
	Token  string
	Inputs map[string]any
}

// Start talks to the flow until In ends, the user types /quit, or ctx is
// done.
func Start(ctx context.Context, c Config) error {
	if c.ReplyTimeout <= 0 {
		c.ReplyTimeout = 30 * time.Second
	}
	if c.Quiet <= 0 {
		c.Quiet = 1500 * time.Millisecond
	}
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: 60 * time.Second}
	}
	s := &session{Config: c, replies: make(chan Reply, 64), pollErr: make(chan error, 1)}
	return s.run(ctx)
}

type session struct {
	Config
	replies chan Reply
	pollErr chan error
	// last is the last reply that offered choices.
	last *Reply
	sent int64
}

func (s *session) run(ctx context.Context) error {
	after, err := s.cursor(ctx)
	if err != nil {
		return fmt.Errorf("reading the sandbox at %s: %w", s.SandboxURL, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.poll(ctx, after)

	fmt.Fprintf(s.Out, "Chatting with flow %s on %s as %s (%s). Type a message; a number picks a choice; /quit ends.\n",
		s.Flow, s.Channel, s.ContactName, s.ContactID)
	if s.Run != nil {
		if err := s.startRun(ctx); err != nil {
			return err
		}
		if err := s.awaitTurn(ctx); err != nil {
			return err
		}
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(s.In)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		fmt.Fprint(s.Out, "you> ")
		var line string
		var ok bool
	wait:
		for {
			select {
			case <-ctx.Done():
				fmt.Fprintln(s.Out)
				return nil
			case err := <-s.pollErr:
				return err
			case r := <-s.replies:
				// Something the flow sent on its own (a delay, a timeout).
				fmt.Fprintln(s.Out)
				s.print(r)
				fmt.Fprint(s.Out, "you> ")
			case line, ok = <-lines:
				break wait
			}
		}
		if !ok {
			fmt.Fprintln(s.Out)
			return nil
		}
		if s.Echo {
			fmt.Fprintln(s.Out, line)
		}
		line = strings.TrimSpace(line)
		switch line {
		case "":
			continue
		case "/quit", "/exit", "/q":
			return nil
		case "/help", "/?":
			fmt.Fprintln(s.Out, "  type a message and press Enter; a number picks one of the numbered choices of the last message;\n  /quit ends the chat (the conversation stays in the executor's store)")
			continue
		}
		if err := s.send(ctx, s.inputFor(line)); err != nil {
			return err
		}
		if err := s.awaitTurn(ctx); err != nil {
			return err
		}
	}
}

// inputFor turns a typed line into an input: a number within the choices
// of the last message picks that choice.
func (s *session) inputFor(line string) input {
	in := input{Text: line}
	if s.last != nil {
		if n, err := strconv.Atoi(line); err == nil && n >= 1 && n <= len(s.last.Choices) {
			ch := s.last.Choices[n-1]
			in.Choice = &ch
			in.ReplyTo = s.last.MessageID
		}
		in.Tracking = s.last.Tracking
	}
	return in
}

// send posts the signed webhook of one input to the executor.
func (s *session) send(ctx context.Context, in input) error {
	s.sent++
	wh, err := inboundWebhook(s.Channel, s.Account, s.Phone, contact{ID: s.ContactID, Name: s.ContactName}, in, s.sent, time.Now())
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(s.ExecutorURL, "/")+wh.Path, bytes.NewReader(wh.Body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if s.Secret != "" {
		if s.Channel == message.Viber {
			req.Header.Set(viber.SignatureHeader, viber.Sign(wh.Body, s.Secret))
		} else {
			req.Header.Set(meta.SignatureHeader, meta.Sign(wh.Body, s.Secret))
		}
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("posting the webhook to the executor at %s: %w", s.ExecutorURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("the executor answered the webhook with %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	// The choices belonged to the message just answered.
	s.last = nil
	return nil
}

// startRun starts a Manual run for the contact.
func (s *session) startRun(ctx context.Context) error {
	body, err := json.Marshal(map[string]any{
		"contact":   map[string]string{"id": s.ContactID, "name": s.ContactName},
		"variables": s.Run.Inputs,
	})
	if err != nil {
		return err
	}
	path := s.RunPath
	if path == "" {
		path = "/v1/runs"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(s.ExecutorURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.Run.Token)
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("starting the run: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the executor refused the run: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	fmt.Fprintf(s.Out, "(started a run: %s)\n", strings.TrimSpace(string(msg)))
	return nil
}

// awaitTurn prints the flow's replies to the last message: it waits for
// the first up to ReplyTimeout, then for more until Quiet passes without
// one.
func (s *session) awaitTurn(ctx context.Context) error {
	timer := time.NewTimer(s.ReplyTimeout)
	defer timer.Stop()
	got := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-s.pollErr:
			return err
		case r := <-s.replies:
			s.print(r)
			got = true
			timer.Reset(s.Quiet)
		case <-timer.C:
			if !got {
				fmt.Fprintf(s.Out, "(no reply within %s: the flow may be waiting, handed off or failing; see the executor's log)\n", s.ReplyTimeout)
			}
			return nil
		}
	}
}

// print writes one reply with its numbered choices.
func (s *session) print(r Reply) {
	for i, l := range r.Lines {
		prefix := "bot> "
		if i > 0 {
			prefix = "     "
		}
		fmt.Fprintln(s.Out, prefix+strings.ReplaceAll(l, "\n", "\n     "))
	}
	for i, c := range r.Choices {
		label := c.Title
		if c.Section != "" {
			label = c.Section + " › " + label
		}
		if c.Description != "" {
			label += " — " + c.Description
		}
		fmt.Fprintf(s.Out, "     %d) %s\n", i+1, label)
	}
	if len(r.Choices) > 0 || r.Tracking != "" {
		s.last = &r
	}
}

// cursor is the sequence number of the last message the sandbox holds for
// the contact: older ones belong to earlier chats.
func (s *session) cursor(ctx context.Context) (int64, error) {
	var after int64
	for {
		recs, err := s.messages(ctx, after, 0)
		if err != nil {
			return 0, err
		}
		if len(recs) == 0 {
			return after, nil
		}
		after = recs[len(recs)-1].Seq
	}
}

// poll long-polls the sandbox for the contact's messages and hands them
// over in order.
func (s *session) poll(ctx context.Context, after int64) {
	failures := 0
	for ctx.Err() == nil {
		recs, err := s.messages(ctx, after, 25*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if failures++; failures >= 5 {
				s.pollErr <- fmt.Errorf("reading replies from the sandbox at %s: %w", s.SandboxURL, err)
				return
			}
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
			continue
		}
		failures = 0
		for _, r := range recs {
			after = r.Seq
			if s.otherAccount(r) {
				continue // the same contact id on another account
			}
			select {
			case s.replies <- parseReply(r):
			case <-ctx.Done():
				return
			}
		}
	}
}

func (s *session) messages(ctx context.Context, after int64, wait time.Duration) ([]record, error) {
	q := url.Values{"to": {s.ContactID}, "after": {strconv.FormatInt(after, 10)}}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(s.SandboxURL, "/")+"/sandbox/messages?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /sandbox/messages: %s", resp.Status)
	}
	var out struct {
		Messages []record `json:"messages"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	return out.Messages, nil
}

// otherAccount reports whether a record was sent by another account than
// the binding's, where the sandbox knows (WhatsApp and Messenger name the
// account in the send path; Instagram sends to /me and Viber by token).
func (s *session) otherAccount(r record) bool {
	switch s.Channel {
	case message.WhatsApp, message.Messenger:
		return r.Account != "" && r.Account != s.Account
	}
	return false
}
