package gateway

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/controllers/policy"
	"github.com/chatflow-dev/chatflow/runtime/channel"
)

// Input is what the routes are computed from: the ChannelBindings, the
// credentials Secrets they name (only the keys the gateway uses need be
// there) and the executor Services of published flows.
type Input struct {
	Bindings []v1alpha1.ChannelBinding
	Secrets  []corev1.Secret
	Services []corev1.Service
}

// Table is the gateway's routes at one moment. It is immutable once built:
// a change builds a new one, swapped in whole.
type Table struct {
	channels map[v1alpha1.Channel]*channelRoutes
	// backends are the executor Services, by namespace and name.
	backends map[types.NamespacedName]*Backend
	// Problems are the bindings left out, and why.
	Problems []Problem
}

// channelRoutes are the routes of one channel.
type channelRoutes struct {
	// accounts maps an account id to its route.
	accounts map[string]*Route
	// secrets are the distinct signing secrets of the channel's routes, in
	// a fixed order: a request is verified once per secret, not per route.
	secrets []string
	// verifyTokens are the distinct verify tokens (Meta's handshake).
	verifyTokens []string
}

// Route is where the events of one channel account go.
type Route struct {
	// Binding is the ChannelBinding that binds the account.
	Binding types.NamespacedName
	// Flow is the ChatFlow it binds the account to.
	Flow string
	// Channel and Account are the channel account.
	Channel v1alpha1.Channel
	Account string
	// Secret signs the channel's webhooks: the Meta app secret, or the
	// Viber auth token.
	Secret string
	// VerifyToken answers Meta's handshake ("" for Viber).
	VerifyToken string
	// Backend is the flow's executor Service; nil while the flow is not
	// published (the operator creates the Service on publish and deletes
	// it on unpublish).
	Backend *Backend
}

// Backend is an executor Service.
type Backend struct {
	Namespace, Name string
	// Addr is host:port of the Service's http port at its cluster IP ("" for
	// a headless Service: its DNS name is used instead).
	Addr string
}

// URL is the base URL of the Service inside the cluster.
func (b *Backend) URL() string {
	if b.Addr != "" {
		return "http://" + b.Addr
	}
	return fmt.Sprintf("http://%s.%s.svc:%d", b.Name, b.Namespace, builders.ServicePort)
}

// Problem is a binding the table leaves out.
type Problem struct {
	Binding types.NamespacedName
	Reason  string
}

// Route returns the route of a channel account, if any.
func (t *Table) Route(ch v1alpha1.Channel, account string) *Route {
	if c := t.channels[ch]; c != nil {
		return c.accounts[account]
	}
	return nil
}

// Backend returns the executor Service of a flow, if it is published.
func (t *Table) Backend(namespace, flow string) *Backend {
	return t.backends[types.NamespacedName{Namespace: namespace, Name: builders.ExecutorName(flow)}]
}

// Routes counts the routes of a channel and those of them with an executor.
func (t *Table) Routes(ch v1alpha1.Channel) (all, served int) {
	if c := t.channels[ch]; c != nil {
		for _, r := range c.accounts {
			all++
			if r.Backend != nil {
				served++
			}
		}
	}
	return all, served
}

// signingKey is the Secret key that signs a channel's webhooks.
func signingKey(ch v1alpha1.Channel) string {
	if ch == v1alpha1.ChannelViber {
		return channel.KeyAuthToken
	}
	return channel.KeyAppSecret
}

// Build computes the routes. A binding is routed when it is not being
// deleted, its Secret holds the channel's signing key, and it is the one in
// effect for its channel account (policy.InEffect, the operator's own
// choice among bindings of one account: the serving one, else the oldest;
// applied here across namespaces too). Its Backend is the executor Service
// of its flow when there is one. Build is pure; the others are reported in
// Problems.
func Build(in Input) *Table {
	t := &Table{
		channels: map[v1alpha1.Channel]*channelRoutes{},
		backends: map[types.NamespacedName]*Backend{},
	}
	for i := range in.Services {
		s := &in.Services[i]
		if !s.DeletionTimestamp.IsZero() {
			continue
		}
		key := types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
		t.backends[key] = &Backend{Namespace: s.Namespace, Name: s.Name, Addr: serviceAddr(s)}
	}
	secrets := map[types.NamespacedName]*corev1.Secret{}
	for i := range in.Secrets {
		s := &in.Secrets[i]
		secrets[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}] = s
	}

	// Candidates per channel account, then the one in effect of each.
	type accountKey struct {
		ch      v1alpha1.Channel
		account string
	}
	candidates := map[accountKey][]v1alpha1.ChannelBinding{}
	for _, b := range in.Bindings {
		name := types.NamespacedName{Namespace: b.Namespace, Name: b.Name}
		switch {
		case !b.DeletionTimestamp.IsZero():
			continue
		case b.Spec.Account.ID == "":
			t.problem(name, "spec.account.id is empty")
			continue
		}
		s := secrets[types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.CredentialsRef.Name}]
		if s == nil || len(s.Data[signingKey(b.Spec.Channel)]) == 0 {
			t.problem(name, fmt.Sprintf("Secret %s has no %s the gateway can read (is it labelled %s=true by the manager?)",
				b.Spec.CredentialsRef.Name, signingKey(b.Spec.Channel), builders.LabelCredentials))
			continue
		}
		k := accountKey{b.Spec.Channel, b.Spec.Account.ID}
		candidates[k] = append(candidates[k], b)
	}
	keys := make([]accountKey, 0, len(candidates))
	for k := range candidates {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b accountKey) int {
		return cmp.Or(cmp.Compare(a.ch, b.ch), cmp.Compare(a.account, b.account))
	})
	for _, k := range keys {
		list := candidates[k]
		// InEffect breaks ties by name; across namespaces, make the order
		// of equals not depend on the informer's listing order.
		slices.SortFunc(list, func(a, b v1alpha1.ChannelBinding) int {
			return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
		})
		winner := policy.InEffect(list)
		for _, b := range list {
			if b.Namespace != winner.Namespace || b.Name != winner.Name {
				t.problem(types.NamespacedName{Namespace: b.Namespace, Name: b.Name}, fmt.Sprintf(
					"%s account %s is bound by ChannelBinding %s/%s, which is in effect", k.ch, k.account, winner.Namespace, winner.Name))
			}
		}
		t.add(winner, secrets[types.NamespacedName{Namespace: winner.Namespace, Name: winner.Spec.CredentialsRef.Name}])
	}
	return t
}

func (t *Table) add(b *v1alpha1.ChannelBinding, s *corev1.Secret) {
	c := t.channels[b.Spec.Channel]
	if c == nil {
		c = &channelRoutes{accounts: map[string]*Route{}}
		t.channels[b.Spec.Channel] = c
	}
	r := &Route{
		Binding:     types.NamespacedName{Namespace: b.Namespace, Name: b.Name},
		Flow:        b.Spec.FlowRef.Name,
		Channel:     b.Spec.Channel,
		Account:     b.Spec.Account.ID,
		Secret:      string(s.Data[signingKey(b.Spec.Channel)]),
		VerifyToken: string(s.Data[channel.KeyVerifyToken]),
		Backend:     t.backends[types.NamespacedName{Namespace: b.Namespace, Name: builders.ExecutorName(b.Spec.FlowRef.Name)}],
	}
	if b.Spec.Channel == v1alpha1.ChannelViber {
		r.VerifyToken = ""
	}
	c.accounts[r.Account] = r
	if !slices.Contains(c.secrets, r.Secret) {
		c.secrets = append(c.secrets, r.Secret)
	}
	if r.VerifyToken != "" && !slices.Contains(c.verifyTokens, r.VerifyToken) {
		c.verifyTokens = append(c.verifyTokens, r.VerifyToken)
	}
}

func (t *Table) problem(b types.NamespacedName, reason string) {
	t.Problems = append(t.Problems, Problem{Binding: b, Reason: reason})
}

// serviceAddr is host:port of a Service's http port at its cluster IP, ""
// for a headless Service.
func serviceAddr(s *corev1.Service) string {
	ip := s.Spec.ClusterIP
	if ip == "" || ip == corev1.ClusterIPNone {
		return ""
	}
	port := int32(builders.ServicePort)
	if len(s.Spec.Ports) > 0 {
		port = s.Spec.Ports[0].Port
	}
	for _, p := range s.Spec.Ports {
		if p.Name == builders.PortName {
			port = p.Port
		}
	}
	return net.JoinHostPort(ip, strconv.Itoa(int(port)))
}
