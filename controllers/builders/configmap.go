package builders

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// FlowManifest is the flow as the executor reads it: the same shape a
// user applies, reduced to what runs. Status, managed fields and volatile
// metadata are left out, and so are the basic info (display name, remark)
// and the executor overrides (they shape the Deployment, not the flow), so
// the content changes, and the executor restarts, only when something it
// uses changes.
func FlowManifest(f *v1alpha1.ChatFlow) ([]byte, error) {
	m := v1alpha1.ChatFlow{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ChatFlow"},
		ObjectMeta: metav1.ObjectMeta{Name: f.Name, Namespace: f.Namespace},
	}
	f.Spec.DeepCopyInto(&m.Spec)
	m.Spec.Executor = nil
	m.Spec.DisplayName, m.Spec.Remark = "", ""
	return yaml.Marshal(&m)
}

// BindingManifest is the binding as the executor reads it: kind, name and
// spec, without webhookOverride (the operator registers that callback with
// Meta; the executor has no use for it, so turning it on or off must not
// restart the executor). A binding that asks the executor to register its
// webhook (Viber) without a publicURL of its own gets the gateway's
// public URL, the one URL every channel's webhooks reach.
func BindingManifest(b *v1alpha1.ChannelBinding, gatewayPublicURL string) ([]byte, error) {
	m := v1alpha1.ChannelBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ChannelBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: b.Name, Namespace: b.Namespace},
	}
	b.Spec.DeepCopyInto(&m.Spec)
	m.Spec.WebhookOverride = false
	if m.Spec.Webhook.Register && m.Spec.Webhook.PublicURL == "" {
		m.Spec.Webhook.PublicURL = gatewayPublicURL
	}
	return yaml.Marshal(&m)
}

// ModelsManifest is the LanguageModels a flow's AI nodes use as the
// executor reads them (--models): one document each, kind, name and spec.
func ModelsManifest(models []v1alpha1.LanguageModel) ([]byte, error) {
	var out []byte
	for i := range models {
		m := v1alpha1.LanguageModel{
			TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "LanguageModel"},
			ObjectMeta: metav1.ObjectMeta{Name: models[i].Name, Namespace: models[i].Namespace},
		}
		models[i].Spec.DeepCopyInto(&m.Spec)
		doc, err := yaml.Marshal(&m)
		if err != nil {
			return nil, err
		}
		out = append(append(out, "---\n"...), doc...)
	}
	return out, nil
}

// ConfigMap builds the immutable ConfigMap of a revision: flow.yaml, when
// the flow is bound binding.yaml (with the gateway's public URL where the
// binding needs it), when it forwards to other flows subflows.yaml with
// those (in name order), and when its AI nodes use models models.yaml. Its
// name carries the revision and a digest of the content, so any change the
// executor must see (of the flow, its binding, a flow it forwards to, a
// model's endpoint or limits) makes a new ConfigMap and rolls the
// Deployment, and an old revision's ConfigMap stays intact while its pods
// drain.
func ConfigMap(f *v1alpha1.ChatFlow, binding *v1alpha1.ChannelBinding, revision, gatewayPublicURL string, subflows []*v1alpha1.ChatFlow, models ...v1alpha1.LanguageModel) (*corev1.ConfigMap, error) {
	flowYAML, err := FlowManifest(f)
	if err != nil {
		return nil, fmt.Errorf("encoding flow %s: %w", f.Name, err)
	}
	data := map[string]string{FlowKey: string(flowYAML)}
	if len(subflows) > 0 {
		sorted := slices.Clone(subflows)
		slices.SortFunc(sorted, func(a, b *v1alpha1.ChatFlow) int { return strings.Compare(a.Name, b.Name) })
		var docs []string
		for _, sf := range sorted {
			y, err := FlowManifest(sf)
			if err != nil {
				return nil, fmt.Errorf("encoding flow %s: %w", sf.Name, err)
			}
			docs = append(docs, string(y))
		}
		data[SubflowsKey] = strings.Join(docs, "---\n")
	}
	if binding != nil {
		bindingYAML, err := BindingManifest(binding, gatewayPublicURL)
		if err != nil {
			return nil, fmt.Errorf("encoding binding %s: %w", binding.Name, err)
		}
		data[BindingKey] = string(bindingYAML)
	}
	if len(models) > 0 {
		modelsYAML, err := ModelsManifest(models)
		if err != nil {
			return nil, fmt.Errorf("encoding the models of flow %s: %w", f.Name, err)
		}
		data[ModelsKey] = string(modelsYAML)
	}
	labels := Labels(f.Name)
	labels[LabelRevision] = revision
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            ConfigMapName(f.Name, revision, digest(data)),
			Namespace:       f.Namespace,
			Labels:          labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(f, ChatFlowKind)},
		},
		Immutable: ptr.To(true),
		Data:      data,
	}, nil
}

// digest is a short hash of the ConfigMap data, keys in order.
func digest(data map[string]string) string {
	h := sha256.New()
	for _, k := range []string{FlowKey, BindingKey, SubflowsKey, ModelsKey} {
		if v, ok := data[k]; ok {
			fmt.Fprintf(h, "%s\x00%d\x00%s\x00", k, len(v), v)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:6]
}
