// Package builders holds the pure functions that produce what a Published
// flow becomes: the immutable ConfigMap of a revision, the executor
// Deployment and its Service, plus their names and labels and the
// executor defaults of the manager (Config).
//
// Builders take everything they need as arguments and return typed
// objects; they do no I/O, read no clock and never fail on user input, so
// each has a table test beside it. They must not import the reconcilers.
package builders
