package builders

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// ExecutorInput is everything the executor Deployment of a flow depends on.
type ExecutorInput struct {
	// Flow is the Published flow.
	Flow *v1alpha1.ChatFlow
	// Binding is the flow's binding; nil for an unbound Manual flow.
	Binding *v1alpha1.ChannelBinding
	// Revision is the flow revision rolled out.
	Revision string
	// ConfigMap is the name of the revision's ConfigMap.
	ConfigMap string
	// HeaderSecrets are the Secrets the flow's HTTPRequest headers read.
	HeaderSecrets []string
	// Models are the LanguageModels the flow's AI nodes use; their key
	// Secrets are mounted under ModelKeysDir, apart from the others.
	Models []v1alpha1.LanguageModel
	// SecretsVersion identifies the content of every mounted Secret; a new
	// value rolls the pods (see SecretsVersion).
	SecretsVersion string
	// Config holds the manager's executor defaults.
	Config Config
	// Subflows says the revision's ConfigMap holds the flows the flow
	// forwards to (SubflowsKey), which the executor then reads.
	Subflows bool
}

// Replicas is the number of executor pods of a flow: the flow's own
// setting, else the manager's default. The memory store keeps sessions in
// one process, so with it a flow runs one pod whatever it asks for; capped
// says that happened.
func Replicas(f *v1alpha1.ChatFlow, c Config) (replicas int32, capped bool) {
	replicas = c.Replicas
	if f.Spec.Executor != nil && f.Spec.Executor.Replicas != nil {
		replicas = *f.Spec.Executor.Replicas
	}
	if replicas > 1 && !c.MultiReplica() {
		return 1, true
	}
	return replicas, false
}

// Deployment builds the executor Deployment of a flow. The pod runs the
// image's /chatflow-executor on the revision's ConfigMap with the
// restricted security profile, probes on /healthz and /readyz, the
// manager's defaults and the flow's template merged over them. Rolling
// updates surge one pod and never take one away first, so a new revision
// rolls out without downtime.
func Deployment(in ExecutorInput) *appsv1.Deployment {
	in.Config = in.Config.WithStorePassword("")
	f := in.Flow
	replicas, _ := Replicas(f, in.Config)
	name := ExecutorName(f.Name)
	return &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       f.Namespace,
			Labels:          Labels(f.Name),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(f, ChatFlowKind)},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: SelectorLabels(f.Name)},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       ptr.To(intstr.FromInt32(1)),
				},
			},
			RevisionHistoryLimit:    ptr.To[int32](3),
			ProgressDeadlineSeconds: ptr.To[int32](300),
			Template:                podTemplate(in),
		},
	}
}

func podTemplate(in ExecutorInput) corev1.PodTemplateSpec {
	f, c := in.Flow, in.Config
	var override v1alpha1.ExecutorPodTemplate
	if f.Spec.Executor != nil && f.Spec.Executor.Template != nil {
		override = *f.Spec.Executor.Template
	}
	defaults, own := c.Template.Spec, override.Spec

	labels := map[string]string{}
	maps.Copy(labels, c.Template.Metadata.Labels)
	maps.Copy(labels, override.Metadata.Labels)
	maps.Copy(labels, Labels(f.Name)) // the operator's labels win: the selector and the cache depend on them
	labels[LabelRevision] = in.Revision

	annotations := map[string]string{}
	maps.Copy(annotations, c.Template.Metadata.Annotations)
	maps.Copy(annotations, override.Metadata.Annotations)
	annotations["kubectl.kubernetes.io/default-container"] = ContainerName
	if in.SecretsVersion != "" {
		annotations[AnnotationSecretsVersion] = in.SecretsVersion
	}

	spec := corev1.PodSpec{
		ServiceAccountName:            first(own.ServiceAccountName, defaults.ServiceAccountName),
		AutomountServiceAccountToken:  ptr.To(false), // the executor never calls the Kubernetes API
		EnableServiceLinks:            ptr.To(false),
		NodeSelector:                  firstMap(own.NodeSelector, defaults.NodeSelector),
		Tolerations:                   firstSlice(own.Tolerations, defaults.Tolerations),
		Affinity:                      firstPtr(own.Affinity, defaults.Affinity),
		TopologySpreadConstraints:     firstSlice(own.TopologySpreadConstraints, defaults.TopologySpreadConstraints),
		PriorityClassName:             first(own.PriorityClassName, defaults.PriorityClassName),
		ImagePullSecrets:              firstSlice(own.ImagePullSecrets, defaults.ImagePullSecrets),
		TerminationGracePeriodSeconds: ptr.To(ptr.Deref(firstPtr(own.TerminationGracePeriodSeconds, defaults.TerminationGracePeriodSeconds), 30)),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			RunAsUser:      c.RunAsUser,
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{container(in, own, defaults)},
		Volumes:    volumes(in),
	}
	// Deep-copy what came from the inputs so the object shares no memory
	// with the flow or the configuration.
	spec = *spec.DeepCopy()
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
		Spec:       spec,
	}
}

func container(in ExecutorInput, own, defaults v1alpha1.ExecutorPodSpec) corev1.Container {
	c := in.Config
	resources := c.Resources
	if own.Resources != nil {
		resources = *own.Resources
	}
	return corev1.Container{
		Name:            ContainerName,
		Image:           c.Image,
		ImagePullPolicy: c.ImagePullPolicy,
		Command:         []string{ExecutorBinary},
		Args:            Args(in),
		Ports:           []corev1.ContainerPort{{Name: PortName, ContainerPort: Port, Protocol: corev1.ProtocolTCP}},
		Env:             mergeEnv(mergeEnv(defaults.Env, own.Env), storeEnv(in)),
		Resources:       resources,
		StartupProbe: &corev1.Probe{
			ProbeHandler:     httpGet("/healthz"),
			PeriodSeconds:    2,
			TimeoutSeconds:   2,
			SuccessThreshold: 1,
			FailureThreshold: 30,
		},
		LivenessProbe: &corev1.Probe{
			ProbeHandler:     httpGet("/healthz"),
			PeriodSeconds:    10,
			TimeoutSeconds:   2,
			SuccessThreshold: 1,
			FailureThreshold: 3,
		},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:     httpGet("/readyz"),
			PeriodSeconds:    5,
			TimeoutSeconds:   2,
			SuccessThreshold: 1,
			FailureThreshold: 2,
		},
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                c.RunAsUser,
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		VolumeMounts:             volumeMounts(in),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

// CredentialsSecret is the Secret mounted as the executor's credentials:
// the binding's, or for a Manual flow without one its
// spec.trigger.credentialsRef ("" when neither).
func CredentialsSecret(f *v1alpha1.ChatFlow, b *v1alpha1.ChannelBinding) string {
	if b != nil {
		return b.Spec.CredentialsRef.Name
	}
	if r := f.Spec.Trigger.CredentialsRef; r != nil && f.Spec.Trigger.Type == v1alpha1.TriggerManual {
		return r.Name
	}
	return ""
}

// storeEnv hands the executor the session store's password from the flow's
// store Secret, when the store has one: an environment variable, which
// unlike an argument no other process of the node can read.
func storeEnv(in ExecutorInput) []corev1.EnvVar {
	if StoreSecret(in.Flow, in.Config) == nil {
		return nil
	}
	return []corev1.EnvVar{{Name: StorePasswordEnv, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: StoreSecretName(in.Flow.Name)}, Key: StorePasswordKey,
	}}}}
}

// Args is the executor's command line after the binary (ExecutorBinary).
// --binding is passed only when the flow is bound (a Manual flow may have
// no binding), --credentials when there is a credentials Secret (the
// binding's, or an unbound Manual flow's), --secrets only when HTTPRequest
// headers read Secrets, --models and --model-keys only when AI nodes use
// models; --keys always (the flow's keys Secret, KeysSecret). No secret
// value is ever an argument: the store URL holds no password
// (Config.WithStorePassword moved it out), as arguments are readable by
// every process of the node.
func Args(in ExecutorInput) []string {
	in.Config = in.Config.WithStorePassword("")
	args := []string{"--flow", path.Join(RevisionDir, FlowKey)}
	if in.Binding != nil {
		args = append(args, "--binding", path.Join(RevisionDir, BindingKey))
		if r := in.Binding.Spec.SendRate; r > 0 {
			args = append(args, "--send-rate", strconv.Itoa(int(r)))
		}
	}
	if CredentialsSecret(in.Flow, in.Binding) != "" {
		args = append(args, "--credentials", CredentialsDir)
	}
	if len(in.HeaderSecrets) > 0 {
		args = append(args, "--secrets", SecretsDir)
	}
	if len(in.Models) > 0 {
		args = append(args, "--models", path.Join(RevisionDir, ModelsKey), "--model-keys", ModelKeysDir)
	}
	args = append(args, "--keys", KeysDir)
	if in.Subflows {
		args = append(args, "--subflows", path.Join(RevisionDir, SubflowsKey))
	}
	args = append(args, "--store", in.Config.Store, "--listen", fmt.Sprintf(":%d", Port),
		"--shutdown-delay", ShutdownDelay.String())
	if len(in.Config.AllowPrivateNetworks) > 0 {
		args = append(args, "--allow-private-networks", strings.Join(in.Config.AllowPrivateNetworks, ","))
	}
	return args
}

func httpGet(p string) corev1.ProbeHandler {
	return corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: p, Port: intstr.FromString(PortName)}}
}

func volumes(in ExecutorInput) []corev1.Volume {
	vs := []corev1.Volume{
		{Name: "revision", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: in.ConfigMap},
		}}},
	}
	if creds := CredentialsSecret(in.Flow, in.Binding); creds != "" {
		vs = append(vs, corev1.Volume{Name: "credentials", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: creds,
		}}})
	}
	for _, s := range sortedSecrets(in.HeaderSecrets) {
		vs = append(vs, corev1.Volume{Name: secretVolume(s), VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: s,
		}}})
	}
	vs = append(vs, corev1.Volume{Name: "keys", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: KeysSecretName(in.Flow.Name),
	}}})
	for _, k := range modelKeys(in.Models) {
		vs = append(vs, corev1.Volume{Name: modelKeyVolume(k.secret), VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: k.secret, Items: k.items,
		}}})
	}
	return append(vs, corev1.Volume{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
}

func volumeMounts(in ExecutorInput) []corev1.VolumeMount {
	ms := []corev1.VolumeMount{{Name: "revision", MountPath: RevisionDir, ReadOnly: true}}
	if CredentialsSecret(in.Flow, in.Binding) != "" {
		ms = append(ms, corev1.VolumeMount{Name: "credentials", MountPath: CredentialsDir, ReadOnly: true})
	}
	for _, s := range sortedSecrets(in.HeaderSecrets) {
		ms = append(ms, corev1.VolumeMount{Name: secretVolume(s), MountPath: path.Join(SecretsDir, s), ReadOnly: true})
	}
	ms = append(ms, corev1.VolumeMount{Name: "keys", MountPath: KeysDir, ReadOnly: true})
	for _, k := range modelKeys(in.Models) {
		ms = append(ms, corev1.VolumeMount{Name: modelKeyVolume(k.secret), MountPath: path.Join(ModelKeysDir, k.secret), ReadOnly: true})
	}
	return append(ms, corev1.VolumeMount{Name: "tmp", MountPath: TmpDir})
}

// secretVolume names the volume of a header Secret; Secret names may be
// longer than a volume name and contain dots, so it is a hash.
func secretVolume(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "secret-" + hex.EncodeToString(sum[:])[:10]
}

// modelKeyVolume names the volume of a model key's Secret (a hash, as for
// header Secrets, with its own prefix: a Secret may serve both).
func modelKeyVolume(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "model-key-" + hex.EncodeToString(sum[:])[:10]
}

// secretKeys is a Secret and the keys of it the executor may read.
type secretKeys struct {
	secret string
	items  []corev1.KeyToPath
}

// modelKeys are the Secrets of the models' API keys, sorted, each with the
// keys the models name: only those are mounted.
func modelKeys(models []v1alpha1.LanguageModel) []secretKeys {
	keys := map[string][]string{}
	for _, m := range models {
		if r := m.Spec.APIKeyRef; r != nil && r.Name != "" && r.Key != "" {
			keys[r.Name] = append(keys[r.Name], r.Key)
		}
	}
	var out []secretKeys
	for _, s := range slices.Sorted(maps.Keys(keys)) {
		ks := slices.Compact(slices.Sorted(slices.Values(keys[s])))
		sk := secretKeys{secret: s}
		for _, k := range ks {
			sk.items = append(sk.items, corev1.KeyToPath{Key: k, Path: k})
		}
		out = append(out, sk)
	}
	return out
}

// ModelKeySecrets are the names of the Secrets of the models' API keys.
func ModelKeySecrets(models []v1alpha1.LanguageModel) []string {
	var out []string
	for _, k := range modelKeys(models) {
		out = append(out, k.secret)
	}
	return out
}

func sortedSecrets(names []string) []string {
	s := slices.Clone(names)
	slices.SortFunc(s, cmp.Compare)
	return slices.Compact(s)
}

// mergeEnv overlays the flow's variables on the defaults by name.
func mergeEnv(defaults, own []corev1.EnvVar) []corev1.EnvVar {
	var out []corev1.EnvVar
	for _, e := range defaults {
		if !slices.ContainsFunc(own, func(o corev1.EnvVar) bool { return o.Name == e.Name }) {
			out = append(out, e)
		}
	}
	return append(out, own...)
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func firstMap(a, b map[string]string) map[string]string {
	if len(a) > 0 {
		return a
	}
	return b
}

func firstSlice[T any](a, b []T) []T {
	if len(a) > 0 {
		return a
	}
	return b
}

func firstPtr[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}
