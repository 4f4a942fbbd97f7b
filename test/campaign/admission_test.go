package campaign

import (
	"context"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/cli"
)

// warningsClient records the admission warnings the API server returns.
type warningsClient struct {
	mu  sync.Mutex
	got []string
}

func (w *warningsClient) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	w.got = append(w.got, text)
	w.mu.Unlock()
}

func (w *warningsClient) take() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := strings.Join(w.got, "\n")
	w.got = nil
	return s
}

func withWarnings(t *testing.T) (client.Client, *warningsClient) {
	t.Helper()
	w := &warningsClient{}
	c := rest.CopyConfig(cfg)
	c.WarningHandlerWithContext = w
	cl, err := client.New(c, client.Options{Scheme: cli.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return cl, w
}

// causes renders the field causes of an Invalid error, one per line.
func causes(err error) string {
	var s apierrors.APIStatus
	if !apierrors.IsInvalid(err) {
		return "not Invalid: " + errString(err)
	}
	s = err.(apierrors.APIStatus)
	var out []string
	for _, c := range s.Status().Details.Causes {
		out = append(out, c.Field+": "+c.Message)
	}
	return strings.Join(out, "\n")
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestCampaignAdmission(t *testing.T) {
	ns := newNamespace(t)
	cl, warnings := withWarnings(t)
	contacts := func(ids ...string) []v1alpha1.CampaignContact {
		var out []v1alpha1.CampaignContact
		for _, id := range ids {
			out = append(out, v1alpha1.CampaignContact{ID: id, Inputs: map[string]string{"firstName": "X"}})
		}
		return out
	}

	// Before its flow exists: admitted, with a warning (GitOps order).
	c := newCampaign(ns, "early", v1alpha1.CampaignSpec{Audience: v1alpha1.Audience{Contacts: contacts("15550001111")}})
	if err := cl.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	if w := warnings.take(); !strings.Contains(w, `ChatFlow "promo" does not exist`) {
		t.Errorf("warnings %q", w)
	}

	f, b := promoFlow(ns, v1alpha1.StateUnpublished), promoBinding(ns, 20)
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "promo-credentials", Namespace: ns}, StringData: secretKeys}, f, b)

	for name, tc := range map[string]struct {
		spec v1alpha1.CampaignSpec
		want []string
	}{
		"contacts that are not WhatsApp numbers, or twice": {
			spec: v1alpha1.CampaignSpec{Audience: v1alpha1.Audience{Contacts: contacts("15550001111", "+1 555 000 1111", "hello")}},
			want: []string{
				`spec.audience.contacts[1].id: Duplicate value: "+1 555 000 1111"`,
				`spec.audience.contacts[2].id: Invalid value: "hello": "hello" is not a phone number`,
			},
		},
		"inputs the flow does not declare": {
			spec: v1alpha1.CampaignSpec{
				Audience: v1alpha1.Audience{Contacts: []v1alpha1.CampaignContact{{ID: "15550001111", Inputs: map[string]string{"frstName": "X"}}},
					Columns: v1alpha1.AudienceColumns{Inputs: []v1alpha1.ColumnInput{{Column: "First", Input: "first"}}}},
				Inputs: []v1alpha1.CampaignInput{{Name: "coupon", Value: "x"}},
			},
			want: []string{
				`spec.inputs[0].name: Invalid value: "coupon": ChatFlow promo declares no input "coupon"`,
				`spec.audience.columns.inputs[0].input: Invalid value: "first"`,
				`spec.audience.contacts[0].inputs[frstName]: Invalid value: "frstName"`,
			},
		},
		"quiet hours in a time zone that does not exist": {
			spec: v1alpha1.CampaignSpec{Audience: v1alpha1.Audience{Contacts: contacts("15550001111")},
				QuietHours: &v1alpha1.QuietHours{Start: "21:00", End: "08:00", TimeZone: "Europe/Atlantis"}},
			want: []string{`spec.quietHours.timeZone: Invalid value: "Europe/Atlantis": not a time zone the operator knows`},
		},
		"no audience": {
			spec: v1alpha1.CampaignSpec{},
			want: []string{`spec.audience: Invalid value: an audience needs contacts listed inline or CSV sources`},
		},
		"a source naming both a ConfigMap and a Secret": {
			spec: v1alpha1.CampaignSpec{Audience: v1alpha1.Audience{Sources: []v1alpha1.AudienceSource{{
				ConfigMapKeyRef: &v1alpha1.ConfigMapKeySelector{Name: "a", Key: "b"}, SecretKeyRef: &v1alpha1.SecretKeySelector{Name: "a", Key: "b"}}}}},
			want: []string{`spec.audience.sources[0]: Invalid value: set exactly one of configMapKeyRef and secretKeyRef`},
		},
	} {
		t.Run(name, func(t *testing.T) {
			err := cl.Create(ctx, newCampaign(ns, "bad", tc.spec), client.DryRunAll)
			got := causes(err)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("causes:\n%s\nwant one containing %q", got, w)
				}
			}
		})
	}

	// An Unpublished flow and a rate above the account's: admitted, with
	// warnings saying what will happen.
	ok := newCampaign(ns, "ok", v1alpha1.CampaignSpec{Rate: 100, Audience: v1alpha1.Audience{Contacts: contacts("15550001111")}})
	if err := cl.Create(ctx, ok); err != nil {
		t.Fatal(err)
	}
	w := warnings.take()
	for _, want := range []string{`ChatFlow "promo" is Unpublished`, "spec.rate: spec.rate 100 exceeds the send rate of the WhatsApp account (20 per second"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings %q lack %q", w, want)
		}
	}
	// The flow of a campaign never changes.
	err := tryUpdate(cl, ok, func(ok *v1alpha1.Campaign) { ok.Spec.FlowRef.Name = "other" })
	if !strings.Contains(causes(err), "spec.flowRef.name: Forbidden: spec.flowRef is immutable") {
		t.Errorf("changing spec.flowRef: %s", causes(err))
	}

	// A flow triggered by a channel cannot run a campaign.
	chat := promoFlow(ns, v1alpha1.StateUnpublished)
	chat.Name = "chat"
	chat.Spec.Trigger = v1alpha1.Trigger{Type: v1alpha1.TriggerWhatsApp}
	chat.Spec.Nodes[1].SendMessage = &v1alpha1.SendMessageNode{Text: "hi"}
	create(t, chat)
	bad := newCampaign(ns, "wrong", v1alpha1.CampaignSpec{Audience: v1alpha1.Audience{Contacts: contacts("15550001111")}})
	bad.Spec.FlowRef.Name = "chat"
	if err := cl.Create(ctx, bad); !strings.Contains(causes(err), "spec.flowRef.name: Invalid value: \"chat\": ChatFlow \"chat\" is triggered by WhatsApp: a campaign starts Manual flows") {
		t.Errorf("a campaign of a WhatsApp flow: %s", causes(err))
	}
}
