package gateway

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func binding(ns, name, flow string, ch v1alpha1.Channel, account, secret string, age int) v1alpha1.ChannelBinding {
	return v1alpha1.ChannelBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 1,
			CreationTimestamp: metav1.NewTime(epoch.Add(-time.Duration(age) * time.Hour))},
		Spec: v1alpha1.ChannelBindingSpec{
			FlowRef: v1alpha1.FlowReference{Name: flow}, Channel: ch,
			Account: v1alpha1.Account{ID: account}, CredentialsRef: v1alpha1.SecretReference{Name: secret},
		},
	}
}

func serving(b v1alpha1.ChannelBinding) v1alpha1.ChannelBinding {
	b.Status.ObservedGeneration = b.Generation
	b.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue}}
	return b
}

func secret(ns, name string, kv ...string) corev1.Secret {
	s := corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.Data[kv[i]] = []byte(kv[i+1])
	}
	return s
}

func service(ns, flow, ip string) corev1.Service {
	return corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: builders.ExecutorName(flow)},
		Spec: corev1.ServiceSpec{ClusterIP: ip, Ports: []corev1.ServicePort{
			{Name: "other", Port: 9}, {Name: builders.PortName, Port: builders.ServicePort}}},
	}
}

func TestBuildRoutesOneAppManyNumbers(t *testing.T) {
	tb := Build(Input{
		Bindings: []v1alpha1.ChannelBinding{
			binding("shop", "a", "orders", v1alpha1.ChannelWhatsApp, "111", "app", 1),
			binding("shop", "b", "support", v1alpha1.ChannelWhatsApp, "222", "app", 1),
			binding("shop", "c", "idle", v1alpha1.ChannelWhatsApp, "333", "app2", 1),
			binding("shop", "v", "bot", v1alpha1.ChannelViber, "pa1", "viber", 1),
		},
		Secrets: []corev1.Secret{
			secret("shop", "app", "appSecret", "s1", "verifyToken", "t1", "accessToken", "x"),
			secret("shop", "app2", "appSecret", "s2", "verifyToken", "t1"),
			secret("shop", "viber", "authToken", "vt"),
		},
		Services: []corev1.Service{service("shop", "orders", "10.0.0.1"), service("shop", "support", "None"), service("shop", "bot", "10.0.0.3")},
	})
	if len(tb.Problems) != 0 {
		t.Fatalf("problems: %+v", tb.Problems)
	}
	a := tb.Route(v1alpha1.ChannelWhatsApp, "111")
	if a == nil || a.Flow != "orders" || a.Secret != "s1" || a.VerifyToken != "t1" || a.Backend.URL() != "http://10.0.0.1:80" {
		t.Fatalf("route 111: %+v", a)
	}
	if b := tb.Route(v1alpha1.ChannelWhatsApp, "222"); b.Backend.URL() != "http://support-executor.shop.svc:80" {
		t.Errorf("a headless Service is reached by name: %s", b.Backend.URL())
	}
	if c := tb.Route(v1alpha1.ChannelWhatsApp, "333"); c == nil || c.Backend != nil {
		t.Errorf("an unpublished flow's binding is known (its secret verifies) but has no executor: %+v", c)
	}
	w := tb.channels[v1alpha1.ChannelWhatsApp]
	if len(w.secrets) != 2 || len(w.verifyTokens) != 1 {
		t.Errorf("distinct secrets %d, verify tokens %d; want 2 and 1", len(w.secrets), len(w.verifyTokens))
	}
	if v := tb.Route(v1alpha1.ChannelViber, "pa1"); v == nil || v.Secret != "vt" || v.VerifyToken != "" {
		t.Errorf("viber route: %+v", v)
	}
	if all, served := tb.Routes(v1alpha1.ChannelWhatsApp); all != 3 || served != 2 {
		t.Errorf("routes %d served %d", all, served)
	}
	if tb.Route(v1alpha1.ChannelMessenger, "111") != nil {
		t.Error("a WhatsApp account routed on Messenger")
	}
}

func TestBuildLeavesOutWhatCannotBeVerifiedOrIsNotInEffect(t *testing.T) {
	older := binding("team-a", "first", "f", v1alpha1.ChannelMessenger, "page", "s", 3)
	newer := binding("team-b", "second", "g", v1alpha1.ChannelMessenger, "page", "s", 1)
	deleting := binding("team-a", "gone", "h", v1alpha1.ChannelMessenger, "page2", "s", 5)
	now := metav1.Now()
	deleting.DeletionTimestamp = &now
	noKey := binding("team-a", "nokey", "k", v1alpha1.ChannelInstagram, "ig", "empty", 1)
	tests := []struct {
		name     string
		bindings []v1alpha1.ChannelBinding
		winner   string
		problems []string
	}{
		{"the oldest binding of an account wins, across namespaces", []v1alpha1.ChannelBinding{newer, older, deleting, noKey},
			"team-a/first", []string{"team-a/nokey", "team-b/second"}},
		{"a serving binding keeps the account", []v1alpha1.ChannelBinding{serving(newer), older},
			"team-b/second", []string{"team-a/first"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := Build(Input{
				Bindings: tt.bindings,
				Secrets: []corev1.Secret{secret("team-a", "s", "appSecret", "a"), secret("team-b", "s", "appSecret", "b"),
					secret("team-a", "empty", "appSecret", "")},
			})
			r := tb.Route(v1alpha1.ChannelMessenger, "page")
			if r == nil || r.Binding.String() != tt.winner {
				t.Fatalf("route %+v, want %s", r, tt.winner)
			}
			if tb.Route(v1alpha1.ChannelMessenger, "page2") != nil {
				t.Error("a binding being deleted is routed")
			}
			var got []string
			for _, p := range tb.Problems {
				got = append(got, p.Binding.String())
				if p.Reason == "" {
					t.Errorf("problem without a reason: %+v", p)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.problems, ",") {
				t.Errorf("problems %v, want %v", got, tt.problems)
			}
			// Only the winner's secret verifies the channel's requests.
			if m := tb.channels[v1alpha1.ChannelMessenger]; len(m.secrets) != 1 || m.secrets[0] != r.Secret {
				t.Errorf("secrets %q", m.secrets)
			}
		})
	}
}

func TestBackendOfAFlowWithALongName(t *testing.T) {
	long := strings.Repeat("flow.", 15) + "x"
	tb := Build(Input{Services: []corev1.Service{service("ns", long, "10.1.2.3")}})
	b := tb.Backend("ns", long)
	if b == nil || b.Name != builders.ExecutorName(long) || b.URL() != "http://10.1.2.3:80" {
		t.Fatalf("backend %+v", b)
	}
	if tb.Backend("other", long) != nil || tb.Backend("ns", "x") != nil {
		t.Fatal("a backend of another namespace or flow")
	}
}

func TestLogLimiter(t *testing.T) {
	l := logLimiter{interval: time.Minute, max: 2}
	if !l.allow("a", epoch) || l.allow("a", epoch.Add(59*time.Second)) || !l.allow("a", epoch.Add(61*time.Second)) {
		t.Fatal("once a minute per key")
	}
	if !l.allow("b", epoch) || !l.allow("c", epoch) || len(l.last) > 2 {
		t.Fatalf("bounded: %d keys", len(l.last))
	}
}
