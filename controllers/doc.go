// Package controllers wires the operator's parts into a controller-runtime
// manager: the field indexes (index), the ChatFlow and ChannelBinding
// reconcilers (chatflow, channelbinding), the admission validators
// (webhooks), and the cache scoping they rely on.
//
// The sub-packages own the work: policy holds the pure lifecycle and
// binding decisions shared by reconcilers and webhooks, builders the pure
// functions that produce the executor's ConfigMap, Deployment and Service.
// Nothing here may import the executor or the channel runtimes; the one
// runtime package used is runtime/flow, for graph validation and revisions.
package controllers
