package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/controllers/channelbinding"
	"github.com/chatflow-dev/chatflow/controllers/chatflow"
	"github.com/chatflow-dev/chatflow/controllers/index"
	"github.com/chatflow-dev/chatflow/controllers/webhooks"
)

// Options configure the operator's controllers and webhooks.
type Options struct {
	// Executor holds the executor defaults.
	Executor builders.Config
	// MaxConcurrentReconciles bounds parallel reconciles per controller.
	MaxConcurrentReconciles int
}

// EventRecorderName is the reporting controller of the operator's events.
const EventRecorderName = "chatflow-operator"

// CacheOptions scope the manager's cache: Deployments, ReplicaSets,
// Services and ConfigMaps are cached only when they carry the operator's
// managed-by label, so the manager's memory grows with its flows, not with
// the cluster. Secrets are watched as metadata only (see the controllers).
func CacheOptions() cache.Options {
	managed := labels.SelectorFromSet(labels.Set{builders.LabelManagedBy: builders.ManagedBy})
	return cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			&appsv1.Deployment{}: {Label: managed},
			&appsv1.ReplicaSet{}: {Label: managed},
			&corev1.Service{}:    {Label: managed},
			&corev1.ConfigMap{}:  {Label: managed},
		},
	}
}

// SetupIndexes registers the field indexes of controllers/index with a
// manager's cache, once, before SetupControllers and SetupWebhooks.
func SetupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	return index.Add(ctx, mgr.GetFieldIndexer())
}

// SetupControllers registers the ChatFlow and ChannelBinding controllers
// with a manager built with CacheOptions and SetupIndexes.
func SetupControllers(mgr ctrl.Manager, o Options) error {
	recorder := mgr.GetEventRecorder(EventRecorderName)
	if err := (&chatflow.Reconciler{
		Client:                  mgr.GetClient(),
		Recorder:                recorder,
		Config:                  o.Executor,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the ChatFlow controller: %w", err)
	}
	if err := (&channelbinding.Reconciler{
		Client:                  mgr.GetClient(),
		SecretReader:            mgr.GetAPIReader(),
		Recorder:                recorder,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the ChannelBinding controller: %w", err)
	}
	return nil
}

// SetupWebhooks registers the validating webhooks of ChatFlow and
// ChannelBinding on the manager's webhook server. Decisions read through
// the API reader; warnings through the cache (SetupIndexes first).
func SetupWebhooks(mgr ctrl.Manager, o Options) error {
	if err := webhooks.SetupChatFlowWebhookWithManager(mgr, mgr.GetAPIReader(), o.Executor); err != nil {
		return fmt.Errorf("setting up the ChatFlow webhook: %w", err)
	}
	if err := webhooks.SetupChannelBindingWebhookWithManager(mgr, mgr.GetAPIReader(), mgr.GetClient()); err != nil {
		return fmt.Errorf("setting up the ChannelBinding webhook: %w", err)
	}
	return nil
}
