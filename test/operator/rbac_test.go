package operator

import (
	"slices"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/internal/cli"
	"github.com/chatflow-dev/chatflow/internal/testenv"
)

// managerPermissions pins what the chart lets the manager do cluster-wide
// (group/resource: verbs), each for a reason config/rbac/README.md gives.
// A permission added to the markers fails here until it is justified
// there and here; one removed that the manager needs fails the suite,
// whose managers run with exactly the chart's RBAC.
var managerPermissions = map[string]string{
	"chatflow.dev/chatflows":                    "get,list,watch",                            // reconciled, read by the webhooks
	"chatflow.dev/channelbindings":              "get,list,patch,watch",                      // reconciled, read by the webhooks; the override finalizer
	"chatflow.dev/chatflows/status":             "get,patch,update",                          // one status patch per reconcile
	"chatflow.dev/channelbindings/status":       "get,patch,update",                          // one status patch per reconcile
	"chatflow.dev/languagemodels":               "get,list,watch",                            // reconciled, read for the flows that use them
	"chatflow.dev/languagemodels/status":        "get,patch,update",                          // one status patch per reconcile
	"chatflow.dev/chatflows/finalizers":         "update",                                    // blockOwnerDeletion on the executor objects
	"chatflow.dev/campaigns":                    "get,list,watch",                            // reconciled: the campaigns' dispatchers
	"chatflow.dev/campaigns/status":             "get,patch,update",                          // progress and conditions
	"apps/deployments":                          "create,delete,get,list,patch,update,watch", // the executors
	"apps/replicasets":                          "get,list,watch",                            // a revision's ConfigMap goes when no ReplicaSet uses it
	"/services":                                 "create,delete,get,list,patch,update,watch", // the executors' Services
	"/configmaps":                               "create,delete,get,list,patch,update,watch", // the revisions; a campaign's audience is read
	"/secrets":                                  "create,delete,get,list,patch,watch",        // labelled metadata cache, credential key checks, labels, store Secrets
	"/namespaces":                               "get",                                       // a terminating namespace may take Published flows
	"events.k8s.io/events":                      "create,patch",                              // events on flows and bindings
	"authorization.k8s.io/subjectaccessreviews": "create",                                    // may the requester read the Secrets it references?
	"admissionregistration.k8s.io/validatingwebhookconfigurations":    "get,list,watch", // the cert rotator finds its configuration
	"admissionregistration.k8s.io/validatingwebhookconfigurations[*]": "update",         // and injects its CA, by name
}

var _ = Describe("The manager's reach", func() {
	It("is the chart's ServiceAccount: what the chart does not grant is refused", func() {
		c, err := client.New(managerCfg, client.Options{Scheme: cli.Scheme()})
		Expect(err).NotTo(HaveOccurred())
		err = c.List(ctx, &corev1.PodList{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "listing pods: %v", err)
		Expect(err.Error()).To(ContainSubstring(`"system:serviceaccount:chatflow-system:chatflow-controller-manager"`))
		ns := newNamespace()
		err = c.Create(ctx, flow("by-the-manager", ns, v1alpha1.StateUnpublished))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the manager never writes flows: %v", err)

		for _, tt := range []struct {
			verb, group, resource, namespace string
			allowed                          bool
		}{
			{"list", "", "secrets", "", true}, // cluster-wide mode: the labelled cache spans namespaces
			{"update", "", "secrets", ns, false},
			{"deletecollection", "", "secrets", ns, false},
			{"create", "", "pods", ns, false},
			{"delete", "chatflow.dev", "chatflows", ns, false},
			{"update", "chatflow.dev", "chatflows", ns, false},
			{"create", "rbac.authorization.k8s.io", "rolebindings", ns, false},
			{"create", "apiextensions.k8s.io", "customresourcedefinitions", "", false},
			{"impersonate", "", "serviceaccounts", ns, false},
		} {
			Expect(managerMay(tt.verb, tt.group, tt.resource, tt.namespace)).To(Equal(tt.allowed), "%s %s/%s in %q", tt.verb, tt.group, tt.resource, tt.namespace)
		}
	})

	It("is pinned: the chart grants exactly the permissions that have a reason", func() {
		objs, err := testenv.RenderChart(managerRelease, managerNamespace, "--show-only", "templates/rbac.yaml")
		Expect(err).NotTo(HaveOccurred())
		got := map[string][]string{}
		for _, u := range objs {
			if u.GetKind() != "ClusterRole" || u.GetName() != "chatflow-manager-role" {
				continue
			}
			role := &rbacv1.ClusterRole{}
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, role)).To(Succeed())
			for _, r := range role.Rules {
				for _, g := range r.APIGroups {
					for _, res := range r.Resources {
						key := g + "/" + res
						if len(r.ResourceNames) > 0 {
							key += "[*]"
						}
						got[key] = append(got[key], r.Verbs...)
					}
				}
			}
		}
		pinned := map[string]string{}
		for k, verbs := range got {
			slices.Sort(verbs)
			pinned[k] = strings.Join(slices.Compact(verbs), ",")
		}
		Expect(pinned).To(Equal(managerPermissions))
	})

	It("never lists or watches a Secret that no Chatflow object references", func() {
		lists := managerRequests.Matching(func(r testenv.Request) bool {
			return r.Resource == "secrets" && (r.Verb == "list" || r.Verb == "watch")
		})
		Expect(lists).NotTo(BeEmpty(), "the manager's cache lists and watches the labelled Secrets")
		for _, r := range lists {
			Expect(r.LabelSelector).To(Equal(builders.LabelReferenced+"=true"), "%+v", r)
		}
	})
})

// managerMay asks the API server whether the manager's ServiceAccount may
// do something.
func managerMay(verb, group, resource, namespace string) bool {
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   managerCfg.Impersonate.UserName,
		Groups: managerCfg.Impersonate.Groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: verb, Group: group, Resource: resource, Namespace: namespace,
		},
	}}
	ExpectWithOffset(1, k8s.Create(ctx, sar)).To(Succeed())
	return sar.Status.Allowed
}
