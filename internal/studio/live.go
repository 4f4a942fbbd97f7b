package studio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
)

// Cluster is the cluster of the user's kubeconfig. Every call is made
// with its credentials: the studio has no identity of its own, so RBAC and
// admission judge the user.
type Cluster struct {
	Config *rest.Config
	// Namespace is the default namespace (-n, else the context's).
	Namespace string
	// Context names the kubeconfig context, for display.
	Context string
	// Err says why there is no cluster, when Config is nil.
	Err error
}

// FieldManager is the studio's field manager in server-side apply.
const FieldManager = "chatflow-studio"

// stateManager owns spec.state only: Publish and Unpublish apply that one
// field, and must not drop the graph fields the studio's applies own.
const stateManager = "chatflow-studio-state"

type live struct {
	cluster *Cluster
	devDir  string
	client  client.Client
}

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v1alpha1.AddToScheme(s))
	return s
}()

func (l *live) info() map[string]any {
	if l.cluster == nil || l.cluster.Config == nil {
		reason := "start chatflow studio with a kubeconfig (--context, -n) to open live flows"
		if l.cluster != nil && l.cluster.Err != nil {
			reason = l.cluster.Err.Error()
		}
		return map[string]any{"enabled": false, "reason": reason}
	}
	return map[string]any{"enabled": true, "namespace": l.cluster.Namespace, "context": l.cluster.Context, "server": l.cluster.Config.Host}
}

func (l *live) c() (client.Client, error) {
	if l.cluster == nil || l.cluster.Config == nil {
		return nil, &apiError{status: http.StatusNotFound, msg: "no cluster: start chatflow studio with a kubeconfig"}
	}
	if l.client == nil {
		c, err := client.New(l.cluster.Config, client.Options{Scheme: scheme})
		if err != nil {
			return nil, err
		}
		l.client = c
	}
	return l.client, nil
}

func (l *live) namespace(r *http.Request) string {
	if ns := r.URL.Query().Get("namespace"); ns != "" {
		return ns
	}
	return l.cluster.Namespace
}

type flowSummary struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Trigger   string `json:"trigger"`
	State     string `json:"state"`
	Live      string `json:"live"`
	Revision  string `json:"revision"`
	Ready     string `json:"ready"`
	Message   string `json:"message"`
	Nodes     int    `json:"nodes"`
}

func summarize(f *v1alpha1.ChatFlow) flowSummary {
	s := flowSummary{Name: f.Name, Namespace: f.Namespace, Trigger: string(f.Spec.Trigger.Type), State: string(f.Spec.State),
		Live: string(f.Status.State), Revision: f.Status.Revision, Ready: "Unknown", Nodes: len(f.Spec.Nodes)}
	for _, c := range f.Status.Conditions {
		if c.Type == v1alpha1.ConditionReady {
			s.Ready, s.Message = string(c.Status), c.Message
		}
	}
	return s
}

func (l *live) flows(r *http.Request) (any, error) {
	c, err := l.c()
	if err != nil {
		return nil, err
	}
	var list v1alpha1.ChatFlowList
	if err := c.List(r.Context(), &list, client.InNamespace(l.namespace(r))); err != nil {
		return nil, kubeError(err)
	}
	out := []flowSummary{}
	for i := range list.Items {
		out = append(out, summarize(&list.Items[i]))
	}
	return map[string]any{"namespace": l.namespace(r), "flows": out}, nil
}

// action says whether the user may do something, and why not.
type action struct {
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason,omitempty"`
}

func (l *live) flow(r *http.Request) (any, error) {
	c, err := l.c()
	if err != nil {
		return nil, err
	}
	ctx, ns, name := r.Context(), l.namespace(r), r.URL.Query().Get("name")
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("ChatFlow"))
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		return nil, kubeError(err)
	}
	unstructured.RemoveNestedField(u.Object, "metadata", "managedFields")
	var typed v1alpha1.ChatFlow
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &typed); err != nil {
		return nil, err
	}
	var bl v1alpha1.ChannelBindingList
	if err := c.List(ctx, &bl, client.InNamespace(ns)); err != nil {
		return nil, kubeError(err)
	}
	bindings := []map[string]any{}
	for _, b := range bl.Items {
		if b.Spec.FlowRef.Name != name {
			continue
		}
		ready := "Unknown"
		msg := ""
		for _, cond := range b.Status.Conditions {
			if cond.Type == v1alpha1.ConditionReady {
				ready, msg = string(cond.Status), cond.Message
			}
		}
		bindings = append(bindings, map[string]any{
			"name": b.Name, "channel": b.Spec.Channel, "account": b.Spec.Account, "ready": ready, "message": msg,
		})
	}
	return map[string]any{
		"object":   u.Object,
		"summary":  summarize(&typed),
		"status":   typed.Status,
		"bindings": bindings,
		"actions":  l.actions(ctx, ns, &typed),
	}, nil
}

// actions are what the user may do with the flow: the lifecycle rules
// first (what admission would deny whoever asks), then the user's RBAC.
func (l *live) actions(ctx context.Context, ns string, f *v1alpha1.ChatFlow) map[string]action {
	published := f.Spec.State == v1alpha1.StatePublished
	out := map[string]action{
		"apply":     l.can(ctx, ns, "chatflows", "patch"),
		"publish":   l.can(ctx, ns, "chatflows", "patch"),
		"unpublish": l.can(ctx, ns, "chatflows", "patch"),
		"delete":    l.can(ctx, ns, "chatflows", "delete"),
		"rebind":    l.can(ctx, ns, "channelbindings", "patch"),
	}
	if published {
		out["publish"] = action{Reason: "the flow is Published"}
		out["delete"] = action{Reason: "a Published flow cannot be deleted: unpublish it first"}
		out["rebind"] = action{Reason: "a Published flow's binding cannot change: unpublish it first"}
	} else {
		out["unpublish"] = action{Reason: "the flow is not Published"}
	}
	return out
}

// can asks the API server whether the user may do verb on resource.
func (l *live) can(ctx context.Context, ns, resource, verb string) action {
	c, err := l.c()
	if err != nil {
		return action{Reason: err.Error()}
	}
	rev := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Group: v1alpha1.GroupVersion.Group, Resource: resource},
	}}
	if err := c.Create(ctx, rev); err != nil {
		return action{Reason: "cannot ask the API server: " + err.Error()}
	}
	if !rev.Status.Allowed {
		reason := fmt.Sprintf("your kubeconfig identity may not %s %s in %s", verb, resource, ns)
		if rev.Status.Reason != "" {
			reason += ": " + rev.Status.Reason
		}
		return action{Reason: reason}
	}
	return action{Allowed: true}
}

// liveEdit is an edited live flow.
type liveEdit struct {
	Object map[string]any `json:"object"`
	Force  bool           `json:"force"`
}

// validate lints an edited live flow, as `chatflow lint` lints it once
// written to a file.
func (l *live) validate(r *http.Request) (any, error) {
	var e liveEdit
	if err := decode(r, &e); err != nil {
		return nil, err
	}
	b, err := json.Marshal(applyObject(e.Object))
	if err != nil {
		return nil, err
	}
	res := lint.Lint([]manifest.Source{{Name: "cluster", Data: b}})
	return validation{Problems: orEmpty(res.Problems)}, nil
}

// applyObject is what the studio applies: the fields a user writes, not
// what the server keeps (status, uid, resourceVersion, managedFields).
func applyObject(obj map[string]any) map[string]any {
	md, _ := obj["metadata"].(map[string]any)
	meta := map[string]any{"name": md["name"], "namespace": md["namespace"]}
	for _, k := range []string{"labels", "annotations"} {
		if v, ok := md[k]; ok {
			meta[k] = v
		}
	}
	return map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(), "kind": "ChatFlow",
		"metadata": meta, "spec": obj["spec"],
	}
}

// apply applies the edited flow with server-side apply, under the user's
// identity: admission (the CRD's rules, the validating webhook, the
// admission policy) decides, and a denial comes back with its message and
// field causes for the canvas.
func (l *live) apply(r *http.Request) (any, error) {
	c, err := l.c()
	if err != nil {
		return nil, err
	}
	var e liveEdit
	if err := decode(r, &e); err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: applyObject(e.Object)}
	if u.GetName() == "" || u.GetNamespace() == "" {
		return nil, badRequest("the flow needs metadata.name and metadata.namespace")
	}
	opts := []client.PatchOption{client.FieldOwner(FieldManager)}
	if e.Force {
		opts = append(opts, client.ForceOwnership)
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := c.Patch(ctx, u, client.Apply, opts...); err != nil { //nolint:staticcheck // the unstructured apply of the user's edit
		return nil, kubeError(err)
	}
	return map[string]any{"applied": true, "generation": u.GetGeneration()}, nil
}

// setState publishes or unpublishes a flow: an apply of spec.state alone.
func (l *live) setState(r *http.Request) (any, error) {
	c, err := l.c()
	if err != nil {
		return nil, err
	}
	var req struct{ Namespace, Name, State string }
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if !slices.Contains([]string{string(v1alpha1.StatePublished), string(v1alpha1.StateUnpublished)}, req.State) {
		return nil, badRequest("state must be Published or Unpublished, not %q", req.State)
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(), "kind": "ChatFlow",
		"metadata": map[string]any{"name": req.Name, "namespace": req.Namespace},
		"spec":     map[string]any{"state": req.State},
	}}
	if err := c.Patch(r.Context(), u, client.Apply, client.FieldOwner(stateManager), client.ForceOwnership); err != nil { //nolint:staticcheck // one field, applied
		return nil, kubeError(err)
	}
	return map[string]any{"state": req.State}, nil
}

func (l *live) delete(r *http.Request) (any, error) {
	c, err := l.c()
	if err != nil {
		return nil, err
	}
	var req struct{ Namespace, Name string }
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	f := &v1alpha1.ChatFlow{ObjectMeta: metav1.ObjectMeta{Namespace: req.Namespace, Name: req.Name}}
	if err := c.Delete(r.Context(), f); err != nil {
		return nil, kubeError(err)
	}
	return map[string]any{"deleted": true}, nil
}

// kubeError carries an API error's status, message and field causes to
// the front end, which draws the causes on the nodes they name.
func kubeError(err error) error {
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		return &apiError{status: http.StatusBadGateway, msg: err.Error()}
	}
	st := se.Status()
	causes := []map[string]string{}
	if st.Details != nil {
		for _, c := range st.Details.Causes {
			causes = append(causes, map[string]string{"field": c.Field, "message": c.Message, "type": string(c.Type)})
		}
	}
	code := int(st.Code)
	if code < 400 {
		code = http.StatusBadGateway
	}
	return &apiError{status: code, msg: st.Message, detail: map[string]any{"reason": st.Reason, "causes": causes, "kube": true}}
}

// bindingOf is the flow's binding: the Ready one when several name it.
func bindingOf(items []v1alpha1.ChannelBinding, flow string) *v1alpha1.ChannelBinding {
	var found *v1alpha1.ChannelBinding
	for i := range items {
		b := &items[i]
		if b.Spec.FlowRef.Name != flow {
			continue
		}
		for _, c := range b.Status.Conditions {
			if c.Type == v1alpha1.ConditionReady && c.Status == metav1.ConditionTrue {
				return b
			}
		}
		if found == nil {
			found = b
		}
	}
	return found
}

// secretOf reads a Secret with the user's credentials.
func (l *live) secretOf(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	c, err := l.c()
	if err != nil {
		return nil, err
	}
	s := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		return nil, kubeError(err)
	}
	return s, nil
}
