// Package manifest is Chatflow's one manifest decoder: every command that
// reads a ChatFlow or ChannelBinding from a file (lint, test, graph,
// import, export, the studio and the executor) reads it here, the way
// kubectl does, so that they all see what the API server will see.
//
//   - Parse splits a source as kubectl's reader does (a stream of JSON
//     objects, or YAML documents separated by "---" lines; the items of a
//     List) and converts each document to JSON without a schema with
//     sigs.k8s.io/yaml: scalars are YAML 1.1, so an unquoted n, y, yes, no,
//     on or off is a boolean and 0755 an octal number. Each object also
//     carries an index from field paths (spec.nodes[3].next) to the line
//     and column they were written on, and of how each scalar was written,
//     built from yaml.v3's nodes: positions only, never values.
//   - Object.Decode decodes an object strictly into its Go type, as the
//     API server's strict field validation does, and reports a wrongly
//     typed or unknown field at its path and line with advice
//     (`spec.variables[0].name: Invalid value: "boolean": must be a string
//     (quote it: "n")`). Object.Explain phrases the API server's own type
//     errors the same way.
//   - YAML writes manifests that kubectl reads back unchanged.
//
// The CRD's schema and CEL rules are internal/lint's (it runs the API
// server's validation on Parse's values); the graph rules are
// runtime/flow's. This package imports neither, nor the API server
// libraries, nor internal/cli: the executor binary links it.
package manifest
