package controllers

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/controllers/campaign"
	"github.com/chatflow-dev/chatflow/controllers/channelbinding"
	"github.com/chatflow-dev/chatflow/controllers/chatflow"
	"github.com/chatflow-dev/chatflow/controllers/index"
	"github.com/chatflow-dev/chatflow/controllers/languagemodel"
	"github.com/chatflow-dev/chatflow/controllers/secretlabels"
	"github.com/chatflow-dev/chatflow/controllers/webhooks"
)

// Options configure the operator's controllers and webhooks.
type Options struct {
	// Executor holds the executor defaults.
	Executor builders.Config
	// MaxConcurrentReconciles bounds parallel reconciles per controller.
	MaxConcurrentReconciles int
	// APIBaseURLHosts, when not empty, are the only hosts a
	// ChannelBinding's apiBaseURL may name.
	APIBaseURLHosts []string
	// GatewayPublicURL is the Chatflow gateway's public base URL: bindings
	// show their callback URL under it (status.webhookURL), and WhatsApp
	// bindings with spec.webhookOverride register it with Meta.
	GatewayPublicURL string
	// ContactHashKey is the installation's key of the contact id hash in
	// executor logs (the manager's --contact-hash-key-file); each flow's
	// keys Secret gets a key derived from it for its namespace. Empty: the
	// unkeyed development hash.
	ContactHashKey []byte
	// ResolveExecutor finds a flow's executor Service for the campaigns'
	// run API calls: its cluster DNS name when nil (the dev state file's
	// processes in `chatflow dev`).
	ResolveExecutor campaign.Resolver
	// Clock is the campaigns' calendar (start times, quiet hours):
	// time.Now when nil. Tests move it.
	Clock func() time.Time
	// CampaignPoll is how often a held campaign looks at its calendar
	// again (and a finishing one at its executor); default 10s.
	CampaignPoll time.Duration
	// CampaignRecheck is how often a completed campaign's sources are
	// looked at for added contacts; default 5m.
	CampaignRecheck time.Duration
}

// EventRecorderName is the reporting controller of the operator's events.
const EventRecorderName = "chatflow-operator"

// CacheOptions scope the manager's cache: Deployments, ReplicaSets,
// Services and ConfigMaps are cached only when they carry the operator's
// managed-by label, so the manager's memory grows with its flows, not with
// the cluster. Secrets are cached (as metadata only, see the controllers)
// only when they carry builders.LabelReferenced, which controllers/
// secretlabels keeps on the Secrets Chatflow objects reference: the manager
// never lists or watches the other Secrets of the cluster. With
// watchNamespaces the cache holds those namespaces only, so the manager
// needs no cluster-wide rights on namespaced objects.
func CacheOptions(watchNamespaces ...string) cache.Options {
	managed := labels.SelectorFromSet(labels.Set{builders.LabelManagedBy: builders.ManagedBy})
	referenced := labels.SelectorFromSet(labels.Set{builders.LabelReferenced: "true"})
	var namespaces map[string]cache.Config
	for _, ns := range watchNamespaces {
		if namespaces == nil {
			namespaces = map[string]cache.Config{}
		}
		namespaces[ns] = cache.Config{}
	}
	return cache.Options{
		DefaultNamespaces: namespaces,
		ByObject: map[client.Object]cache.ByObject{
			&appsv1.Deployment{}: {Label: managed},
			&appsv1.ReplicaSet{}: {Label: managed},
			&corev1.Service{}:    {Label: managed},
			&corev1.ConfigMap{}:  {Label: managed},
			&corev1.Secret{}:     {Label: referenced},
		},
	}
}

// SetupIndexes registers the field indexes of controllers/index with a
// manager's cache, once, before SetupControllers and SetupWebhooks.
func SetupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	return index.Add(ctx, mgr.GetFieldIndexer())
}

// SetupControllers registers the ChatFlow, ChannelBinding, LanguageModel and
// Campaign controllers, and the one that labels the Secrets they reference,
// with a manager built with CacheOptions and SetupIndexes.
func SetupControllers(mgr ctrl.Manager, o Options) error {
	recorder := mgr.GetEventRecorder(EventRecorderName)
	o.Executor.GatewayPublicURL = o.GatewayPublicURL
	if err := (&secretlabels.Reconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the Secret label controller: %w", err)
	}
	if err := (&chatflow.Reconciler{
		Client:                  mgr.GetClient(),
		SecretReader:            mgr.GetAPIReader(),
		Recorder:                recorder,
		Config:                  o.Executor,
		ContactHashKey:          o.ContactHashKey,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the ChatFlow controller: %w", err)
	}
	if err := (&channelbinding.Reconciler{
		Client:                  mgr.GetClient(),
		SecretReader:            mgr.GetAPIReader(),
		Recorder:                recorder,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
		GatewayPublicURL:        o.GatewayPublicURL,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the ChannelBinding controller: %w", err)
	}
	if err := (&languagemodel.Reconciler{
		Client:       mgr.GetClient(),
		SecretReader: mgr.GetAPIReader(),
		Recorder:     recorder,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the LanguageModel controller: %w", err)
	}
	resolve := o.ResolveExecutor
	if resolve == nil {
		resolve = campaign.ClusterResolver
	}
	if err := (&campaign.Reconciler{
		Client:                  mgr.GetClient(),
		Reader:                  mgr.GetAPIReader(),
		Recorder:                recorder,
		Dispatcher:              &campaign.Dispatcher{Reader: mgr.GetAPIReader(), Resolve: resolve, Now: o.Clock, Poll: o.CampaignPoll},
		Now:                     o.Clock,
		RecheckCompleted:        o.CampaignRecheck,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the Campaign controller: %w", err)
	}
	return nil
}

// SetupWebhooks registers the validating webhooks of ChatFlow,
// ChannelBinding and LanguageModel on the manager's webhook server.
// Decisions read through the API reader; warnings through the cache
// (SetupIndexes first).
func SetupWebhooks(mgr ctrl.Manager, o Options) error {
	access := &webhooks.SecretAccess{Authorizer: webhooks.SubjectAccessReviews{Client: mgr.GetClient()}}
	if err := webhooks.SetupChatFlowWebhookWithManager(mgr, mgr.GetAPIReader(), o.Executor, access); err != nil {
		return fmt.Errorf("setting up the ChatFlow webhook: %w", err)
	}
	if err := webhooks.SetupChannelBindingWebhookWithManager(mgr, mgr.GetAPIReader(), mgr.GetClient(), access, o.APIBaseURLHosts); err != nil {
		return fmt.Errorf("setting up the ChannelBinding webhook: %w", err)
	}
	if err := webhooks.SetupLanguageModelWebhookWithManager(mgr, mgr.GetAPIReader(), access); err != nil {
		return fmt.Errorf("setting up the LanguageModel webhook: %w", err)
	}
	if err := webhooks.SetupCampaignWebhookWithManager(mgr, mgr.GetAPIReader(), access); err != nil {
		return fmt.Errorf("setting up the Campaign webhook: %w", err)
	}
	return nil
}
