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

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/secretrefs"
)

const (
	// BindingFlowName indexes ChannelBindings by spec.flowRef.name. The key
	// equals the CRD's selectable field, so the same client.MatchingFields
	// works against the cache and, as a field selector, against the API
	// server (the webhooks read there for consistency).
	BindingFlowName = "spec.flowRef.name"
	// BindingCredentials indexes ChannelBindings by the name of their
	// credentials Secret (spec.credentialsRef.name).
	BindingCredentials = secretrefs.ChannelBindingField
	// BindingAccount indexes ChannelBindings by channel and account id
	// ("WhatsApp/106540352242922"), see AccountKey.
	BindingAccount = "spec.account.key"
	// FlowSecrets indexes ChatFlows by the names of the Secrets they
	// reference (secretrefs.OfChatFlow): those HTTPRequest headers read, a
	// Manual flow's spec.trigger.credentialsRef, and those of the executor
	// pod template.
	FlowSecrets = secretrefs.ChatFlowField
	// FlowModels indexes ChatFlows by the LanguageModels their AI nodes
	// name (see ModelRefs).
	FlowModels = "spec.nodes.model"
	// ModelKeySecret indexes LanguageModels by the Secret of their API
	// key (spec.apiKeyRef.name).
	ModelKeySecret = secretrefs.LanguageModelField
	// FlowTargets indexes ChatFlows by the flows their ForwardToFlow nodes
	// name (spec.nodes[].forwardToFlow.flowRef.name): the callers of a flow.
	FlowTargets = "spec.nodes.forwardToFlow.flowRef.name"
	// CampaignFlow indexes Campaigns by spec.flowRef.name.
	CampaignFlow = "spec.flowRef.name"
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
	all := []Indexer{
		{Object: &v1alpha1.ChannelBinding{}, Field: BindingFlowName, Extract: bindingFlowName},
		{Object: &v1alpha1.ChannelBinding{}, Field: BindingAccount, Extract: bindingAccount},
		{Object: &v1alpha1.ChatFlow{}, Field: FlowModels, Extract: flowModels},
		{Object: &v1alpha1.ChatFlow{}, Field: FlowTargets, Extract: flowTargets},
		{Object: &v1alpha1.Campaign{}, Field: CampaignFlow, Extract: campaignFlow},
	}
	for _, k := range secretrefs.Kinds {
		all = append(all, Indexer{Object: k.Object, Field: k.Field, Extract: func(o client.Object) []string {
			return secretrefs.Names(k.Refs(o))
		}})
	}
	return all
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
// HTTPRequest headers read, in the order they first appear: the Secrets
// the executor mounts for them.
func HeaderSecrets(spec *v1alpha1.ChatFlowSpec) []string {
	return secretrefs.Names(secretrefs.OfHTTPHeaders(spec))
}

func bindingFlowName(o client.Object) []string {
	b, ok := o.(*v1alpha1.ChannelBinding)
	if !ok || b.Spec.FlowRef.Name == "" {
		return nil
	}
	return []string{b.Spec.FlowRef.Name}
}

func bindingAccount(o client.Object) []string {
	b, ok := o.(*v1alpha1.ChannelBinding)
	if !ok || b.Spec.Account.ID == "" {
		return nil
	}
	return []string{AccountKey(b.Spec.Channel, b.Spec.Account.ID)}
}

// ModelRef is a LanguageModel an AI node names, with the field path of the
// name, in the flow itself or (Flow) in a flow it forwards to.
type ModelRef struct {
	Name string
	Path *field.Path
	Flow string
}

// String names the reference for a condition message.
func (r ModelRef) String() string {
	if r.Flow != "" {
		return "ChatFlow " + r.Flow + " " + r.Path.String()
	}
	return r.Path.String()
}

// ModelRefs lists the LanguageModels a flow's AI nodes name, in node order.
func ModelRefs(spec *v1alpha1.ChatFlowSpec) []ModelRef {
	var refs []ModelRef
	nodes := field.NewPath("spec", "nodes")
	for i := range spec.Nodes {
		n := &spec.Nodes[i]
		var member, name string
		switch {
		case n.AIReply != nil:
			member, name = "aiReply", n.AIReply.Model
		case n.AIClassify != nil:
			member, name = "aiClassify", n.AIClassify.Model
		case n.AIExtract != nil:
			member, name = "aiExtract", n.AIExtract.Model
		default:
			continue
		}
		if name != "" {
			refs = append(refs, ModelRef{Name: name, Path: nodes.Index(i).Child(member, "model")})
		}
	}
	return refs
}

// ModelNames are the distinct names of refs, in the order they first appear.
func ModelNames(refs []ModelRef) []string {
	var names []string
	for _, r := range refs {
		if !slices.Contains(names, r.Name) {
			names = append(names, r.Name)
		}
	}
	return names
}

func flowTargets(o client.Object) []string {
	f, ok := o.(*v1alpha1.ChatFlow)
	if !ok {
		return nil
	}
	var names []string
	for i := range f.Spec.Nodes {
		if fw := f.Spec.Nodes[i].ForwardToFlow; fw != nil && fw.FlowRef.Name != "" && !slices.Contains(names, fw.FlowRef.Name) {
			names = append(names, fw.FlowRef.Name)
		}
	}
	return names
}

func flowModels(o client.Object) []string {
	f, ok := o.(*v1alpha1.ChatFlow)
	if !ok {
		return nil
	}
	return ModelNames(ModelRefs(&f.Spec))
}

func campaignFlow(o client.Object) []string {
	c, ok := o.(*v1alpha1.Campaign)
	if !ok || c.Spec.FlowRef.Name == "" {
		return nil
	}
	return []string{c.Spec.FlowRef.Name}
}
