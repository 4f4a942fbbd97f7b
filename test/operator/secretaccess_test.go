package operator

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/cli"
	"github.com/chatflow-dev/chatflow/internal/testenv"
)

// asUser is a client of the API server acting as user (impersonated).
func asUser(user string) client.Client {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:authenticated"}}
	k, err := client.New(c, client.Options{Scheme: cli.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	return k
}

// grant binds user in ns to the chart's chatflow-editor ClusterRole and to
// get on the named Secrets only.
func grant(user, ns string, secrets ...string) {
	create(
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: user + "-editor", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "chatflow-editor"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
		},
		&rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: user + "-secrets", Namespace: ns},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}, ResourceNames: secrets}},
		},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: user + "-secrets", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: user + "-secrets"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
		},
	)
	granted := []authorizationv1.ResourceAttributes{{Namespace: ns, Verb: "create", Group: v1alpha1.GroupVersion.Group, Resource: "chatflows"}}
	for _, s := range secrets {
		granted = append(granted, authorizationv1.ResourceAttributes{Namespace: ns, Verb: "get", Resource: "secrets", Name: s})
	}
	Expect(testenv.AwaitAccess(ctx, k8s, user, []string{"system:authenticated"}, granted...)).To(Succeed())
}

var _ = Describe("Referencing a Secret", Ordered, func() {
	var (
		ns    string
		alice client.Client
	)
	BeforeAll(func() {
		ns = newNamespace()
		create(secret("orders-api", ns), secret("payments", ns), credentials("shop", ns), credentials("vault", ns))
		grant("alice", ns, "orders-api", "shop-credentials")
		alice = asUser("alice")
	})

	It("in a flow needs get on the Secret: the webhook names the field and the permission", func() {
		Expect(alice.Create(ctx, withHeaderSecret(flow("allowed", ns, v1alpha1.StateUnpublished), "orders-api"))).To(Succeed(),
			"chatflow-editor and get on the Secret are enough")

		err := alice.Create(ctx, withHeaderSecret(flow("exfiltrate", ns, v1alpha1.StateUnpublished), "payments"))
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(And(
			ContainSubstring(`admission webhook "vchatflow-v1alpha1.chatflow.dev" denied the request`),
			ContainSubstring("spec.nodes[3].httpRequest.headers[0].valueFrom.secretKeyRef.name: Forbidden: alice may not get Secret payments in namespace "+ns),
			ContainSubstring("ask for get on secrets/payments in "+ns),
		))
	})

	It("set up by someone who may read it cannot be redirected by someone who may not", func() {
		f := withHeaderSecret(flow("admins", ns, v1alpha1.StateUnpublished), "payments")
		create(f) // the suite's client is a cluster admin
		err := updateAs(alice, f, func(f *v1alpha1.ChatFlow) { f.Spec.Nodes[3].HTTPRequest.URL = "https://collector.example.org/" })
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("alice may not get Secret payments"))
		Expect(updateAs(alice, f, func(f *v1alpha1.ChatFlow) { f.Spec.Remark = "still hers to describe" })).To(Succeed())
	})

	It("in a binding needs get on it, inside the API server (the policy) and in the webhook", func() {
		b := binding("vault", ns, "allowed", "acct-vault") // credentials Secret vault-credentials
		err := alice.Create(ctx, b.DeepCopy())
		Expect(apierrors.IsForbidden(err) || apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(And(
			ContainSubstring("ValidatingAdmissionPolicy 'require-credentials-access'"),
			ContainSubstring("spec.credentialsRef.name: alice may not get Secret vault-credentials in namespace "+ns),
		))

		By("the webhook alone gives the same answer")
		withoutPolicyBinding("require-credentials-access")
		Eventually(func() string {
			return alice.Create(ctx, b.DeepCopy()).Error()
		}).Should(And(
			ContainSubstring(`admission webhook "vchannelbinding-v1alpha1.chatflow.dev" denied the request`),
			ContainSubstring("spec.credentialsRef.name: Forbidden: alice may not get Secret vault-credentials"),
		))

		ok := binding("shop", ns, "allowed", "acct-shop")
		Expect(alice.Create(ctx, ok)).To(Succeed())
	})

	It("in a campaign's audience or opt-out list needs get on it: the webhook names the field", func() {
		campaign := func(name, audience, optOut string) *v1alpha1.Campaign {
			return &v1alpha1.Campaign{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: v1alpha1.CampaignSpec{
				FlowRef: v1alpha1.FlowReference{Name: "promo"},
				Audience: v1alpha1.Audience{Sources: []v1alpha1.AudienceSource{
					{ConfigMapKeyRef: &v1alpha1.ConfigMapKeySelector{Name: "public-list", Key: "contacts.csv"}},
					{SecretKeyRef: &v1alpha1.SecretKeySelector{Name: audience, Key: "contacts.csv"}},
				}},
				OptOut: &v1alpha1.AudienceSource{SecretKeyRef: &v1alpha1.SecretKeySelector{Name: optOut, Key: "ids"}},
			}}
		}
		err := alice.Create(ctx, campaign("vip", "payments", "orders-api"))
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(And(
			ContainSubstring(`admission webhook "vcampaign-v1alpha1.chatflow.dev" denied the request`),
			ContainSubstring("spec.audience.sources[1].secretKeyRef.name: Forbidden: alice may not get Secret payments in namespace "+ns),
		))
		err = alice.Create(ctx, campaign("stop", "orders-api", "payments"))
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("spec.optOut.secretKeyRef.name: Forbidden: alice may not get Secret payments"))

		Expect(alice.Create(ctx, campaign("allowed", "orders-api", "orders-api"))).To(Succeed(),
			"chatflow-editor and get on the Secrets are enough (the flow not existing yet is a warning)")
	})

	It("a binding's apiBaseURL is https, to a host the operator allows", func() {
		b := binding("elsewhere", ns, "allowed", "acct-elsewhere")
		b.Spec.CredentialsRef.Name = "shop-credentials"
		b.Spec.APIBaseURL = "https://collector.example.org/v21.0"
		err := alice.Create(ctx, b)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("spec.apiBaseURL: Invalid value: \"https://collector.example.org/v21.0\": host collector.example.org is not one the operator allows"))
	})

	It("chatflow-viewer reads flows, and nothing else", func() {
		create(&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "bob-viewer", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "chatflow-viewer"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "bob"}},
		})
		bob := asUser("bob")
		Eventually(func() error { return bob.List(ctx, &v1alpha1.ChatFlowList{}, client.InNamespace(ns)) }).Should(Succeed())
		err := bob.Create(ctx, flow("by-bob", ns, v1alpha1.StateUnpublished))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
		err = bob.Get(ctx, client.ObjectKey{Namespace: ns, Name: "orders-api"}, &corev1.Secret{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
	})
})

// updateAs re-reads obj, mutates it and writes it back as c, retrying on
// conflicts (update does it as the suite's admin).
func updateAs[T client.Object](c client.Client, obj T, mutate func(T)) error {
	var err error
	for range 5 {
		if err = c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate(obj)
		if err = c.Update(ctx, obj); !apierrors.IsConflict(err) {
			return err
		}
	}
	return err
}
