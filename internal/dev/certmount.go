package dev

import (
	"bytes"
	"context"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/dev/statefile"
)

// certMount does for the manager what the kubelet does for its pod: it
// keeps the files of the webhook certificate Secret (which the manager's
// cert rotator fills and renews) in the directory the manager reads them
// from.
type certMount struct {
	client client.Client
	dir    string
	key    types.NamespacedName
}

func (m *certMount) setup(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("dev-manager-cert-mount").
		For(&corev1.Secret{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return o.GetNamespace() == m.key.Namespace && o.GetName() == m.key.Name
		}))).
		Complete(m)
}

func (m *certMount) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	s := &corev1.Secret{}
	if err := m.client.Get(ctx, req.NamespacedName, s); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	for k, v := range s.Data {
		p := filepath.Join(m.dir, k)
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, v) {
			continue
		} else if err != nil && !os.IsNotExist(err) {
			return ctrl.Result{}, err
		}
		if err := statefile.WriteFileAtomic(p, v, 0o600); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{}, nil
}

// scheme has the built-in types and Chatflow's.
func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v1alpha1.AddToScheme(s))
	return s
}
