// Package index is the one place that declares and registers the field
// indexes of the operator's cache. Reconcilers, admission validators and
// tests use the same keys and extractor functions, so a lookup such as
// "the bindings of flow X" means the same thing everywhere.
//
// It must not import the reconcilers or the webhooks.
package index

import (
	"context"
	"fmt"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

const (
	// BindingFlowName indexes ChannelBindings by spec.flowRef.name. The key
	// equals the CRD's selectable field, so the same client.MatchingFields
	// works against the cache and, as a field selector, against the API
	// server (the webhooks read there for consistency).
	BindingFlowName = "spec.flowRef.name"
	// BindingCredentials indexes ChannelBindings by the name of their
	// credentials Secret (spec.credentialsRef.name).
	BindingCredentials = "spec.credentialsRef.name"
	// BindingAccount indexes ChannelBindings by channel and account id
	// ("WhatsApp/106540352242922"), see AccountKey.
	BindingAccount = "spec.account.key"
	// FlowSecrets indexes ChatFlows by the names of the Secrets they
	// reference: those their HTTPRequest headers read
	// (valueFrom.secretKeyRef.name) and a Manual flow's
	// spec.trigger.credentialsRef.
	FlowSecrets = "spec.nodes.httpRequest.headers.secretRefs"
)

// Indexer is one field index: the object type, the key and the extractor.
type Indexer struct {
	Object  client.Object
	Field   string
	Extract client.IndexerFunc
}

// All returns every index of the operator. The fake client of unit tests
// takes them through WithIndex; the manager through Add.
func All() []Indexer {
	return []Indexer{
		{Object: &v1alpha1.ChannelBinding{}, Field: BindingFlowName, Extract: bindingFlowName},
		{Object: &v1alpha1.ChannelBinding{}, Field: BindingCredentials, Extract: bindingCredentials},
		{Object: &v1alpha1.ChannelBinding{}, Field: BindingAccount, Extract: bindingAccount},
		{Object: &v1alpha1.ChatFlow{}, Field: FlowSecrets, Extract: flowSecrets},
	}
}

// Add registers every index with the manager's field indexer. Call it once,
// before the manager starts.
func Add(ctx context.Context, indexer client.FieldIndexer) error {
	for _, ix := range All() {
		if err := indexer.IndexField(ctx, ix.Object, ix.Field, ix.Extract); err != nil {
			return fmt.Errorf("indexing %T by %s: %w", ix.Object, ix.Field, err)
		}
	}
	return nil
}

// AccountKey is the identity of a channel account: one account serves one
// flow at a time.
func AccountKey(channel v1alpha1.Channel, accountID string) string {
	return string(channel) + "/" + accountID
}

// HeaderSecrets returns the distinct names of the Secrets a flow's
// HTTPRequest headers read, in the order they first appear.
func HeaderSecrets(spec *v1alpha1.ChatFlowSpec) []string {
	var names []string
	seen := map[string]bool{}
	for i := range spec.Nodes {
		h := spec.Nodes[i].HTTPRequest
		if h == nil {
			continue
		}
		for _, hd := range h.Headers {
			if hd.ValueFrom == nil {
				continue
			}
			name := hd.ValueFrom.SecretKeyRef.Name
			if name != "" && !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		}
	}
	return names
}

func bindingFlowName(o client.Object) []string {
	b, ok := o.(*v1alpha1.ChannelBinding)
	if !ok || b.Spec.FlowRef.Name == "" {
		return nil
	}
	return []string{b.Spec.FlowRef.Name}
}

func bindingCredentials(o client.Object) []string {
	b, ok := o.(*v1alpha1.ChannelBinding)
	if !ok || b.Spec.CredentialsRef.Name == "" {
		return nil
	}
	return []string{b.Spec.CredentialsRef.Name}
}

func bindingAccount(o client.Object) []string {
	b, ok := o.(*v1alpha1.ChannelBinding)
	if !ok || b.Spec.Account.ID == "" {
		return nil
	}
	return []string{AccountKey(b.Spec.Channel, b.Spec.Account.ID)}
}

func flowSecrets(o client.Object) []string {
	f, ok := o.(*v1alpha1.ChatFlow)
	if !ok {
		return nil
	}
	names := HeaderSecrets(&f.Spec)
	if r := f.Spec.Trigger.CredentialsRef; r != nil && r.Name != "" && !slices.Contains(names, r.Name) {
		names = append(names, r.Name)
	}
	return names
}
