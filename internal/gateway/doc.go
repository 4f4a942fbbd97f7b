// Package gateway is Chatflow's one public entry for channel webhooks:
// Meta delivers every event of an app (all its WhatsApp numbers, Pages and
// Instagram accounts) to one callback URL, so a per-flow executor cannot be
// that URL. The gateway verifies each request with the signing secrets of
// the channel's bindings (once per distinct secret, in constant time, over
// the raw bytes), splits a batch by account into parts that keep the
// channel's envelope (meta.SplitByAccount), forwards each part to the
// executor of the flow bound to that account, re-signed with the binding's
// own secret so the executor's contract does not change, and answers 200
// only when every executor accepted its part; any failure answers 5xx, the
// channel redelivers, and executors deduplicate what they already took.
//
// It owns:
//   - Table and Build: the routes (channel, account → binding → executor
//     Service), computed by a pure function from ChannelBindings, their
//     credentials Secrets and the executor Services;
//   - Server: the HTTP routes (POST and GET /webhooks/{channel},
//     POST /webhooks/viber/{account}, the run API
//     /v1/namespaces/{namespace}/chatflows/{name}/runs, the executors'
//     session inspector relayed under the same prefix (GET .../contacts/{id},
//     .../nodes, .../nodes/{node}/contacts), /healthz, /readyz, /metrics)
//     over the current Table;
//   - Frontend: the port, whose own HTTP/1.1 loop reads and answers the
//     channels' webhook POSTs and hands every other request, with its
//     connection, to net/http (frontend.go);
//   - lanes: the forwards to each binding's executor, where the parts that
//     arrive while enough are in flight wait and go joined into one batch
//     (lanes.go);
//   - the sources that keep the Table current: informers on the API server
//     (Watch) or manifest files outside a cluster (WatchFiles), and where
//     a Service is reached (Resolver: its cluster IP, or the local
//     processes of `chatflow dev`).
//
// With tracing on (Options.Tracing, from the OTEL_* variables), a request's
// server span is the parent of its forwards' client spans, whose
// traceparent the executors continue (tracing.go); a joined forward's span
// is a child of the span of the request that sends it and links those of
// the other requests it carries.
//
// It is stateless: any number of replicas serve the same routes. It must
// not import the controllers' reconcilers, runtime/executor, runtime/flow
// or runtime/store: it reads what the operator wrote and talks to
// executors over HTTP only.
package gateway
