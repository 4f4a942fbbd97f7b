package chat

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/chatflow-dev/chatflow/internal/sandbox"
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// LocalConfig is a chat with a flow run in this process, from its file: no
// cluster, executor or sandbox. What the user types goes through the same
// path as on a live flow, minus the network: it becomes the channel's
// webhook, which the channel's own parser reads; the flow runs turns
// through runtime/flow's Driver, the executor's; its messages are rendered
// by the channel's own renderer and read back as the contact would see
// them. So a button, list row or keyboard tap means what it means live.
type LocalConfig struct {
	// Program is the compiled flow; Name its name for the greeting.
	Program *flow.Program
	Name    string
	// Account is the channel and account the flow talks through.
	Account Account
	// ContactID and ContactName are who the user plays.
	ContactID, ContactName string
	// Inputs start a Manual run first (nil for channel triggers).
	Inputs map[string]any
	// Stubs answer the flow's HTTP calls (transcript.Stubs: a test file's
	// http: section); nil fails every call, which takes the node's onError.
	// Model calls of AI nodes are answered from its ai: section when it
	// stubs the node (a ModelResponder), else by the sandbox's model
	// stand-in, in process.
	Stubs Responder
	// In is what the user types, one message per line; Out gets the
	// conversation. Echo writes each line read after the prompt.
	In   io.Reader
	Out  io.Writer
	Echo bool
	// Now is the clock (time.Now when nil). /timer moves the flow's clock
	// to the pending timer's deadline.
	Now func() time.Time
}

// Responder answers a flow's HTTP calls instead of the network.
type Responder interface {
	Respond(flow.HTTPCall) (flow.HTTPResult, error)
}

// ModelResponder is a Responder that may also answer model calls.
type ModelResponder interface {
	HasAI(node string) bool
	RespondModel(flow.ModelCall) (flow.ModelResult, error)
}

// StartLocal talks to the flow until In ends or the user types /quit.
// Besides messages, the user can type /timer (the pending WaitForReply,
// Delay or Handoff timer fires now) and /resume (an agent ends the
// hand-off).
func StartLocal(ctx context.Context, c LocalConfig) error {
	if c.Now == nil {
		c.Now = time.Now
	}
	l := &local{LocalConfig: c, s: &session{Config: Config{Out: c.Out}}}
	l.driver = flow.NewDriver(c.Program, l.now)
	return l.run(ctx)
}

type local struct {
	LocalConfig
	s       *session // prints replies and reads choices as a remote chat does
	driver  *flow.Driver
	sess    *flow.Session
	skew    time.Duration // how far /timer moved the flow's clock ahead
	sent    int64
	runs    int
	pending bool // a turn printed nothing yet
}

func (l *local) now() time.Time { return l.Now().Add(l.skew) }

func (l *local) run(ctx context.Context) error {
	fmt.Fprintf(l.Out, "Chatting locally with flow %s on %s as %s (%s): the flow runs in this process. Type a message; "+
		"a number picks a choice; /timer fires the pending timer; /resume ends a hand-off; /quit ends.\n",
		l.Name, l.Account.Channel, l.ContactName, l.ContactID)
	if l.Inputs != nil {
		l.runs++
		l.turn(ctx, flow.RunStarted{RunID: "local-" + strconv.Itoa(l.runs),
			Contact: l.contact(), Inputs: l.Inputs}.Event())
	}
	sc := bufio.NewScanner(l.In)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for {
		fmt.Fprint(l.Out, "you> ")
		if ctx.Err() != nil || !sc.Scan() {
			fmt.Fprintln(l.Out)
			return sc.Err()
		}
		line := sc.Text()
		if l.Echo {
			fmt.Fprintln(l.Out, line)
		}
		line = strings.TrimSpace(line)
		switch line {
		case "":
			continue
		case "/quit", "/exit", "/q":
			return nil
		case "/help", "/?":
			fmt.Fprintln(l.Out, "  type a message; a number picks a choice of the last message; /timer fires the pending timer;\n"+
				"  /resume ends a hand-off; /quit ends")
			continue
		case "/timer":
			l.fireTimer(ctx)
			continue
		case "/resume":
			if l.sess == nil || l.sess.Status != flow.StatusHandedOff {
				fmt.Fprintln(l.Out, "  (the contact is not handed off)")
				continue
			}
			l.turn(ctx, flow.Resume{}.Event())
			continue
		}
		if err := l.say(ctx, l.s.inputFor(line)); err != nil {
			return err
		}
	}
}

func (l *local) contact() message.Contact {
	return message.Contact{ID: l.ContactID, Name: l.ContactName, Channel: l.Account.Channel}
}

// say turns an input into the channel's webhook and reads it back with the
// channel's parser, as the executor would, then runs a turn per message.
func (l *local) say(ctx context.Context, in Input) error {
	l.sent++
	_, body, err := l.Account.Webhook(l.ContactID, l.ContactName, in, l.sent, l.now())
	if err != nil {
		return err
	}
	b, err := l.Account.Parse(body)
	if err != nil {
		return fmt.Errorf("the %s parser refuses the webhook chat built (please report this): %w", l.Account.Channel, err)
	}
	l.s.last = nil
	for _, m := range b.Messages {
		l.turn(ctx, flow.Inbound(m))
	}
	return nil
}

func (l *local) fireTimer(ctx context.Context) {
	s := l.sess
	if !s.Waiting() || s.Wait.TimerID == "" {
		fmt.Fprintln(l.Out, "  (no timer is pending)")
		return
	}
	if d := s.Wait.Deadline.Sub(l.now()); d > 0 {
		l.skew += d
	}
	fmt.Fprintf(l.Out, "  (the timer of %s fires)\n", s.Node)
	l.turn(ctx, flow.TimerFired{TimerID: s.Wait.TimerID}.Event())
}

// turn runs one turn with l as the performer, then says what the flow
// waits for when it printed nothing.
func (l *local) turn(ctx context.Context, ev flow.Event) {
	l.pending = true
	l.sess, _ = l.driver.Turn(ctx, l.sess, ev, l)
	if !l.pending {
		return
	}
	switch s := l.sess; {
	case !s.Waiting():
		fmt.Fprintln(l.Out, "  (no reply: the run is over or did not start; see the flow's log events)")
	case s.Status == flow.StatusHandedOff:
		fmt.Fprintln(l.Out, "  (handed off: an agent has the conversation; /resume gives it back)")
	case s.Wait.TimerID != "":
		fmt.Fprintf(l.Out, "  (the flow waits at %s; /timer fires its timer)\n", s.Node)
	}
}

// Perform implements flow.Performer for a local chat.
func (l *local) Perform(_ context.Context, _ *flow.Session, e *flow.Effect) (flow.Event, bool) {
	switch e.Kind {
	case flow.EffectSend:
		l.pending = false
		bodies, err := l.Account.Render(e.Send.Message)
		if err != nil {
			fmt.Fprintf(l.Out, "  (%s refuses the message of %s: %v)\n", l.Account.Channel, e.Send.NodeID, err)
			return flow.SendResult{EffectID: e.Send.ID, Error: &message.SendError{
				Class: message.Permanent, Code: channel.CodeInvalidMessage, Message: err.Error()}}.Event(), true
		}
		id := "local." + e.Send.ID
		for _, b := range bodies {
			l.s.print(ParseReply(l.Account.Channel, id, b))
		}
		return flow.SendResult{EffectID: e.Send.ID, MessageID: id}.Event(), true
	case flow.EffectHTTPCall:
		c := e.HTTP
		if l.Stubs == nil {
			fmt.Fprintf(l.Out, "  (%s %s at %s: no stubs, so the call fails; give a test file with http: stubs)\n", c.Method, c.URL, c.NodeID)
			return flow.HTTPResult{EffectID: c.ID, Err: "no stub in a local chat"}.Event(), true
		}
		res, err := l.Stubs.Respond(c)
		switch {
		case err != nil:
			fmt.Fprintf(l.Out, "  (%s %s at %s: %v)\n", c.Method, c.URL, c.NodeID, err)
		case res.Err != "":
			fmt.Fprintf(l.Out, "  (%s %s → stubbed error: %s)\n", c.Method, c.URL, res.Err)
		default:
			fmt.Fprintf(l.Out, "  (%s %s → stubbed %d)\n", c.Method, c.URL, res.Status)
		}
		return res.Event(), true
	case flow.EffectModelCall:
		return l.model(&e.Model).Event(), true
	case flow.EffectHandoffNotify:
		l.pending = false
		fmt.Fprintf(l.Out, "  (handed off to an agent at %s, queue %q, with the last %d messages; /resume gives the contact back)\n",
			e.Handoff.NodeID, e.Handoff.Queue, len(e.Handoff.Transcript))
	case flow.EffectHandoffMessage:
		l.pending = false
		fmt.Fprintln(l.Out, "  (forwarded to the agent)")
	case flow.EffectLog:
		switch e.Log.Event {
		case flow.LogError:
			fmt.Fprintf(l.Out, "  (error at %s: %s)\n", e.Log.NodeID, e.Log.Message)
		case flow.LogRunEnded:
			if e.Log.Message != "end" {
				fmt.Fprintf(l.Out, "  (the run ended: %s)\n", e.Log.Message)
			}
		}
	}
	return flow.Event{}, false
}

// model answers a model call from the stubs when they have the node's,
// else with the sandbox's stand-in (no model is called from a local chat).
func (l *local) model(c *flow.ModelCall) flow.ModelResult {
	if m, ok := l.Stubs.(ModelResponder); ok && m.HasAI(c.NodeID) {
		res, err := m.RespondModel(*c)
		if err != nil {
			fmt.Fprintf(l.Out, "  (%s at %s: %v)\n", c.Model, c.NodeID, err)
		}
		return res
	}
	msgs := make([][2]string, len(c.Messages))
	for i, m := range c.Messages {
		msgs[i] = [2]string{m.Role, m.Content}
	}
	var schema json.RawMessage
	if c.Schema != nil {
		schema = c.Schema.Schema
	}
	answer := sandbox.StandIn(c.Model, msgs, schema)
	if c.Schema != nil {
		fmt.Fprintf(l.Out, "  (%s at %s, the sandbox's stand-in: %s)\n", c.Model, c.NodeID, answer)
	}
	return flow.ModelResult{EffectID: c.ID, Content: answer}
}
