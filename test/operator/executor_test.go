package operator

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
)

var _ = Describe("A published flow", func() {
	It("becomes executor objects with the expected pod spec, and is Ready once the executor is available", func() {
		ns := newNamespace()
		f := flow("order-status", ns, v1alpha1.StatePublished)
		f.Spec.Nodes[1].Next = "lookup"
		f.Spec.Nodes = append(f.Spec.Nodes, v1alpha1.Node{
			ID: "lookup", Type: v1alpha1.NodeHTTPRequest, Next: "end",
			HTTPRequest: &v1alpha1.HTTPRequestNode{URL: "https://orders.example.com/v1/orders", Headers: []v1alpha1.HTTPHeader{{
				Name: "Authorization", ValueFrom: &v1alpha1.HeaderSource{SecretKeyRef: v1alpha1.SecretKeySelector{Name: "orders-api", Key: "token"}},
			}}},
		})
		f.Spec.Executor = &v1alpha1.ExecutorSpec{Replicas: ptr.To[int32](2), Template: &v1alpha1.ExecutorPodTemplate{
			Metadata: v1alpha1.ExecutorPodMetadata{Labels: map[string]string{"team": "shop"}, Annotations: map[string]string{"owner": "shop-team"}},
			Spec: v1alpha1.ExecutorPodSpec{
				Resources:    &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}},
				Env:          []corev1.EnvVar{{Name: "TZ", Value: "Europe/Paris"}},
				NodeSelector: map[string]string{"pool": "chat"},
			},
		}}
		b := binding("shop-whatsapp", ns, "order-status", "106540352242922")
		create(credentials(b.Name, ns), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "orders-api", Namespace: ns}, StringData: map[string]string{"token": "t"},
		})
		create(f)
		Expect(kstatusOf(f)).To(Equal(status.InProgressStatus), "a new flow is not Current before the operator saw it")
		create(b)

		By("the binding is ready and says where the webhook goes")
		Eventually(condition(b, v1alpha1.ConditionReady)).Should(Equal("True/Succeeded"))
		Expect(get(b).Status.WebhookPath).To(Equal("/webhooks/whatsapp"))
		Expect(kstatusOf(b)).To(Equal(status.CurrentStatus))

		By("the ConfigMap, Deployment and Service are created")
		d, svc := executorDeployment(f), executorService(f)
		Eventually(gone(d)).Should(BeFalse())
		Eventually(gone(svc)).Should(BeFalse())
		rev := revisionOf(f)
		Expect(d.Spec.Template.Labels).To(HaveKeyWithValue(builders.LabelRevision, rev))
		cmName := templateConfigMap(d)
		Expect(cmName).To(HavePrefix("order-status-" + rev + "-"))
		cm := get(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: cmName, Namespace: ns}})
		Expect(*cm.Immutable).To(BeTrue())
		Expect(metav1.IsControlledBy(cm, get(f))).To(BeTrue())
		var flowDoc v1alpha1.ChatFlow
		Expect(yaml.UnmarshalStrict([]byte(cm.Data["flow.yaml"]), &flowDoc)).To(Succeed())
		Expect(flowDoc.Name).To(Equal("order-status"))
		Expect(flowDoc.Spec.Nodes).To(HaveLen(4))
		Expect(cm.Data["flow.yaml"]).NotTo(ContainSubstring("managedFields"))
		Expect(cm.Data["flow.yaml"]).NotTo(ContainSubstring("\nstatus:"))
		Expect(cm.Data["binding.yaml"]).To(ContainSubstring("106540352242922"))

		By("the pod spec: restricted security, probes, args, volumes, resources, overrides merged")
		Expect(metav1.IsControlledBy(d, f)).To(BeTrue())
		Expect(*d.Spec.Replicas).To(Equal(int32(2)))
		Expect(d.Spec.Strategy.RollingUpdate.MaxUnavailable).To(Equal(ptr.To(intstr.FromInt32(0))))
		tmpl := d.Spec.Template
		Expect(tmpl.Labels).To(HaveKeyWithValue("team", "shop"))
		Expect(tmpl.Annotations).To(HaveKeyWithValue("owner", "shop-team"))
		Expect(tmpl.Annotations).To(HaveKey(builders.AnnotationSecretsVersion))
		pod := tmpl.Spec
		Expect(pod.NodeSelector).To(Equal(map[string]string{"pool": "chat"}))
		Expect(*pod.AutomountServiceAccountToken).To(BeFalse())
		Expect(*pod.SecurityContext.RunAsNonRoot).To(BeTrue())
		Expect(pod.SecurityContext.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
		c := pod.Containers[0]
		Expect(c.Image).To(Equal("registry.test/chatflow:test"))
		Expect(c.Command).To(Equal([]string{"/chatflow-executor"}))
		Expect(c.Args).To(Equal([]string{
			"--flow", "/etc/chatflow/revision/flow.yaml",
			"--binding", "/etc/chatflow/revision/binding.yaml", "--credentials", "/etc/chatflow/credentials",
			"--secrets", "/etc/chatflow/secrets", "--keys", "/etc/chatflow/keys",
			"--store", "redis://redis.chatflow:6379/0", "--listen", ":8080", "--shutdown-delay", "5s",
			"--allow-private-networks", "10.0.0.0/8",
		}))
		Expect(*c.SecurityContext.RunAsNonRoot).To(BeTrue())
		Expect(*c.SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
		Expect(*c.SecurityContext.AllowPrivilegeEscalation).To(BeFalse())
		Expect(c.SecurityContext.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
		Expect(c.SecurityContext.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
		Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
		Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
		Expect(c.Resources.Limits.Memory().String()).To(Equal("512Mi"))
		Expect(c.Env).To(ContainElement(corev1.EnvVar{Name: "TZ", Value: "Europe/Paris"}))
		Expect(c.VolumeMounts).To(ContainElements(
			corev1.VolumeMount{Name: "revision", MountPath: "/etc/chatflow/revision", ReadOnly: true},
			corev1.VolumeMount{Name: "credentials", MountPath: "/etc/chatflow/credentials", ReadOnly: true},
			HaveField("MountPath", "/etc/chatflow/secrets/orders-api"),
			corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"},
		))
		Expect(pod.Volumes).To(ContainElements(
			HaveField("VolumeSource.Secret.SecretName", "shop-whatsapp-credentials"),
			HaveField("VolumeSource.Secret.SecretName", "orders-api"),
			HaveField("VolumeSource.EmptyDir", Not(BeNil())),
		))
		Expect(svc.Spec.Selector).To(Equal(d.Spec.Selector.MatchLabels))
		Expect(svc.Spec.Ports[0].TargetPort).To(Equal(intstr.FromString("http")))

		By("not Ready while the executor is not available: Reconciling, kstatus InProgress")
		Eventually(condition(f, v1alpha1.ConditionReconciling)).Should(Equal("True/DeploymentProgressing"))
		Expect(condition(f, v1alpha1.ConditionReady)()).To(Equal("False/DeploymentProgressing"))
		Expect(condition(f, v1alpha1.ConditionExecutorAvailable)()).To(Equal("False/DeploymentProgressing"))
		Expect(condition(f, v1alpha1.ConditionValid)()).To(Equal("True/Succeeded"))
		Expect(condition(f, v1alpha1.ConditionBound)()).To(Equal("True/Succeeded"))
		Expect(kstatusOf(f)).To(Equal(status.InProgressStatus))
		Expect(kstatusOf(d)).To(Equal(status.InProgressStatus))
		Expect(get(f).Status.State).To(Equal(v1alpha1.StatePublished))
		Expect(f.Status.Revision).To(BeEmpty(), "no revision is live before its rollout completes")

		By("the executor becomes available: Ready, kstatus Current")
		rollOut(d)
		Eventually(condition(f, v1alpha1.ConditionReady)).Should(Equal("True/Succeeded"))
		Expect(condition(f, v1alpha1.ConditionExecutorAvailable)()).To(Equal("True/DeploymentAvailable"))
		Expect(condition(f, v1alpha1.ConditionReconciling)()).To(BeEmpty())
		Expect(condition(f, v1alpha1.ConditionStalled)()).To(BeEmpty())
		Expect(kstatusOf(f)).To(Equal(status.CurrentStatus))
		Expect(kstatusOf(get(d))).To(Equal(status.CurrentStatus))
		Expect(kstatusOf(get(svc))).To(Equal(status.CurrentStatus))
		Expect(f.Status.ObservedGeneration).To(Equal(f.Generation))
		Expect(f.Status.Revision).To(Equal(rev))
		Expect(f.Status.Bindings).To(Equal(int32(1)))
		Expect(f.Status.Executor).To(Equal(&v1alpha1.ExecutorStatus{
			Deployment: "order-status-executor", Service: "order-status-executor", ConfigMap: cmName,
			Replicas: 2, ReadyReplicas: 2, UpdatedReplicas: 2,
		}))
		Eventually(events(f)).Should(ContainElements("ExecutorApplied", "RevisionLive"))
		Eventually(events(b)).Should(ContainElement("Bound"))
	})

	It("rolls out an edited graph as a new revision and removes the old ConfigMap once no ReplicaSet uses it", func() {
		f, _ := publishedAndLive("faq", newNamespace())
		d := executorDeployment(f)
		oldRev, oldCM := get(f).Status.Revision, templateConfigMap(get(d))

		Expect(update(f, func(f *v1alpha1.ChatFlow) { f.Spec.Nodes[1].SendMessage.Text = "Hi there" })).To(Succeed())
		newRev := revisionOf(f)
		Expect(newRev).NotTo(Equal(oldRev))

		By("the Deployment's template moves to a new ConfigMap")
		Eventually(func() string { return get(d).Spec.Template.Labels[builders.LabelRevision] }).Should(Equal(newRev))
		newCM := templateConfigMap(d)
		Expect(newCM).To(HavePrefix("faq-" + newRev + "-"))
		Expect(configMaps(f)()).To(ConsistOf(oldCM, newCM))

		By("during the rollout the old revision stays live and available")
		rollingOut(d)
		Eventually(condition(f, v1alpha1.ConditionExecutorAvailable)).Should(Equal("True/DeploymentAvailable"))
		Expect(condition(f, v1alpha1.ConditionReconciling)()).To(Equal("True/DeploymentProgressing"))
		Expect(conditionMessage(f, v1alpha1.ConditionReady)).To(Equal("rolling out revision " + newRev + ": 1 of 1 pods updated, 1 available"))
		Expect(get(f).Status.Revision).To(Equal(oldRev))
		Expect(kstatusOf(f)).To(Equal(status.InProgressStatus))
		Expect(configMaps(f)()).To(ContainElement(oldCM), "the old pods still mount it")

		By("once the old ReplicaSet has no pods, its ConfigMap goes")
		rollOut(d)
		Eventually(configMaps(f)).Should(ConsistOf(newCM))
		Eventually(condition(f, v1alpha1.ConditionReady)).Should(Equal("True/Succeeded"))
		Expect(get(f).Status.Revision).To(Equal(newRev))
		Expect(f.Status.Executor.ConfigMap).To(Equal(newCM))
		Expect(kstatusOf(f)).To(Equal(status.CurrentStatus))
	})

	It("keeps the last good revision live when a new graph is invalid, and never rolls out an invalid one", func() {
		ns := newNamespace()
		f, _ := publishedAndLive("orders", ns)
		d := executorDeployment(f)
		goodRev, goodCM := get(f).Status.Revision, templateConfigMap(get(d))
		never := flow("never", ns, v1alpha1.StatePublished)
		never.Spec.Nodes[1].Next = "nowhere"
		nb := binding("never-whatsapp", ns, "never", "acct-never")
		create(credentials(nb.Name, ns), nb)

		// The webhook refuses invalid graphs; they reach the cluster when it
		// was bypassed or when newer rules find an old graph invalid.
		withoutWebhooks(func() {
			Eventually(func() error { return k8s.Create(ctx, never.DeepCopy()) }).Should(Succeed())
			Eventually(func() error {
				return update(f, func(f *v1alpha1.ChatFlow) { f.Spec.Nodes[1].Next = "nowhere" })
			}).Should(Succeed())
		})

		By("the published flow: Valid False with the errors, Stalled, the old revision serving")
		Eventually(condition(f, v1alpha1.ConditionReady)).Should(Equal("False/LastGoodRevisionLive"))
		Expect(condition(f, v1alpha1.ConditionValid)()).To(Equal("False/InvalidGraph"))
		Expect(condition(f, v1alpha1.ConditionStalled)()).To(Equal("True/InvalidGraph"))
		Expect(condition(f, v1alpha1.ConditionExecutorAvailable)()).To(Equal("True/DeploymentAvailable"))
		Expect(conditionMessage(f, v1alpha1.ConditionValid)).To(ContainSubstring("spec.nodes[1].next"))
		Expect(conditionMessage(f, v1alpha1.ConditionReady)).To(ContainSubstring(fmt.Sprintf("revision %s stays live", goodRev)))
		Expect(f.Status.Revision).To(Equal(goodRev))
		Expect(f.Status.ObservedGeneration).To(Equal(f.Generation))
		Expect(kstatusOf(f)).To(Equal(status.FailedStatus))
		Expect(templateConfigMap(get(d))).To(Equal(goodCM), "the Deployment is not touched")
		Eventually(events(f)).Should(ContainElement("InvalidGraph"))

		By("a flow published with an invalid graph gets no executor")
		n := &v1alpha1.ChatFlow{ObjectMeta: metav1.ObjectMeta{Name: "never", Namespace: ns}}
		Eventually(condition(n, v1alpha1.ConditionStalled)).Should(Equal("True/InvalidGraph"))
		Expect(condition(n, v1alpha1.ConditionReady)()).To(Equal("False/InvalidGraph"))
		Expect(kstatusOf(n)).To(Equal(status.FailedStatus))
		Expect(gone(executorDeployment(n))()).To(BeTrue())
		Expect(configMaps(n)()).To(BeEmpty())

		By("fixing the graph rolls out again")
		Expect(update(f, func(f *v1alpha1.ChatFlow) { f.Spec.Nodes[1].Next = "end" })).To(Succeed())
		Eventually(condition(f, v1alpha1.ConditionValid)).Should(Equal("True/Succeeded"))
		Expect(condition(f, v1alpha1.ConditionStalled)()).To(BeEmpty())
	})

	It("restarts the executor when a credentials Secret changes", func() {
		ns := newNamespace()
		f, b := publishedAndLive("rotate", ns)
		d := executorDeployment(f)
		before := get(d).Spec.Template.Annotations[builders.AnnotationSecretsVersion]
		Expect(before).NotTo(BeEmpty())
		cm := templateConfigMap(d)

		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: b.Spec.CredentialsRef.Name, Namespace: ns}}
		Expect(update(s, func(s *corev1.Secret) { s.Data["accessToken"] = []byte("rotated") })).To(Succeed())
		Eventually(func() string { return get(d).Spec.Template.Annotations[builders.AnnotationSecretsVersion] }).
			ShouldNot(Equal(before), "a new pod template rolls the pods")
		Expect(templateConfigMap(d)).To(Equal(cm), "same revision, same ConfigMap")
		Eventually(condition(f, v1alpha1.ConditionReady)).Should(Equal("False/DeploymentProgressing"))
		rollOut(d)
		Eventually(condition(f, v1alpha1.ConditionReady)).Should(Equal("True/Succeeded"))
	})

	It("runs a Manual flow without a binding, with the run credentials it names", func() {
		ns := newNamespace()
		f := flow("campaign", ns, v1alpha1.StatePublished)
		f.Spec.Trigger = v1alpha1.Trigger{Type: v1alpha1.TriggerManual, Inputs: []v1alpha1.TriggerInput{{Name: "orderId", Required: true}},
			CredentialsRef: &v1alpha1.SecretReference{Name: "campaign-runs"}}
		create(f)

		By("without its Secret it is stalled and no executor runs")
		Eventually(condition(f, v1alpha1.ConditionStalled)).Should(Equal("True/SecretNotFound"))
		Expect(conditionMessage(f, v1alpha1.ConditionStalled)).To(ContainSubstring("campaign-runs"))
		d := executorDeployment(f)
		Consistently(gone(d), "500ms").Should(BeTrue())

		By("with it, the executor mounts it as its credentials")
		create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "campaign-runs", Namespace: ns},
			Data: map[string][]byte{"runToken": []byte("t")}})
		Eventually(gone(d)).Should(BeFalse())
		args := d.Spec.Template.Spec.Containers[0].Args
		Expect(args).NotTo(ContainElement("--binding"))
		Expect(args).To(ContainElement("--credentials"))
		Expect(d.Spec.Template.Spec.Volumes).To(ContainElement(HaveField("VolumeSource.Secret.SecretName", "campaign-runs")))
		// The status is patched after the Deployment is applied: wait for it.
		Eventually(condition(f, v1alpha1.ConditionBound)).Should(Equal("True/NotNeeded"))
		rollOut(d)
		Eventually(condition(f, v1alpha1.ConditionReady)).Should(Equal("True/Succeeded"))
	})

	It("does not call a Manual flow Ready when every run would be refused", func() {
		ns := newNamespace()
		f := flow("refusing", ns, v1alpha1.StatePublished)
		f.Spec.Trigger = v1alpha1.Trigger{Type: v1alpha1.TriggerManual}
		create(f)
		Eventually(condition(f, v1alpha1.ConditionReady)).Should(Equal("False/CredentialsMissing"))
		Expect(condition(f, v1alpha1.ConditionBound)()).To(Equal("False/CredentialsMissing"))
		Expect(conditionMessage(f, v1alpha1.ConditionBound)).To(ContainSubstring("spec.trigger.credentialsRef"))
		Expect(kstatusOf(f)).To(Equal(status.FailedStatus))
		Consistently(gone(executorDeployment(f)), "500ms").Should(BeTrue())
	})

	It("removes the executor when unpublished, and leaves nothing behind when deleted", func() {
		ns := newNamespace()
		f, b := publishedAndLive("seasonal", ns)
		d, svc := executorDeployment(f), executorService(f)
		cms := configMaps(f)()
		Expect(cms).To(HaveLen(1))

		Expect(update(f, func(f *v1alpha1.ChatFlow) { f.Spec.State = v1alpha1.StateUnpublished })).To(Succeed())
		Eventually(gone(d)).Should(BeTrue())
		Eventually(gone(svc)).Should(BeTrue())
		Eventually(condition(f, v1alpha1.ConditionReady)).Should(Equal("True/Unpublished"))
		Expect(condition(f, v1alpha1.ConditionExecutorAvailable)()).To(Equal("False/Unpublished"))
		Expect(get(f).Status.State).To(Equal(v1alpha1.StateUnpublished))
		Expect(f.Status.Revision).To(BeEmpty())
		Expect(f.Status.Executor).To(BeNil())
		Expect(kstatusOf(f)).To(Equal(status.CurrentStatus))
		Eventually(events(f)).Should(ContainElement("ExecutorRemoved"))

		By("the ConfigMap goes when the garbage collector has removed the ReplicaSet and its pods")
		Expect(configMaps(f)()).To(Equal(cms), "pods of the deleted Deployment may still run")
		Expect(k8s.DeleteAllOf(ctx, &appsv1.ReplicaSet{}, client.InNamespace(ns))).To(Succeed())
		Eventually(configMaps(f)).Should(BeEmpty())

		By("sessions and the binding's Secret are not touched; the binding stays bound")
		Expect(get(b)).NotTo(BeNil())
		Expect(condition(b, v1alpha1.ConditionReady)()).To(Equal("True/Succeeded"))

		By("deleting the binding and the flow leaves nothing behind")
		Expect(k8s.Delete(ctx, b)).To(Succeed())
		Expect(k8s.Delete(ctx, f)).To(Succeed())
		Eventually(gone(f)).Should(BeTrue(), "no finalizer holds the flow")
		Expect(configMaps(f)()).To(BeEmpty())
		Expect(gone(d)()).To(BeTrue())
		Expect(gone(svc)()).To(BeTrue())
	})
})

// withoutWebhooks runs fn with the validating webhook configuration
// removed, then puts it back and waits until it is enforced again.
func withoutWebhooks(fn func()) {
	vwc := webhookConfiguration()
	saved := vwc.DeepCopy()
	saved.ObjectMeta = metav1.ObjectMeta{Name: vwc.Name, Labels: vwc.Labels, Annotations: vwc.Annotations}
	Expect(k8s.Delete(ctx, vwc)).To(Succeed())
	defer func() {
		Expect(k8s.Create(ctx, saved)).To(Succeed())
		waitForAdmission()
	}()
	fn()
}
