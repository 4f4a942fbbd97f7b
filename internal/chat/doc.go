// Package chat is `chatflow chat`: it talks to a running flow as one of its
// contacts. What the user types becomes the channel's own webhook (the
// WhatsApp, Messenger, Instagram or Viber wire format, signed with the
// binding's app secret or auth token) posted to the flow's executor; the
// flow's replies are read back from the channel sandbox, where the
// binding's apiBaseURL sends them, and printed with their buttons, quick
// replies and list rows numbered so the user can pick one by number.
//
// StartLocal chats with a flow run in this process from its file instead:
// the user's lines become the channel's webhooks read by the channel's own
// parser, the flow runs turns through runtime/flow's Driver (the
// executor's effect loop) with a performer that renders its messages with
// the channel's renderer and reads them back the same way, and HTTP calls
// are answered from a test file's stubs (internal/transcript).
//
// It speaks HTTP to an executor and a sandbox only; finding them (the dev
// state, the kubeconfig) is the caller's job. It imports the channel
// packages for their wire formats and runtime/flow for local chats, and
// must not import the executor or the store.
package chat
