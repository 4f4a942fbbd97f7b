package builders

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// Labels and annotations the operator puts on what it creates.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelFlow names the flow an object belongs to (see LabelValue).
	LabelFlow = "chatflow.dev/flow"
	// LabelRevision is the flow revision a ConfigMap or pod carries.
	LabelRevision = "chatflow.dev/revision"
	// AnnotationSecretsVersion on the pod template changes whenever a Secret
	// the executor mounts changes, which rolls the pods.
	AnnotationSecretsVersion = "chatflow.dev/secrets-version"
	// LabelReferenced ("true") marks a user's Secret that some Chatflow
	// object references (binding credentials, HTTPRequest headers, model
	// keys). The manager sets it, so that its cache and watches select only
	// these Secrets instead of every Secret of the cluster. The Secrets the
	// manager makes for executors (StoreSecret) carry it too, for the same
	// cache.
	LabelReferenced = "chatflow.dev/referenced"
	// LabelCredentials ("true") marks a Secret that a ChannelBinding names
	// in spec.credentialsRef: the gateway reads only these (app secrets and
	// verify tokens), never the other Secrets a flow references.
	LabelCredentials = "chatflow.dev/credentials"

	// AppName is the app.kubernetes.io/name of executor objects.
	AppName = "chatflow-executor"
	// ManagedBy is the app.kubernetes.io/managed-by value of everything the
	// operator creates; the manager's cache only watches objects with it.
	ManagedBy = "chatflow-operator"
	// Component is the app.kubernetes.io/component of executor objects.
	Component = "executor"

	// ContainerName is the executor container.
	ContainerName = "executor"
	// PortName and Port are where the executor listens.
	PortName = "http"
	Port     = 8080
	// ServicePort is the port of the executor Service.
	ServicePort = 80
	// ShutdownDelay is how long a terminating executor pod keeps accepting
	// webhooks with /readyz failing (--shutdown-delay), while the removal of
	// its endpoint reaches the Service's proxies; a rollout then fails no
	// webhook. Well within the pod's termination grace period.
	ShutdownDelay = 5 * time.Second

	// FlowKey, BindingKey and ModelsKey are the ConfigMap keys the
	// executor reads, and SubflowsKey the flows the flow forwards to
	// (ForwardToFlow), as one YAML stream.
	FlowKey     = "flow.yaml"
	BindingKey  = "binding.yaml"
	ModelsKey   = "models.yaml"
	SubflowsKey = "subflows.yaml"

	// StorePasswordKey is the key of the session store's password in a
	// flow's store Secret.
	StorePasswordKey = "store-password"

	// ExecutorBinary is the executor container's command: the image's
	// lean executor binary (cmd/chatflow-executor), which links none of
	// the manager and so takes less than half the memory of the image's
	// entrypoint, /chatflow, running `chatflow executor`.
	ExecutorBinary = "/chatflow-executor"

	// Paths inside the executor container.
	RevisionDir    = "/etc/chatflow/revision"
	CredentialsDir = "/etc/chatflow/credentials"
	SecretsDir     = "/etc/chatflow/secrets"
	KeysDir        = "/etc/chatflow/keys"
	ModelKeysDir   = "/etc/chatflow/model-keys"
	TmpDir         = "/tmp"
)

// ExecutorName is the name of a flow's executor Deployment and Service:
// <flow>-executor. A Service name must be a DNS-1035 label, so a flow name
// that is too long, has dots or starts with a digit is shortened and made
// unique with a hash of the full name.
func ExecutorName(flow string) string {
	name := flow + "-executor"
	if len(validation.IsDNS1035Label(name)) == 0 {
		return name
	}
	base := strings.ReplaceAll(flow, ".", "-")
	if base == "" || base[0] < 'a' || base[0] > 'z' {
		base = "f-" + base
	}
	const suffix = "-executor"
	base = trimName(base, validation.DNS1035LabelMaxLength-len(suffix)-9)
	return base + "-" + shortHash(flow, 8) + suffix
}

// ConfigMapName is the name of the immutable ConfigMap of a revision:
// <flow>-<revision>-<digest>, where digest covers the whole content (the
// flow's logging and the binding also reach the executor through it and
// can change without a new graph revision).
func ConfigMapName(flow, revision, digest string) string {
	suffix := "-" + revision + "-" + digest
	return trimName(flow, validation.DNS1123SubdomainMaxLength-len(suffix)) + suffix
}

// LabelValue turns a name into a valid label value: names longer than 63
// characters are shortened and made unique with a hash.
func LabelValue(name string) string {
	if len(validation.IsValidLabelValue(name)) == 0 {
		return name
	}
	return trimName(name, validation.LabelValueMaxLength-11) + "-" + shortHash(name, 10)
}

// SelectorLabels select the executor pods of a flow. They never change for
// a flow: a Deployment's selector is immutable.
func SelectorLabels(flow string) map[string]string {
	return map[string]string{
		LabelName: AppName,
		LabelFlow: LabelValue(flow),
	}
}

// Labels are put on every object the operator creates for a flow.
func Labels(flow string) map[string]string {
	l := SelectorLabels(flow)
	l[LabelInstance] = LabelValue(flow)
	l[LabelComponent] = Component
	l[LabelManagedBy] = ManagedBy
	return l
}

// OwnedByFlow reports whether labels mark an object as the operator's for
// the flow.
func OwnedByFlow(labels map[string]string, flow string) bool {
	return labels[LabelManagedBy] == ManagedBy && labels[LabelFlow] == LabelValue(flow)
}

// ChatFlowKind is the group, version and kind of owner references.
var ChatFlowKind = v1alpha1.GroupVersion.WithKind("ChatFlow")

// trimName cuts s to at most n characters and drops trailing separators,
// so the result still ends with a letter or digit.
func trimName(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.TrimRight(s, "-.")
}

func shortHash(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:n]
}
