// Package expr owns the expressions of chat flows: the CEL expressions of
// Condition branches and SetVariables nodes, and the "{{ <CEL> }}" templates
// of message texts and URLs.
//
// Expressions are compiled once, when a flow is loaded or linted, and
// evaluated many times, once per turn, so compilation does all the checking
// and evaluation is kept cheap: no I/O, no per-call maps, scope members
// converted only when an expression reads them. An Env also remembers a
// bounded number of compilations (a source always compiles the same), so
// that linting a flow again after an edit compiles only what changed.
//
// The package must stay a leaf: it may import runtime/message of this module
// and nothing else of ours (today it imports nothing of ours at all), so that
// the flow compiler, the linter and the interpreter can all depend on it.
package expr
