// Package flow owns the flow engine: it compiles and validates a ChatFlow
// graph (Compile, Canonical, Revision) and interprets it (Step).
//
// Compile checks every graph rule of the API (ids, references, Start/End,
// links per node type, reachability, bounded cycles, durations, names, CEL
// expressions and templates, channel capabilities) and returns all problems
// as field errors with paths such as spec.nodes[3].next and a hint on how to
// fix each. Admission, the controller and `chatflow lint` share it, so it
// never trusts its input: it must not panic on anything that decodes into a
// ChatFlowSpec.
//
// Step is the interpreter: a pure, deterministic function from (program,
// session, event, time) to (session, effects). It does no I/O, reads no
// clock and draws no random numbers; ids derive from a counter kept in the
// session.
//
// Driver owns the loop around Step, one turn at a time: it hands each
// effect to a Performer (send, HTTP call, hand-off notice, log line),
// feeds the outcomes the flow awaits back in, in one order (a FIFO of
// effects), nets the timer changes of the turn and bounds its steps. The
// executor, `chatflow test`, `chatflow chat` and the studio each bring a
// Performer and share the Driver, so they see the same effects in the same
// order; a new kind of effect needs a case in the performers, nothing more.
//
// This package must not do I/O, nor import the executor, store or channel
// packages; the one exception is runtime/channel/capability, the pure table
// of what each channel can render. It may import api/v1alpha1,
// runtime/message and runtime/expr.
package flow
