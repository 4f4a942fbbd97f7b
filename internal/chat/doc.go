// Package chat is `chatflow chat`: it talks to a running flow as one of its
// contacts. What the user types becomes the channel's own webhook (the
// WhatsApp, Messenger, Instagram or Viber wire format, signed with the
// binding's app secret or auth token) posted to the flow's executor; the
// flow's replies are read back from the channel sandbox, where the
// binding's apiBaseURL sends them, and printed with their buttons, quick
// replies and list rows numbered so the user can pick one by number.
//
// It speaks HTTP to an executor and a sandbox only; finding them (the dev
// state, the kubeconfig) is the caller's job. It imports the channel
// packages for their signatures and must not import the executor, the flow
// engine or the store.
package chat
