package gateway

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/internal/testenv"
)

// TestWatchFollowsTheCluster runs Watch against a real kube-apiserver and
// checks that the routes follow what the operator and users do, without a
// restart: publish (the executor Service appears), Secret rotation,
// rebind, unpublish, the manager's credentials label, and namespaced mode.
func TestWatchFollowsTheCluster(t *testing.T) {
	env, err := testenv.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range []string{"shop", "other"} {
		must(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}

	tables := make(chan *Table, 1000)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- Watch(wctx, cfg, WatchOptions{Namespaces: []string{"shop"}, OnTable: func(t *Table) { tables <- t }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
	var current *Table
	waitFor := func(what string, ok func(*Table) bool) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for current == nil || !ok(current) {
			select {
			case current = <-tables:
			case <-deadline:
				t.Fatalf("the routes never showed %s; last problems: %+v", what, current.Problems)
			}
		}
	}
	waitFor("the first table", func(*Table) bool { return true })

	labelled := map[string]string{builders.LabelCredentials: "true"}
	creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "shop-app", Labels: labelled},
		StringData: map[string]string{"appSecret": "s1", "verifyToken": "v1", "accessToken": "a1"}}
	must(c.Create(ctx, creds))
	b := &v1alpha1.ChannelBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "orders-wa"},
		Spec: v1alpha1.ChannelBindingSpec{FlowRef: v1alpha1.FlowReference{Name: "orders"}, Channel: v1alpha1.ChannelWhatsApp,
			Account: v1alpha1.Account{ID: "111"}, CredentialsRef: v1alpha1.SecretReference{Name: "shop-app"}},
	}
	must(c.Create(ctx, b))
	waitFor("the binding, not yet published", func(t *Table) bool {
		r := t.Route(v1alpha1.ChannelWhatsApp, "111")
		return r != nil && r.Backend == nil && r.Secret == "s1" && r.VerifyToken == "v1"
	})

	// Publish: the operator creates the executor Service.
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: builders.ExecutorName("orders"), Labels: builders.Labels("orders")},
		Spec: corev1.ServiceSpec{Selector: builders.SelectorLabels("orders"),
			Ports: []corev1.ServicePort{{Name: builders.PortName, Port: builders.ServicePort}}},
	}
	must(c.Create(ctx, svc))
	waitFor("the published flow's executor", func(t *Table) bool {
		r := t.Route(v1alpha1.ChannelWhatsApp, "111")
		return r != nil && r.Backend != nil && r.Backend.Addr == svc.Spec.ClusterIP+":80" && t.Backend("shop", "orders") != nil
	})

	// Rotation: the app secret changes in the Secret.
	creds.Data = map[string][]byte{"appSecret": []byte("s2"), "verifyToken": []byte("v1"), "accessToken": []byte("a1")}
	creds.StringData = nil
	must(c.Update(ctx, creds))
	waitFor("the rotated secret", func(t *Table) bool {
		r := t.Route(v1alpha1.ChannelWhatsApp, "111")
		w := t.channels[v1alpha1.ChannelWhatsApp]
		return r != nil && r.Secret == "s2" && len(w.secrets) == 1 && w.secrets[0] == "s2"
	})

	// Rebind (the flow Unpublished, so allowed): another number.
	must(c.Get(ctx, client.ObjectKeyFromObject(b), b))
	b.Spec.Account.ID = "222"
	must(c.Update(ctx, b))
	waitFor("the rebound number", func(t *Table) bool {
		return t.Route(v1alpha1.ChannelWhatsApp, "222") != nil && t.Route(v1alpha1.ChannelWhatsApp, "111") == nil
	})

	// A Secret the manager has not labelled is not read: the binding is a
	// problem until the label comes.
	support := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "support-app"},
		StringData: map[string]string{"appSecret": "s3", "verifyToken": "v3"}}
	must(c.Create(ctx, support))
	must(c.Create(ctx, &v1alpha1.ChannelBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "support-ig"},
		Spec: v1alpha1.ChannelBindingSpec{FlowRef: v1alpha1.FlowReference{Name: "support"}, Channel: v1alpha1.ChannelInstagram,
			Account: v1alpha1.Account{ID: "ig-1"}, CredentialsRef: v1alpha1.SecretReference{Name: "support-app"}},
	}))
	waitFor("an unlabelled Secret reported", func(t *Table) bool {
		return len(t.Problems) == 1 && t.Problems[0].Binding.Name == "support-ig" && t.Route(v1alpha1.ChannelInstagram, "ig-1") == nil
	})
	support.Labels = labelled
	must(c.Update(ctx, support))
	waitFor("the labelled Secret read", func(t *Table) bool {
		r := t.Route(v1alpha1.ChannelInstagram, "ig-1")
		return r != nil && r.Secret == "s3" && len(t.Problems) == 0
	})

	// A namespace the gateway does not watch stays out.
	otherCreds := creds.DeepCopy()
	otherCreds.ObjectMeta = metav1.ObjectMeta{Namespace: "other", Name: "shop-app", Labels: labelled}
	must(c.Create(ctx, otherCreds))
	must(c.Create(ctx, &v1alpha1.ChannelBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "x"},
		Spec: v1alpha1.ChannelBindingSpec{FlowRef: v1alpha1.FlowReference{Name: "x"}, Channel: v1alpha1.ChannelWhatsApp,
			Account: v1alpha1.Account{ID: "333"}, CredentialsRef: v1alpha1.SecretReference{Name: "shop-app"}},
	}))

	// Unpublish: the Service goes; the binding stays known (its secret
	// still verifies) without an executor.
	must(c.Delete(ctx, svc))
	waitFor("the unpublished flow", func(t *Table) bool {
		r := t.Route(v1alpha1.ChannelWhatsApp, "222")
		return r != nil && r.Backend == nil && t.Backend("shop", "orders") == nil
	})
	if r := current.Route(v1alpha1.ChannelWhatsApp, "333"); r != nil {
		t.Fatalf("a binding of an unwatched namespace is routed: %+v", r)
	}
}

// TestKeepSecretKeys: the informer keeps a Secret's identity and the keys
// the gateway uses; access and run tokens never reach its memory.
func TestKeepSecretKeys(t *testing.T) {
	in := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "n", Name: "s", ResourceVersion: "7", Labels: map[string]string{"a": "b"},
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"stringData":{"accessToken":"x"}}`}},
		Data: map[string][]byte{"appSecret": []byte("1"), "verifyToken": []byte("2"), "authToken": []byte("3"),
			"accessToken": []byte("4"), "runToken": []byte("5")},
	}
	out, err := keepSecretKeys(in)
	if err != nil {
		t.Fatal(err)
	}
	s := out.(*corev1.Secret)
	if got := fmt.Sprint(s.Data); got != "map[appSecret:[49] authToken:[51] verifyToken:[50]]" {
		t.Fatalf("kept %s", got)
	}
	if s.Name != "s" || s.Namespace != "n" || s.ResourceVersion != "7" || s.Labels["a"] != "b" || len(s.Annotations) != 0 {
		t.Fatalf("metadata %+v", s.ObjectMeta)
	}
}
