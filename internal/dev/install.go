package dev

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/manifest"
)

// The names config/default gives the operator's objects (its namePrefix
// and namespace); the manager's flag defaults use the same.
const (
	namePrefix        = "chatflow-"
	systemNamespace   = "chatflow-system"
	webhookSecret     = namePrefix + "webhook-server-cert"
	webhookService    = namePrefix + "webhook-service"
	webhookConfigName = namePrefix + "validating-webhook-configuration"
)

// install puts into the API server what config/default installs around
// the manager: the namespace, the webhook Secret the manager's cert
// rotator fills, the webhook Service, the ValidatingWebhookConfiguration
// of config/webhook and the admission policies of config/policy (the CRDs
// are installed with the control plane).
//
// The one dev-specific change: the webhook Service is an ExternalName
// Service for localhost and the webhook configuration calls it on the
// manager's local webhook port. The API server resolves an ExternalName
// Service to that name and still verifies the certificate for
// <service>.<namespace>.svc, so the manager serves exactly what it serves
// in a cluster, with the certificate its rotator made.
func install(ctx context.Context, c client.Client, configDir string, webhookPort int) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNamespace}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: webhookSecret, Namespace: systemNamespace,
		Labels: map[string]string{"app.kubernetes.io/name": "chatflow", "app.kubernetes.io/component": "manager"}}}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: webhookService, Namespace: systemNamespace},
		Spec: corev1.ServiceSpec{
			Type:         corev1.ServiceTypeExternalName,
			ExternalName: "localhost",
			Ports:        []corev1.ServicePort{{Name: "webhook", Port: int32(webhookPort)}},
		},
	}
	for _, o := range []client.Object{ns, secret, svc} {
		if err := c.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %s %s: %w", kindOf(o), o.GetName(), err)
		}
	}

	webhooks, err := manifest.Unstructured(filepath.Join(configDir, "webhook", "manifests.yaml"))
	if err != nil {
		return err
	}
	for _, u := range webhooks {
		vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, vwc); err != nil {
			return fmt.Errorf("config/webhook: %w", err)
		}
		vwc.Name = namePrefix + vwc.Name
		for i := range vwc.Webhooks {
			vwc.Webhooks[i].ClientConfig = admissionregistrationv1.WebhookClientConfig{
				Service: &admissionregistrationv1.ServiceReference{
					Namespace: systemNamespace, Name: webhookService,
					Path: vwc.Webhooks[i].ClientConfig.Service.Path, Port: ptr.To(int32(webhookPort)),
				},
			}
		}
		if vwc.Name != webhookConfigName {
			return fmt.Errorf("config/webhook names its configuration %s; the manager's --webhook-configuration-name is %s", vwc.Name, webhookConfigName)
		}
		if err := c.Create(ctx, vwc); err != nil {
			return fmt.Errorf("creating the webhook configuration: %w", err)
		}
	}

	var policy []*unstructured.Unstructured
	for _, file := range []string{"deny-delete-published.yaml", "credentials-access.yaml"} {
		objs, err := manifest.Unstructured(filepath.Join(configDir, "policy", file))
		if err != nil {
			return err
		}
		policy = append(policy, objs...)
	}
	for _, u := range policy {
		u.SetName(namePrefix + u.GetName())
		if u.GetKind() == "ValidatingAdmissionPolicyBinding" {
			name, _, _ := unstructured.NestedString(u.Object, "spec", "policyName")
			if err := unstructured.SetNestedField(u.Object, namePrefix+name, "spec", "policyName"); err != nil {
				return err
			}
		}
		if err := c.Create(ctx, u); err != nil {
			return fmt.Errorf("creating %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return nil
}

// waitForAdmission waits until the API server enforces the admission
// policy and calls the webhooks: both are loaded asynchronously. It uses
// a Published probe flow without a binding in the system namespace (the
// operator stalls it, nothing runs) and removes it.
func waitForAdmission(ctx context.Context, c client.Client) error {
	probe := &v1alpha1.ChatFlow{
		ObjectMeta: metav1.ObjectMeta{Name: "dev-admission-probe", Namespace: systemNamespace},
		Spec: v1alpha1.ChatFlowSpec{
			State:   v1alpha1.StatePublished,
			Trigger: v1alpha1.Trigger{Type: v1alpha1.TriggerWhatsApp},
			Nodes: []v1alpha1.Node{
				{ID: "start", Type: v1alpha1.NodeStart, Next: "end"},
				{ID: "end", Type: v1alpha1.NodeEnd},
			},
		},
	}
	invalid := probe.DeepCopy()
	invalid.Name = "dev-admission-probe-invalid"
	invalid.Spec.Nodes[0].Next = "nowhere"
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	check := func(what string, f func() error, want string) error {
		var last error
		for {
			last = f()
			if last != nil && strings.Contains(last.Error(), want) {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s is not enforced: %v", what, last)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	if err := check("the validating webhook", func() error {
		return c.Create(ctx, invalid.DeepCopy(), client.DryRunAll)
	}, "denied the request"); err != nil {
		return err
	}
	if err := c.Create(ctx, probe.DeepCopy()); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the admission probe flow: %w", err)
	}
	if err := check("the admission policy", func() error {
		return c.Delete(ctx, probe.DeepCopy(), client.DryRunAll)
	}, "ValidatingAdmissionPolicy"); err != nil {
		return err
	}
	// Unpublish, then delete: the lifecycle every user follows.
	for {
		cur := &v1alpha1.ChatFlow{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(probe), cur); err != nil {
			return err
		}
		cur.Spec.State = v1alpha1.StateUnpublished
		err := c.Update(ctx, cur)
		if err == nil {
			break
		}
		if !apierrors.IsConflict(err) {
			return fmt.Errorf("unpublishing the admission probe flow: %w", err)
		}
	}
	return check("deleting the probe flow", func() error {
		err := c.Delete(ctx, probe.DeepCopy())
		if err == nil || apierrors.IsNotFound(err) {
			return errors.New("deleted")
		}
		return err
	}, "deleted")
}

func kindOf(o client.Object) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", o), "*v1.")
}
