// Package sandbox is an http.Handler that stands in for the channels' send
// APIs locally: in tests, in `make dev`, and for users trying flows
// without a Meta or Viber account. Point a binding's apiBaseURL at it.
//
// Each channel is one small file implementing the api interface:
//
//   - whatsapp.go, the WhatsApp Cloud API: POST /{version}/{phone_number_id}/messages
//     and /{phone_number_id}/messages, with bearer-token checks (401, Graph
//     code 190), body validation (400, code 100), the documented success
//     response with a fresh wamid, and documented error bodies on demand;
//   - messenger.go, the Messenger Platform Send API, shared by Instagram
//     Messaging: POST /{version}/me/messages, /me/messages and
//     /{version}/{page_id}/messages (WhatsApp's path shape: told apart by
//     the body, a recipient object and no messaging_product), token in the
//     access_token query parameter or a bearer header, messaging_type and
//     tag rules (retired tags refused with code 100), text, attachment,
//     button template and quick-reply limits, and the Graph errors of
//     613, 4, 10/2018278, 100/2018001, 551, 1200, 2, 190, 368, 2xx;
//   - override.go, the WhatsApp phone number node for Meta's webhook
//     overrides: POST /{version}/{phone_number_id} with
//     webhook_configuration.override_callback_uri and verify_token
//     ({"success": true}; "" removes it), GET ...?fields=webhook_configuration,
//     with errors 190, 100 (no https, over 200 characters, no verify token)
//     and, with Options.MetaCallback, Meta's GET handshake to the URL and
//     2200 when it fails;
//   - viber.go, the Viber REST Bot API: POST /pa/send_message and
//     /pa/set_webhook with X-Viber-Auth-Token, errors as HTTP 200 with a
//     non-zero status (errors.md codes 1–24, 12 "Too many requests"),
//     message tokens above 2^53, and optionally the signed "webhook"
//     callback check of set_webhook (Options.ViberCallback);
//   - model.go, an OpenAI-compatible chat model: POST {base}/chat/completions
//     (any base, e.g. /v1), bearer key check (401 in OpenAI's error shape,
//     Options.ModelAPIKey), request validation (400 with the parameter),
//     strict structured-output schemas checked as OpenAI checks them,
//     injected 401, 404, 429 (with Retry-After), 500 and 503 answers
//     (channel "model", to = the model name), usage counts, max_tokens
//     honoured (finish_reason length), scripted answers in order
//     (/sandbox/model/answers: content, JSON, refusal, delay) and, when
//     none is scripted, a deterministic stand-in that echoes text and
//     fills structured output from the schema (modelanswer.go).
//
// WhatsApp's mark-as-read with the typing indicator (POST
// /{phone_number_id}/messages {"status": "read", "message_id", ...}) is
// answered {"success": true} and recorded with Kind "read"; faults apply
// to it as to sends.
//
// Control API, shared by all channels:
//
//	POST   /sandbox/faults    {"channel","to"(optional),"code","times","after"(optional)} inject errors
//	GET    /sandbox/faults    list the pending faults
//	DELETE /sandbox/faults    clear them
//	GET    /sandbox/messages?channel=&to=&after=<seq>&wait=<duration>&limit=
//	DELETE /sandbox/messages  clear the record of accepted messages
//	GET    /sandbox/webhooks  the callback registrations: Viber set_webhook, WhatsApp overrides
//	POST   /sandbox/model/answers  {"model","match","content"|"json"|"refusal","finishReason","delay","times"} script answers
//	GET    /sandbox/model/answers  list them; DELETE clears them
//
// A request may also carry "X-Sandbox-Fault: <code>", and Options can make
// a seeded random share of sends fail. The record of accepted messages is
// bounded (Options.MaxRecords) and GET with wait long-polls, so tests and
// a chat CLI can follow what a flow sends.
//
// Imports: the standard library, runtime/channel and runtime/channel/meta
// only. It must not import runtime/flow, runtime/store, runtime/executor or
// a channel package (it checks the wire contract independently, so it can
// catch a channel package's rendering bugs).
package sandbox
