package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/runtime/channel"
)

// The gateway reads bindings, the Secrets the manager labels as binding
// credentials, and the executor Services; informers only list and watch.
//
// +kubebuilder:rbac:groups=chatflow.dev,resources=channelbindings,verbs=list;watch,roleName=gateway-role
// +kubebuilder:rbac:groups="",resources=secrets;services,verbs=list;watch,roleName=gateway-role

// WatchOptions configure Watch.
type WatchOptions struct {
	// Namespaces limits the watch to these namespaces (the chart's
	// watchNamespaces); empty watches the whole cluster.
	Namespaces []string
	// OnTable receives every new table: the first once the informers
	// synced, then one after each change.
	OnTable func(*Table)
	// Logger receives the watch's log (default slog.Default()).
	Logger *slog.Logger
}

// gatewayKeys are the only Secret keys the gateway keeps: the signing
// secrets and the verify token. Access tokens and run tokens are dropped
// before the informer caches a Secret.
var gatewayKeys = []string{channel.KeyAppSecret, channel.KeyVerifyToken, channel.KeyAuthToken}

// Watch keeps the routes current from the API server until ctx ends:
// informers on ChannelBindings, on the Secrets labelled
// builders.LabelCredentials (the manager labels every Secret a binding
// names), keeping only the keys the gateway uses, and on the executor
// Services. Every change rebuilds the whole table (Build), so publish,
// unpublish, rebind and Secret rotation take effect without a restart.
func Watch(ctx context.Context, cfg *rest.Config, o WatchOptions) error {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	opts := cache.Options{
		Scheme:           scheme,
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {
				Label:     labels.SelectorFromSet(labels.Set{builders.LabelCredentials: "true"}),
				Transform: keepSecretKeys,
			},
			&corev1.Service{}: {
				Label: labels.SelectorFromSet(labels.Set{builders.LabelManagedBy: builders.ManagedBy, builders.LabelName: builders.AppName}),
			},
		},
	}
	if len(o.Namespaces) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range o.Namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	c, err := cache.New(cfg, opts)
	if err != nil {
		return fmt.Errorf("creating the informers: %w", err)
	}
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default: // a rebuild is already due; it will see this change too
		}
	}
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}
	for _, obj := range []client.Object{&v1alpha1.ChannelBinding{}, &corev1.Secret{}, &corev1.Service{}} {
		inf, err := c.GetInformer(ctx, obj)
		if err != nil {
			return fmt.Errorf("informer of %T: %w", obj, err)
		}
		if _, err := inf.AddEventHandler(handler); err != nil {
			return err
		}
	}
	errs := make(chan error, 1)
	go func() { errs <- c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		select {
		case err := <-errs:
			return fmt.Errorf("the informers did not sync: %w", err)
		default:
			return fmt.Errorf("the informers did not sync: %w", ctx.Err())
		}
	}
	o.Logger.Info("informers synced", "namespaces", o.Namespaces)
	for {
		in, err := list(ctx, c)
		if err != nil {
			// The cache is local: this is a bug or the end; retry shortly.
			o.Logger.Error("listing from the informers", "error", err.Error())
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
				notify()
			}
		} else {
			o.OnTable(Build(in))
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			return err
		case <-changed:
		}
	}
}

func list(ctx context.Context, c cache.Cache) (Input, error) {
	var in Input
	var bindings v1alpha1.ChannelBindingList
	if err := c.List(ctx, &bindings); err != nil {
		return in, err
	}
	var secrets corev1.SecretList
	if err := c.List(ctx, &secrets); err != nil {
		return in, err
	}
	var services corev1.ServiceList
	if err := c.List(ctx, &services); err != nil {
		return in, err
	}
	return Input{Bindings: bindings.Items, Secrets: secrets.Items, Services: services.Items}, nil
}

// keepSecretKeys is the Secret informer's transform: the object keeps its
// identity and the keys the gateway uses, nothing else.
func keepSecretKeys(obj any) (any, error) {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return obj, nil // a tombstone
	}
	kept := &corev1.Secret{
		TypeMeta: s.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: s.Name, Namespace: s.Namespace, UID: s.UID, ResourceVersion: s.ResourceVersion,
			Labels: s.Labels, DeletionTimestamp: s.DeletionTimestamp,
		},
		Data: map[string][]byte{},
	}
	for _, k := range gatewayKeys {
		if v, ok := s.Data[k]; ok {
			kept.Data[k] = v
		}
	}
	return kept, nil
}
