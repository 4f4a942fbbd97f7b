package operator

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/chatflow-dev/chatflow/controllers"
	"github.com/chatflow-dev/chatflow/internal/cli"
)

var _ = Describe("The webhook certificate rotator", func() {
	It("fills the certificate Secret, injects its CA, and is ready once the files are mounted", func() {
		ns := newNamespace()
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "chatflow-webhook-server-cert", Namespace: ns}}
		// A configuration that matches nothing: only its caBundle matters here.
		none := admissionregistrationv1.SideEffectClassNone
		vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: "rotator-test"},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name: "nothing.chatflow.dev",
				ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
					Namespace: ns, Name: "chatflow-webhook-service", Path: ptr.To("/nothing")}},
				Rules: []admissionregistrationv1.RuleWithOperations{{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{"nothing.chatflow.dev"}, APIVersions: []string{"v1"},
						Resources: []string{"nothings"}},
				}},
				SideEffects: &none, AdmissionReviewVersions: []string{"v1"},
				FailurePolicy: ptr.To(admissionregistrationv1.Ignore),
			}},
		}
		create(secret, vwc)
		DeferCleanup(func() { Expect(k8s.Delete(ctx, vwc)).To(Succeed()) })

		certDir := GinkgoT().TempDir()
		mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: cli.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}})
		Expect(err).NotTo(HaveOccurred())
		ready := make(chan struct{})
		Expect(controllers.AddCertRotator(mgr, controllers.CertRotation{
			Namespace: ns, SecretName: secret.Name, ServiceName: "chatflow-webhook-service",
			WebhookConfiguration: vwc.Name, CertDir: certDir,
		}, ready)).To(Succeed())
		mctx, stop := context.WithCancel(ctx)
		DeferCleanup(run(mctx, stop, mgr))

		By("the Secret gets a CA and a serving certificate for the webhook Service")
		Eventually(func() map[string][]byte { return get(secret).Data }).Should(And(
			HaveKey("ca.crt"), HaveKey("tls.crt"), HaveKey("tls.key")))
		block, _ := pem.Decode(secret.Data["tls.crt"])
		Expect(block).NotTo(BeNil())
		cert, err := x509.ParseCertificate(block.Bytes)
		Expect(err).NotTo(HaveOccurred())
		Expect(cert.DNSNames).To(ContainElement("chatflow-webhook-service." + ns + ".svc"))
		roots := x509.NewCertPool()
		Expect(roots.AppendCertsFromPEM(secret.Data["ca.crt"])).To(BeTrue())
		_, err = cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "chatflow-webhook-service." + ns + ".svc"})
		Expect(err).NotTo(HaveOccurred())

		By("the kubelet mounts the Secret; the CA is injected and the rotator says ready")
		for _, k := range []string{"tls.crt", "tls.key"} {
			Expect(os.WriteFile(filepath.Join(certDir, k), secret.Data[k], 0o600)).To(Succeed())
		}
		Eventually(ready).Should(BeClosed())
		Expect(get(vwc).Webhooks[0].ClientConfig.CABundle).To(Equal(secret.Data["ca.crt"]))
	})
})
