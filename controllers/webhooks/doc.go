// Package webhooks holds the validating admission webhooks of ChatFlow,
// ChannelBinding and LanguageModel, written as controller-runtime's typed admission.Validator.
// They run the full graph validation of runtime/flow and enforce the
// lifecycle rules that span objects (no delete of a Published flow, no
// rebind while Published), answering with typed API errors that carry the
// field path and the fix.
//
// The lookups a decision depends on go to the API server (the manager's
// API reader), not the cache: an admission answer must not depend on how
// far an informer has caught up. The field index keys of controllers/index
// double as field selectors there. Warnings, which may lag, read the cache
// through the same indexes. This package must not import the reconcilers.
package webhooks
