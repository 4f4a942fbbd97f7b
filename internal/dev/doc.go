// Package dev is `chatflow dev`: a throwaway local Chatflow installation
// for people who write flows. It starts the same kube-apiserver and etcd
// as the tests (envtest), installs the CRDs, the validating webhooks and
// the admission policy from config/, runs `chatflow manager` as a child
// process serving the webhooks with its own rotated certificate, and
// stands in for the parts of a cluster that are missing:
//
//   - the runner (runner.go) plays the Deployment controller and the
//     kubelet for executor Deployments: it starts `chatflow executor`
//     processes (what the pods' /chatflow-executor runs, from this
//     binary) from each Deployment's pod template, with ConfigMap and
//     Secret volumes written under the dev directory, rolls them to a new
//     template without downtime, stops them when the Deployment goes, and
//     writes the Deployment status the operator waits for;
//   - certMount plays the kubelet for the manager's certificate Secret;
//   - the channel sandbox (internal/sandbox) receives what the
//     executors send, next to a demo order API for the order-status
//     sample.
//
// Everything lives under one directory (default .chatflow-dev/): the
// kubeconfig, state.json (internal/dev/statefile: where the sandbox and every
// executor listen, read by `chatflow chat`), logs, etcd data and the
// executors' files.
// Run returns only after every process it started is gone.
//
// It imports the operator's builders for their labels and names only; it
// must not import the controllers' reconcilers, the executor runtime or
// the test process helpers (test/procs).
package dev
