// Package manifest reads Kubernetes manifests the way the flow tools need
// them: files, directories and stdin, multi-document YAML (and JSON, and
// v1 List objects as `kubectl get -o yaml` prints them), each object as a
// JSON-compatible value together with an index from field paths
// (spec.nodes[3].next) to the line and column they came from.
//
// The index is what lets `chatflow lint` print file:line for an error that
// the flow compiler or the CRD schema reports by field path only.
//
// It knows nothing of ChatFlows beyond decoding them: validation belongs to
// internal/lint and runtime/flow. It must not import internal/cli.
package manifest
