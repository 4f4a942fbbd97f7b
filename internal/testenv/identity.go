package testenv

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ManagerIdentity gives a test manager exactly the rights the chart gives
// the real one: it renders the chart's ServiceAccount and RBAC as release
// in namespace (with helmArgs, e.g. --set watchNamespaces={a}), creates
// them through c, and returns cfg impersonating that ServiceAccount, with
// the groups the API server gives it. A manager that needs a permission
// the chart lacks fails like the real one would.
func ManagerIdentity(ctx context.Context, c client.Client, cfg *rest.Config, release, namespace string, helmArgs ...string) (*rest.Config, error) {
	return chartIdentity(ctx, c, cfg, release, namespace,
		append([]string{"--show-only", "templates/rbac.yaml", "--show-only", "templates/serviceaccount.yaml"}, helmArgs...))
}

// GatewayIdentity is ManagerIdentity for the gateway: its own
// ServiceAccount and RBAC from the chart's templates/gateway.yaml (the
// Deployment and the rest of that file are not created).
func GatewayIdentity(ctx context.Context, c client.Client, cfg *rest.Config, release, namespace string, helmArgs ...string) (*rest.Config, error) {
	return chartIdentity(ctx, c, cfg, release, namespace, append([]string{"--show-only", "templates/gateway.yaml"}, helmArgs...))
}

// identityKinds are what chartIdentity creates of a rendering.
var identityKinds = []string{"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}

// chartIdentity renders the chart with args, creates its ServiceAccount
// and RBAC objects, and returns cfg impersonating the ServiceAccount.
func chartIdentity(ctx context.Context, c client.Client, cfg *rest.Config, release, namespace string, args []string) (*rest.Config, error) {
	objs, err := RenderChart(release, namespace, args...)
	if err != nil {
		return nil, err
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	var sa string
	for _, o := range objs {
		if !slices.Contains(identityKinds, o.GetKind()) {
			continue
		}
		if err := c.Create(ctx, o); err != nil {
			return nil, fmt.Errorf("creating the chart's %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		if o.GetKind() == "ServiceAccount" {
			sa = o.GetName()
		}
	}
	if sa == "" {
		return nil, fmt.Errorf("the chart renders no ServiceAccount for release %s", release)
	}
	out := rest.CopyConfig(cfg)
	out.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + namespace + ":" + sa,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}
	if err := awaitGrants(ctx, c, objs, out.Impersonate); err != nil {
		return nil, err
	}
	return out, nil
}

// awaitGrants waits until the API server's authorizer grants who the first
// rule of every role the rendering binds.
func awaitGrants(ctx context.Context, c client.Client, objs []*unstructured.Unstructured, who rest.ImpersonationConfig) error {
	var attrs []authorizationv1.ResourceAttributes
	for _, binding := range objs {
		if binding.GetKind() != "RoleBinding" && binding.GetKind() != "ClusterRoleBinding" {
			continue
		}
		if a, ok := firstGrant(objs, binding); ok {
			attrs = append(attrs, *a)
		}
	}
	return AwaitAccess(ctx, c, who.UserName, who.Groups, attrs...)
}

// AwaitAccess waits, up to 30s, until the API server allows user (in
// groups) each of attrs. The RBAC authorizer reads roles and bindings from
// informers, so a request made right after they were created may still be
// refused; a test that grants and then acts waits here first.
func AwaitAccess(ctx context.Context, c client.Client, user string, groups []string, attrs ...authorizationv1.ResourceAttributes) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, a := range attrs {
		for {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: user, Groups: groups, ResourceAttributes: &a}}
			if err := c.Create(ctx, sar); err != nil {
				return fmt.Errorf("asking whether %s may %s %s/%s in %q: %w", user, a.Verb, a.Group, a.Resource, a.Namespace, err)
			}
			if sar.Status.Allowed {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s may still not %s %s/%s %q in %q after 30s", user, a.Verb, a.Group, a.Resource, a.Name, a.Namespace)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// firstGrant is the first resource rule of the role binding names, among
// objs, as a request in the binding's namespace; false when the role is not
// in objs or has no resource rule.
func firstGrant(objs []*unstructured.Unstructured, binding *unstructured.Unstructured) (*authorizationv1.ResourceAttributes, bool) {
	kind, _, _ := unstructured.NestedString(binding.Object, "roleRef", "kind")
	name, _, _ := unstructured.NestedString(binding.Object, "roleRef", "name")
	i := slices.IndexFunc(objs, func(o *unstructured.Unstructured) bool {
		return o.GetKind() == kind && o.GetName() == name && (kind == "ClusterRole" || o.GetNamespace() == binding.GetNamespace())
	})
	if i < 0 {
		return nil, false
	}
	rules, _, _ := unstructured.NestedSlice(objs[i].Object, "rules")
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		first := func(field string) string {
			values, _, _ := unstructured.NestedStringSlice(rule, field)
			if len(values) == 0 {
				return ""
			}
			return values[0]
		}
		if first("resources") == "" || first("verbs") == "" {
			continue
		}
		resource, subresource, _ := strings.Cut(first("resources"), "/")
		return &authorizationv1.ResourceAttributes{Namespace: binding.GetNamespace(), Verb: first("verbs"),
			Group: first("apiGroups"), Resource: resource, Subresource: subresource, Name: first("resourceNames")}, true
	}
	return nil, false
}

// Request is one API request a client made, as the API server's
// authorization sees it.
type Request struct {
	Verb, APIGroup, Resource, Subresource, Namespace, Name string
	// LabelSelector of a list or watch.
	LabelSelector string
	// Code is the response's status code (0 when none came).
	Code int
}

// Requests records the API requests made through a rest.Config.
type Requests struct {
	mu   sync.Mutex
	seen []Request
}

// Record makes every request sent through cfg (a copy is returned) be
// recorded.
func (r *Requests) Record(cfg *rest.Config) *rest.Config {
	out := rest.CopyConfig(cfg)
	parser := &request.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}
	out.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(req)
			if info, perr := parser.NewRequestInfo(req); perr == nil && info.IsResourceRequest {
				q := Request{
					Verb: info.Verb, APIGroup: info.APIGroup, Resource: info.Resource, Subresource: info.Subresource,
					Namespace: info.Namespace, Name: info.Name, LabelSelector: req.URL.Query().Get("labelSelector"),
				}
				if resp != nil {
					q.Code = resp.StatusCode
				}
				r.mu.Lock()
				r.seen = append(r.seen, q)
				r.mu.Unlock()
			}
			return resp, err
		})
	})
	return out
}

// Matching returns the recorded requests for which keep is true.
func (r *Requests) Matching(keep func(Request) bool) []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.DeleteFunc(slices.Clone(r.seen), func(q Request) bool { return !keep(q) })
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
