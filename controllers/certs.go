package controllers

import (
	"fmt"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
)

// The cert rotator keeps the webhook serving certificate in a Secret of the
// manager's namespace and its CA in the webhook configuration.
// +kubebuilder:rbac:groups="",namespace=system,resources=secrets,verbs=update,resourceNames=chatflow-webhook-server-cert
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=get;list;watch
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=update,resourceNames=chatflow-validating-webhook-configuration

// CertRotation says where the webhook certificate lives and whom it serves.
type CertRotation struct {
	// Namespace of the manager, its Secret and its Service.
	Namespace string
	// SecretName is the Secret holding the CA and the serving certificate;
	// it must exist (the install ships it empty) and be mounted at CertDir.
	SecretName string
	// ServiceName is the Service in front of the webhook server.
	ServiceName string
	// WebhookConfiguration is the ValidatingWebhookConfiguration whose
	// caBundle the rotator keeps current.
	WebhookConfiguration string
	// CertDir is where the Secret is mounted (tls.crt, tls.key).
	CertDir string
}

// AddCertRotator adds open-policy-agent/cert-controller's rotator to the
// manager: it generates a CA and a serving certificate for the webhook
// Service into the Secret, renews them ahead of expiry, and injects the CA
// into the webhook configuration, so no cert-manager is needed. ready is
// closed once the kubelet has mounted the certificate files and the CA is
// injected; register the webhooks (which start the webhook server) only
// then. Every replica runs it, leader or not: each needs its files.
func AddCertRotator(mgr ctrl.Manager, c CertRotation, ready chan struct{}) error {
	if c.Namespace == "" || c.SecretName == "" || c.ServiceName == "" || c.WebhookConfiguration == "" {
		return fmt.Errorf("cert rotation needs a namespace, a Secret, a Service and a webhook configuration: %+v", c)
	}
	return rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: c.Namespace, Name: c.SecretName},
		CertDir:        c.CertDir,
		CAName:         "chatflow-webhook-ca",
		CAOrganization: "chatflow",
		DNSName:        fmt.Sprintf("%s.%s.svc", c.ServiceName, c.Namespace),
		ExtraDNSNames: []string{
			fmt.Sprintf("%s.%s.svc.cluster.local", c.ServiceName, c.Namespace),
			fmt.Sprintf("%s.%s", c.ServiceName, c.Namespace),
		},
		IsReady:               ready,
		Webhooks:              []rotator.WebhookInfo{{Name: c.WebhookConfiguration, Type: rotator.Validating}},
		RequireLeaderElection: false,
		EnableReadinessCheck:  true,
		FieldOwner:            "chatflow-operator",
	})
}
