package flow

import (
	"context"
	"slices"
	"time"
)

// Performer carries out the effects of a turn: the I/O around the pure
// interpreter. The executor sends through the channel and calls HTTP APIs;
// `chatflow test` answers from the test's stubs; `chatflow chat` renders
// what the channel would show; the studio records. A new kind of effect
// needs a case in each performer, nothing in the Driver.
//
// Timer effects never reach a performer: the Driver nets them out over the
// turn and returns them, so the caller stores them atomically with the
// session (the executor) or keeps them on its own clock (tests, chat).
type Performer interface {
	// Perform carries out one effect: a Send, an HTTPCall, a hand-off
	// notice, a log line, or any kind added later. s is the session as the
	// Step that emitted the effect left it; read it, never change it. When
	// the flow awaits the outcome (a Send's SendResult, an HTTPCall's
	// HTTPResult) Perform returns that event and true, and the Driver feeds
	// it back into the flow within the same turn.
	Perform(ctx context.Context, s *Session, e *Effect) (Event, bool)
}

// TimerChanges are a turn's timer changes, netted: a timer set and
// cancelled within the turn is in neither list.
type TimerChanges struct {
	// Set are timers to schedule (ID and At), in the order they were set.
	Set []Timer
	// Cancel are ids of timers set by earlier turns, to cancel.
	Cancel []string
}

// Empty reports whether the turn changed no timer.
func (t *TimerChanges) Empty() bool { return len(t.Set) == 0 && len(t.Cancel) == 0 }

func (t *TimerChanges) set(tm Timer) {
	t.Cancel = slices.DeleteFunc(t.Cancel, func(id string) bool { return id == tm.ID })
	t.Set = append(t.Set, tm)
}

func (t *TimerChanges) cancel(id string) {
	n := len(t.Set)
	t.Set = slices.DeleteFunc(t.Set, func(tm Timer) bool { return tm.ID == id })
	if len(t.Set) == n {
		t.Cancel = append(t.Cancel, id)
	}
}

// Driver owns the effect loop of a turn: the one path from an event to a
// session at rest, shared by the executor, `chatflow test`, `chatflow chat`
// and the studio, so they all see the same effects in the same order.
//
// A turn goes like this. The event is stepped; each effect of that step is
// handled in the order the interpreter emitted it: timer changes are
// netted into the turn's TimerChanges, everything else (sends, HTTP calls,
// hand-off notices, log lines) goes to the Performer, and an outcome the
// flow awaits is queued. Then the queued outcomes are stepped in turn, their
// effects handled the same way, until nothing is queued: the session waits
// for the contact, a timer or an agent, or the run is over. That is a FIFO
// of effects: an outcome's effects come after every effect emitted before
// it. All Steps of a turn share one budget of MaxStepsPerTurn nodes; a turn
// that exhausts it ends the run with an error log, so no flow and no
// performer can keep a turn going forever.
//
// The Driver does no I/O and reads no clock of its own: now is injected, and
// the Performer does the I/O. It is not safe for concurrent use; keep one
// per worker, and it reuses its buffers from one turn to the next.
type Driver struct {
	program *Program
	now     func() time.Time
	timers  TimerChanges
	queue   []Event
}

// NewDriver returns a Driver of p. now gives the time of each step: the
// executor's clock, or a test's.
func NewDriver(p *Program, now func() time.Time) *Driver {
	return &Driver{program: p, now: now}
}

// Program is the program the Driver runs.
func (d *Driver) Program() *Program { return d.program }

// Turn carries ev through to rest with perf performing the effects, and
// returns the session (nil when ev started nothing for a contact without
// one) and the turn's timer changes. Ownership follows Step: s is handed
// over, the returned session replaces it, and the TimerChanges are valid
// until the next Turn.
func (d *Driver) Turn(ctx context.Context, s *Session, ev Event, perf Performer) (*Session, *TimerChanges) {
	d.timers.Set, d.timers.Cancel = d.timers.Set[:0], d.timers.Cancel[:0]
	d.queue = append(d.queue[:0], ev)
	spent := 0
	for i := 0; i < len(d.queue); i++ {
		var fx []Effect
		s, fx, spent = step(d.program, s, d.queue[i], d.now(), spent)
		for j := range fx {
			e := &fx[j]
			switch e.Kind {
			case EffectSetTimer:
				d.timers.set(e.Timer)
			case EffectCancelTimer:
				d.timers.cancel(e.Timer.ID)
			default:
				if res, ok := perf.Perform(ctx, s, e); ok {
					d.queue = append(d.queue, res)
				}
			}
		}
	}
	// Outcomes may hold response bodies: do not keep them until the next turn.
	clear(d.queue)
	return s, &d.timers
}
