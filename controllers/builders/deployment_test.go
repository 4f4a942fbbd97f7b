package builders

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/internal/testutil"
)

func input(f *v1alpha1.ChatFlow, b *v1alpha1.ChannelBinding) ExecutorInput {
	return ExecutorInput{
		Flow: f, Binding: b, Revision: "5f1c2a9e01", ConfigMap: "order-status-5f1c2a9e01-abcdef",
		HeaderSecrets: nil, SecretsVersion: "v1", Config: DefaultConfig(),
	}
}

func executor(d *appsv1.Deployment) corev1.Container {
	return d.Spec.Template.Spec.Containers[0]
}

func TestDeployment_defaults(t *testing.T) {
	g := NewWithT(t)
	f := testutil.Flow("order-status", v1alpha1.StatePublished)
	d := Deployment(input(f, testutil.Binding("shop-whatsapp", "order-status")))

	g.Expect(d.Name).To(Equal("order-status-executor"))
	g.Expect(d.Namespace).To(Equal(testutil.Namespace))
	g.Expect(metav1.IsControlledBy(d, f)).To(BeTrue())
	g.Expect(d.Labels).To(Equal(Labels("order-status")))
	g.Expect(d.Spec.Selector.MatchLabels).To(Equal(SelectorLabels("order-status")))
	g.Expect(*d.Spec.Replicas).To(Equal(int32(1)))
	// No downtime: a new pod comes up before an old one goes.
	g.Expect(d.Spec.Strategy.RollingUpdate.MaxUnavailable).To(Equal(ptr.To(intstr.FromInt32(0))))
	g.Expect(d.Spec.Strategy.RollingUpdate.MaxSurge).To(Equal(ptr.To(intstr.FromInt32(1))))

	tmpl := d.Spec.Template
	for k, v := range d.Spec.Selector.MatchLabels {
		g.Expect(tmpl.Labels).To(HaveKeyWithValue(k, v))
	}
	g.Expect(tmpl.Labels).To(HaveKeyWithValue(LabelRevision, "5f1c2a9e01"))
	g.Expect(tmpl.Labels).To(HaveKeyWithValue(LabelManagedBy, ManagedBy))
	g.Expect(tmpl.Annotations).To(HaveKeyWithValue(AnnotationSecretsVersion, "v1"))

	pod := tmpl.Spec
	g.Expect(*pod.AutomountServiceAccountToken).To(BeFalse())
	g.Expect(*pod.SecurityContext.RunAsNonRoot).To(BeTrue())
	g.Expect(pod.SecurityContext.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
	g.Expect(*pod.TerminationGracePeriodSeconds).To(Equal(int64(30)))

	c := executor(d)
	g.Expect(c.Image).To(Equal(DefaultImage))
	g.Expect(c.Command).To(Equal([]string{"/chatflow-executor"}))
	g.Expect(c.Args).To(Equal([]string{
		"--flow", "/etc/chatflow/revision/flow.yaml",
		"--binding", "/etc/chatflow/revision/binding.yaml",
		"--credentials", "/etc/chatflow/credentials",
		"--keys", "/etc/chatflow/keys",
		"--store", "memory",
		"--listen", ":8080",
		"--shutdown-delay", "5s",
	}))
	sc := c.SecurityContext
	g.Expect(*sc.RunAsNonRoot).To(BeTrue())
	g.Expect(*sc.ReadOnlyRootFilesystem).To(BeTrue())
	g.Expect(*sc.AllowPrivilegeEscalation).To(BeFalse())
	g.Expect(sc.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
	g.Expect(sc.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
	g.Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
	g.Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
	g.Expect(c.StartupProbe.HTTPGet.Path).To(Equal("/healthz"))
	g.Expect(c.ReadinessProbe.HTTPGet.Port).To(Equal(intstr.FromString(PortName)))
	g.Expect(c.Ports).To(ConsistOf(corev1.ContainerPort{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}))
	g.Expect(c.Resources).To(Equal(DefaultConfig().Resources))

	g.Expect(pod.Volumes).To(ConsistOf(
		corev1.Volume{Name: "revision", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "order-status-5f1c2a9e01-abcdef"}}}},
		corev1.Volume{Name: "credentials", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: "shop-whatsapp-credentials"}}},
		corev1.Volume{Name: "keys", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: "order-status-executor-keys"}}},
		corev1.Volume{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	))
	g.Expect(c.VolumeMounts).To(ConsistOf(
		corev1.VolumeMount{Name: "revision", MountPath: "/etc/chatflow/revision", ReadOnly: true},
		corev1.VolumeMount{Name: "credentials", MountPath: "/etc/chatflow/credentials", ReadOnly: true},
		corev1.VolumeMount{Name: "keys", MountPath: "/etc/chatflow/keys", ReadOnly: true},
		corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"},
	))
}

func TestDeployment_variants(t *testing.T) {
	redis := DefaultConfig()
	redis.Store = "redis://redis.shop:6379/0"
	tests := []struct {
		name  string
		in    func() ExecutorInput
		check func(g Gomega, d *appsv1.Deployment)
	}{
		{
			name: "an unbound Manual flow mounts no credentials",
			in: func() ExecutorInput {
				f := testutil.Flow("campaign", v1alpha1.StatePublished)
				f.Spec.Trigger.Type = v1alpha1.TriggerManual
				return input(f, nil)
			},
			check: func(g Gomega, d *appsv1.Deployment) {
				g.Expect(executor(d).Args).NotTo(ContainElement("--binding"))
				g.Expect(executor(d).Args).NotTo(ContainElement("--credentials"))
				g.Expect(d.Spec.Template.Spec.Volumes).NotTo(ContainElement(HaveField("Name", "credentials")))
			},
		},
		{
			name: "an unbound Manual flow mounts its run credentials",
			in: func() ExecutorInput {
				f := testutil.Flow("campaign", v1alpha1.StatePublished)
				f.Spec.Trigger.Type = v1alpha1.TriggerManual
				f.Spec.Trigger.CredentialsRef = &v1alpha1.SecretReference{Name: "campaign-runs"}
				return input(f, nil)
			},
			check: func(g Gomega, d *appsv1.Deployment) {
				g.Expect(executor(d).Args).NotTo(ContainElement("--binding"))
				g.Expect(executor(d).Args).To(ContainElements("--credentials", "/etc/chatflow/credentials"))
				g.Expect(d.Spec.Template.Spec.Volumes).To(ContainElement(And(HaveField("Name", "credentials"),
					HaveField("VolumeSource.Secret.SecretName", "campaign-runs"))))
				g.Expect(executor(d).VolumeMounts).To(ContainElement(HaveField("MountPath", "/etc/chatflow/credentials")))
			},
		},
		{
			name: "a bound Manual flow mounts the binding's credentials, not its own",
			in: func() ExecutorInput {
				f := testutil.Flow("campaign", v1alpha1.StatePublished)
				f.Spec.Trigger.Type = v1alpha1.TriggerManual
				f.Spec.Trigger.CredentialsRef = &v1alpha1.SecretReference{Name: "campaign-runs"}
				return input(f, testutil.Binding("shop-whatsapp", "campaign"))
			},
			check: func(g Gomega, d *appsv1.Deployment) {
				g.Expect(d.Spec.Template.Spec.Volumes).To(ContainElement(And(HaveField("Name", "credentials"),
					HaveField("VolumeSource.Secret.SecretName", Not(Equal("campaign-runs"))))))
			},
		},
		{
			name: "the binding's send rate is the executor's",
			in: func() ExecutorInput {
				b := testutil.Binding("shop-whatsapp", "order-status")
				b.Spec.SendRate = 1000
				return input(testutil.Flow("order-status", v1alpha1.StatePublished), b)
			},
			check: func(g Gomega, d *appsv1.Deployment) {
				g.Expect(executor(d).Args).To(ContainElements("--send-rate", "1000"))
			},
		},
		{
			name: "each Secret an HTTPRequest header reads is mounted under /etc/chatflow/secrets",
			in: func() ExecutorInput {
				in := input(testutil.Flow("order-status", v1alpha1.StatePublished), nil)
				in.HeaderSecrets = []string{"orders-api", "crm.token"}
				return in
			},
			check: func(g Gomega, d *appsv1.Deployment) {
				c := executor(d)
				g.Expect(c.Args).To(ContainElements("--secrets", "/etc/chatflow/secrets"))
				g.Expect(c.VolumeMounts).To(ContainElements(
					HaveField("MountPath", "/etc/chatflow/secrets/orders-api"),
					HaveField("MountPath", "/etc/chatflow/secrets/crm.token"),
				))
				g.Expect(d.Spec.Template.Spec.Volumes).To(ContainElements(
					HaveField("VolumeSource.Secret.SecretName", "orders-api"),
					HaveField("VolumeSource.Secret.SecretName", "crm.token"),
				))
			},
		},
		{
			name: "the manager's store, image and private networks",
			in: func() ExecutorInput {
				in := input(testutil.Flow("order-status", v1alpha1.StatePublished), nil)
				in.Config = redis
				in.Config.Image = "registry.local/chatflow:v1"
				in.Config.ImagePullPolicy = corev1.PullAlways
				in.Config.AllowPrivateNetworks = []string{"10.0.0.0/8", "192.168.0.0/16"}
				in.Config.RunAsUser = ptr.To[int64](65532)
				return in
			},
			check: func(g Gomega, d *appsv1.Deployment) {
				c := executor(d)
				g.Expect(c.Image).To(Equal("registry.local/chatflow:v1"))
				g.Expect(c.ImagePullPolicy).To(Equal(corev1.PullAlways))
				g.Expect(c.Args).To(ContainElements("--store", "redis://redis.shop:6379/0"))
				g.Expect(c.Args).To(ContainElements("--allow-private-networks", "10.0.0.0/8,192.168.0.0/16"))
				g.Expect(*c.SecurityContext.RunAsUser).To(Equal(int64(65532)))
			},
		},
		{
			name: "replicas of the flow with a Redis store",
			in: func() ExecutorInput {
				in := input(testutil.Replicas(testutil.Flow("order-status", v1alpha1.StatePublished), 3), nil)
				in.Config = redis
				return in
			},
			check: func(g Gomega, d *appsv1.Deployment) { g.Expect(*d.Spec.Replicas).To(Equal(int32(3))) },
		},
		{
			name: "the memory store runs one replica whatever the flow asks",
			in: func() ExecutorInput {
				return input(testutil.Replicas(testutil.Flow("order-status", v1alpha1.StatePublished), 3), nil)
			},
			check: func(g Gomega, d *appsv1.Deployment) { g.Expect(*d.Spec.Replicas).To(Equal(int32(1))) },
		},
		{
			name: "zero replicas is honoured",
			in: func() ExecutorInput {
				return input(testutil.Replicas(testutil.Flow("order-status", v1alpha1.StatePublished), 0), nil)
			},
			check: func(g Gomega, d *appsv1.Deployment) { g.Expect(*d.Spec.Replicas).To(Equal(int32(0))) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(NewWithT(t), Deployment(tt.in()))
		})
	}
}

func TestDeployment_templateOverrides(t *testing.T) {
	g := NewWithT(t)
	cfg := DefaultConfig()
	cfg.Template = v1alpha1.ExecutorPodTemplate{
		Metadata: v1alpha1.ExecutorPodMetadata{
			Labels:      map[string]string{"team": "platform", "tier": "chat"},
			Annotations: map[string]string{"prometheus.io/scrape": "true"},
		},
		Spec: v1alpha1.ExecutorPodSpec{
			NodeSelector:       map[string]string{"pool": "default"},
			Tolerations:        []corev1.Toleration{{Key: "default", Operator: corev1.TolerationOpExists}},
			ServiceAccountName: "chatflow-executor",
			PriorityClassName:  "chat",
			ImagePullSecrets:   []corev1.LocalObjectReference{{Name: "registry"}},
			Env:                []corev1.EnvVar{{Name: "TZ", Value: "UTC"}, {Name: "GOMAXPROCS", Value: "2"}},
		},
	}
	f := testutil.Flow("order-status", v1alpha1.StatePublished)
	f.Spec.Executor = &v1alpha1.ExecutorSpec{Template: &v1alpha1.ExecutorPodTemplate{
		Metadata: v1alpha1.ExecutorPodMetadata{
			Labels: map[string]string{
				"team":         "shop",
				LabelManagedBy: "me", // the operator's labels win
				LabelFlow:      "other",
			},
			Annotations: map[string]string{"owner": "shop-team"},
		},
		Spec: v1alpha1.ExecutorPodSpec{
			Resources: &corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
			},
			Env:                           []corev1.EnvVar{{Name: "TZ", Value: "Europe/Paris"}},
			NodeSelector:                  map[string]string{"pool": "chat"},
			Affinity:                      &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}},
			TerminationGracePeriodSeconds: ptr.To[int64](60),
		},
	}}
	in := input(f, nil)
	in.Config = cfg
	d := Deployment(in)
	tmpl := d.Spec.Template

	g.Expect(tmpl.Labels).To(HaveKeyWithValue("team", "shop"), "the flow wins over the defaults")
	g.Expect(tmpl.Labels).To(HaveKeyWithValue("tier", "chat"), "defaults stay")
	g.Expect(tmpl.Labels).To(HaveKeyWithValue(LabelManagedBy, ManagedBy), "the operator wins")
	g.Expect(tmpl.Labels).To(HaveKeyWithValue(LabelFlow, "order-status"), "the selector cannot be broken")
	g.Expect(tmpl.Annotations).To(HaveKeyWithValue("prometheus.io/scrape", "true"))
	g.Expect(tmpl.Annotations).To(HaveKeyWithValue("owner", "shop-team"))

	pod := tmpl.Spec
	g.Expect(pod.NodeSelector).To(Equal(map[string]string{"pool": "chat"}), "a set field replaces the default")
	g.Expect(pod.Tolerations).To(Equal(cfg.Template.Spec.Tolerations), "an unset field keeps the default")
	g.Expect(pod.Affinity).To(Equal(&corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}}))
	g.Expect(pod.ServiceAccountName).To(Equal("chatflow-executor"))
	g.Expect(pod.PriorityClassName).To(Equal("chat"))
	g.Expect(pod.ImagePullSecrets).To(Equal([]corev1.LocalObjectReference{{Name: "registry"}}))
	g.Expect(*pod.TerminationGracePeriodSeconds).To(Equal(int64(60)))
	g.Expect(*pod.AutomountServiceAccountToken).To(BeFalse())

	c := executor(d)
	g.Expect(c.Resources).To(Equal(*f.Spec.Executor.Template.Spec.Resources))
	g.Expect(c.Env).To(ConsistOf(
		corev1.EnvVar{Name: "GOMAXPROCS", Value: "2"},
		corev1.EnvVar{Name: "TZ", Value: "Europe/Paris"},
	), "env merged by name, the flow wins")
	g.Expect(*c.SecurityContext.ReadOnlyRootFilesystem).To(BeTrue(), "overrides never weaken security")

	// The built object shares no memory with its inputs.
	pod.NodeSelector["pool"] = "changed"
	c.Env[0].Value = "changed"
	g.Expect(f.Spec.Executor.Template.Spec.NodeSelector).To(HaveKeyWithValue("pool", "chat"))
	g.Expect(cfg.Template.Spec.Env[1].Value).To(Equal("2"))
}

func TestDeployment_stable(t *testing.T) {
	f := testutil.Flow("order-status", v1alpha1.StatePublished)
	in := input(f, testutil.Binding("b", "order-status"))
	in.HeaderSecrets = []string{"b-secret", "a-secret"}
	a, b := Deployment(in), Deployment(in)
	NewWithT(t).Expect(a).To(Equal(b))
}
