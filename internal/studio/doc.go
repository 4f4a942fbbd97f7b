// Package studio is `chatflow studio`: a local web app that draws a flow
// on a canvas and edits it. It owns the studio's HTTP API and serves the
// front end built from web/studio (embedded from dist/, so building the
// binary needs no Node).
//
// The studio adds no rules of its own: validation is internal/lint (what
// `chatflow lint` runs), tests are internal/transcript, export and import
// are internal/flowimport and internal/flowjson, starting points are
// internal/templates, and a live flow is read and written through the API
// server under the user's own kubeconfig identity, so admission decides.
// What it owns is the glue: writing an edited flow back into the YAML file
// it came from without losing comments, unknown fields or node order
// (yamledit.go), and serving all of it on loopback to the holder of a
// random token only (server.go).
//
// It must not import internal/cli.
package studio
