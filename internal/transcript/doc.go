// Package transcript owns `chatflow test`: transcript tests of a flow,
// written in YAML, run through the flow engine's turn driver
// (runtime/flow.Driver, the one the executor runs) with a performer of its
// own, with no executor, network or clock. Each test is a conversation:
// what the contact does, and what the flow must answer. Play records what
// each input made the flow do, for tools that replay a test elsewhere (the
// repository replays every transcript against an executor process).
//
// A test file (conventionally <flow file>.test.yaml next to the flow):
//
//	flow: order-status          # the ChatFlow of the flow file (optional when it has one)
//	channel: WhatsApp           # Manual flows: the channel to send through
//	                            # (default: their binding's in the flow file)
//	contact: {id: "15550100100", name: Alex}   # the default contact
//	now: 2025-01-06T09:00:00Z   # the clock at the start of each test (this default)
//	http:                       # HTTP stubs by node id, for every test
//	  lookup: {status: 200, json: {status: shipped, eta: Friday}}
//	ai:                         # answers of AI nodes' models by node id
//	  route: {label: order}     #   AIClassify: label (and confidence)
//	  answer: We open at 9.     #   AIReply: the text (or {text: ...})
//	  details: {json: {orderNumber: "10452"}}   # AIExtract: the fields
//	sendErrors:                 # sends that the channel refuses, by node id
//	  remind: {code: 131047, message: Re-engagement message}
//	tests:
//	- name: a shipped order
//	  http: {...}               # stubs of this test, over the file's (ai: too)
//	  contact: {...}            # contact of this test
//	  transcript:
//	  - user: hi                # the contact writes
//	  - bot: Hi Alex! What is your order number?
//	  - user: "10452"
//	  - call: {node: lookup, url: https://orders.example.com/v1/orders/10452}
//	  - bot: Good news: order 10452 has shipped and should arrive by Friday.
//	  - vars: {orderNumber: "10452"}
//	  - ended: true
//
// Transcript steps, one key each. Inputs drive the flow:
//
//	user: TEXT            an inbound text message
//	tap: ID               a tap on a reply button, quick reply or list row offered
//	                      earlier in the test ({id, title} to set the title; for a
//	                      WhatsApp template quick reply, {payload: P})
//	inbound: {...}        any inbound message: kind, text, buttonId, payload,
//	                      media {kind, url, id, mimeType, caption, filename}
//	run: {NAME: VALUE}    start a run of a Manual flow with these inputs
//	timer: NODE           the pending timer fires: a WaitForReply timeout, a Delay
//	                      or a Handoff timeout at NODE; the clock jumps to it
//	resume: NODE          an agent ends the hand-off at NODE
//
// Expectations check what the flow did:
//
//	bot: TEXT             the next message the flow sent has this text
//	bot: {...}            the next message matches every field given: text,
//	                      matches (an RE2 pattern the text must contain), node
//	                      (the SendMessage that sent it), buttons and quickReplies
//	                      (a list of titles, or of {id, title}), list, media,
//	                      template, tag, and whatsapp: the Cloud API request body
//	                      as runtime/channel/whatsapp renders it
//	call: {...}           the next HTTP call: node, method, url, body, headers
//	handoff: {...}        the next hand-off notification: node, queue, url
//	vars: {NAME: VALUE}   variables have these values now
//	waiting: NODE         the flow waits at NODE
//	ended: true           the run is over
//
// Every message the flow sends must be expected, in order, before the next
// input and by the end of the test; HTTP calls and hand-offs need to be
// expected only when the test wants to check them. Maps are compared on the
// keys the test gives (a subset), lists element by element, numbers by
// value. HTTP calls are answered from the stubs: {status (default 200),
// json (a body sent as application/json), body (text), headers, error (no
// response: timeout, refused...)}, or a list of them answered in turn (the
// last one repeats). A call without a stub fails the test. Model calls of
// AI nodes are answered from ai: the same way, by node id: {text}, {label,
// confidence}, {json: <any structured answer, valid or not>}, {refusal} or
// {error}; no test calls a model. Sends succeed
// unless sendErrors names their node or the channel cannot render them.
//
// A failing test stops at its first mismatch and reports the step's line,
// what differs (want/got by field path), and the conversation so far.
//
// It runs flows with runtime/flow's Driver; plays the contact through the
// channel's wire format with internal/chat (user: and tap: become the
// channel's webhooks, read by its parser, so contact.name is what the
// channel carries; sends are rendered by the channel's renderer, which may
// refuse them as the executor's sender would); renders WhatsApp JSON with
// runtime/channel/whatsapp; and loads flow files through internal/lint (so
// a test refuses a flow that lint refuses). It does no I/O of its own.
package transcript
