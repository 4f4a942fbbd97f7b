package builders

import (
	"errors"
	"fmt"
	"net"
	"net/url"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/store"
)

// StoreMemory is the in-process session store: one replica, sessions lost
// on restart. Fine for tests and development only.
const StoreMemory = store.Memory

// DefaultImage is the executor image when the manager is not told another.
const DefaultImage = "ghcr.io/chatflow-dev/chatflow:latest"

// Config holds the manager's defaults for every executor: what a flow does
// not override. It is read from the manager's flags and, for the
// structured parts (resources, pod template defaults), from a YAML file the
// Helm chart renders from its values.
type Config struct {
	// Image of the executor (the chatflow binary).
	Image string `json:"image,omitempty"`
	// ImagePullPolicy of the executor container.
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
	// Store is the session store URL: "memory", redis://HOST:PORT/DB,
	// rediss:// for TLS, redis+cluster:// for Redis Cluster (see
	// store.ParseURL). A password written in it is moved to StorePassword
	// when the configuration is read (WithStorePassword).
	Store string `json:"store,omitempty"`
	// StorePassword is the session store's password. The manager reads it
	// from its environment (StorePasswordEnv) and hands it to each flow's
	// executor through the flow's store Secret (StoreSecret) and the same
	// variable: never in a URL, a ConfigMap or a process argument. It is
	// never written out (json:"-").
	StorePassword string `json:"-"`
	// Replicas is the default number of executor pods of a flow.
	Replicas int32 `json:"replicas,omitempty"`
	// Resources of the executor container, unless the flow sets its own.
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`
	// Template holds pod template defaults (labels, annotations, scheduling,
	// service account, pull secrets); a flow's template is merged over it.
	Template v1alpha1.ExecutorPodTemplate `json:"template,omitzero"`
	// AllowPrivateNetworks are CIDRs HTTPRequest nodes may call although
	// they are private, loopback or link-local.
	AllowPrivateNetworks []string `json:"allowPrivateNetworks,omitempty"`
	// GatewayPublicURL is the gateway's public base URL (the manager's
	// --gateway-public-url): a Viber binding that asks to register its
	// webhook without a spec.webhook.publicURL of its own registers the
	// gateway's. Not written out: it comes from the flag.
	GatewayPublicURL string `json:"-"`
	// RunAsUser sets the executor's uid, for images without a numeric USER.
	// Empty keeps the image's (which must not be root).
	RunAsUser *int64 `json:"runAsUser,omitempty"`
}

// DefaultConfig is the configuration when the manager is given none.
func DefaultConfig() Config {
	return Config{
		Image:           DefaultImage,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Store:           StoreMemory,
		Replicas:        1,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("50m"),
				corev1.ResourceMemory: resource.MustParse("64Mi"),
			},
			Limits: corev1.ResourceList{
				corev1.ResourceMemory: resource.MustParse("256Mi"),
			},
		},
	}
}

// StorePasswordEnv is the environment variable that holds the session
// store's password, in the manager (from the chart's Secret) and in every
// executor (from its flow's store Secret).
const StorePasswordEnv = store.PasswordEnv

// ParseConfig reads a YAML configuration over the defaults: fields it sets
// replace the defaults, the others keep them. A password in the store URL
// is moved out of it (WithStorePassword).
func ParseConfig(data []byte) (Config, error) {
	c := DefaultConfig()
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return Config{}, fmt.Errorf("executor configuration: %w", err)
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c.WithStorePassword(""), nil
}

// WithStorePassword moves a password written in the store URL
// (redis://:PASSWORD@HOST:PORT/DB) out of it into StorePassword, so that
// the URL the executors get on their command line holds none; then a
// non-empty password (the manager's StorePasswordEnv) replaces it.
func (c Config) WithStorePassword(password string) Config {
	if u, err := url.Parse(c.Store); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			c.StorePassword = p
			if name := u.User.Username(); name != "" {
				u.User = url.User(name)
			} else {
				u.User = nil
			}
			c.Store = u.String()
		}
	}
	if password != "" {
		c.StorePassword = password
	}
	return c
}

// Validate reports what is wrong with a configuration, all at once.
func (c Config) Validate() error {
	var errs []error
	if c.Image == "" {
		errs = append(errs, errors.New("executor image: must not be empty"))
	}
	switch c.ImagePullPolicy {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		errs = append(errs, fmt.Errorf("executor imagePullPolicy %q: use Always, IfNotPresent or Never", c.ImagePullPolicy))
	}
	if err := validateStore(c.Store); err != nil {
		errs = append(errs, err)
	}
	if c.Replicas < 0 {
		errs = append(errs, fmt.Errorf("executor replicas %d: must not be negative", c.Replicas))
	}
	for _, cidr := range c.AllowPrivateNetworks {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			errs = append(errs, fmt.Errorf("executor allowPrivateNetworks %q: not a CIDR such as 10.0.0.0/8", cidr))
		}
	}
	if c.Template.Spec.Resources != nil {
		errs = append(errs, errors.New("executor template.spec.resources: set resources at the top level instead"))
	}
	if c.RunAsUser != nil && *c.RunAsUser == 0 {
		errs = append(errs, errors.New("executor runAsUser 0: the executor must not run as root"))
	}
	return errors.Join(errs...)
}

// validateStore accepts exactly the URLs the executors' store accepts:
// the rule is runtime/store's, so a URL the chart and docs advertise
// (redis+cluster://) cannot pass the store and fail here, or the reverse.
func validateStore(s string) error {
	if _, err := store.ParseURL(s); err != nil {
		return fmt.Errorf("executor %w", err)
	}
	return nil
}

// MultiReplica reports whether the store lets several executor pods share
// sessions.
func (c Config) MultiReplica() bool { return c.Store != StoreMemory }
