package campaign

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/internal/cli"
	"github.com/chatflow-dev/chatflow/test/campaignload"
	"github.com/chatflow-dev/chatflow/test/procs"
)

const runToken = "campaign-run-token"

// accountOf is the WhatsApp phone number id of a namespace's promo flow:
// an account serves one flow in the cluster, so each test namespace has
// its own.
func accountOf(ns string) string {
	return fmt.Sprintf("1065%011d", crc32.ChecksumIEEE([]byte(ns)))
}

// promoFlow is a Manual flow that sends a WhatsApp template and ends.
func promoFlow(ns string, state v1alpha1.FlowState) *v1alpha1.ChatFlow {
	tmpl := &v1alpha1.WhatsAppTemplate{Name: "spring_offer", Language: "en_US", Components: []v1alpha1.TemplateComponent{{
		Type: "body", Parameters: []v1alpha1.TemplateParameter{{Type: "text", Text: "{{ trigger.firstName }}"}},
	}}}
	return &v1alpha1.ChatFlow{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ChatFlow"},
		ObjectMeta: metav1.ObjectMeta{Name: "promo", Namespace: ns},
		Spec: v1alpha1.ChatFlowSpec{
			State: state,
			Trigger: v1alpha1.Trigger{Type: v1alpha1.TriggerManual, Inputs: []v1alpha1.TriggerInput{
				{Name: "firstName", Required: true}, {Name: "code"},
			}},
			Nodes: []v1alpha1.Node{
				{ID: "start", Type: v1alpha1.NodeStart, Next: "offer"},
				{ID: "offer", Type: v1alpha1.NodeSendMessage, SendMessage: &v1alpha1.SendMessageNode{Template: tmpl}, Next: "end"},
				{ID: "end", Type: v1alpha1.NodeEnd},
			},
		},
	}
}

func promoBinding(ns string, sendRate int32) *v1alpha1.ChannelBinding {
	return &v1alpha1.ChannelBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ChannelBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: "promo-whatsapp", Namespace: ns},
		Spec: v1alpha1.ChannelBindingSpec{
			FlowRef:        v1alpha1.FlowReference{Name: "promo"},
			Channel:        v1alpha1.ChannelWhatsApp,
			Account:        v1alpha1.Account{Name: "Shop", ID: accountOf(ns)},
			CredentialsRef: v1alpha1.SecretReference{Name: "promo-credentials"},
			APIBaseURL:     sandURL,
			SendRate:       sendRate,
		},
	}
}

var secretKeys = map[string]string{"accessToken": "EAAG", "appSecret": "s3cret", "verifyToken": "verify", "runToken": runToken}

// publishPromo creates the promo flow with its binding and Secret, reports
// its executor available and runs it as an executor process.
func publishPromo(t *testing.T, ns string, sendRate int32) (*v1alpha1.ChatFlow, *procs.Executor) {
	t.Helper()
	f, b := promoFlow(ns, v1alpha1.StatePublished), promoBinding(ns, sendRate)
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "promo-credentials", Namespace: ns}, StringData: secretKeys}, f, b)
	live(t, f)
	return f, startExecutor(t, f, b, "memory")
}

// startExecutor runs a flow's executor as a process and points the
// manager's resolver at it.
func startExecutor(t *testing.T, f *v1alpha1.ChatFlow, b *v1alpha1.ChannelBinding, store string) *procs.Executor {
	t.Helper()
	// The manifests the operator writes into the revision's ConfigMap.
	fy, err := builders.FlowManifest(f)
	if err != nil {
		t.Fatal(err)
	}
	by, err := builders.BindingManifest(b, "")
	if err != nil {
		t.Fatal(err)
	}
	e := procs.StartExecutor(t, procs.ExecutorSpec{Flow: string(fy), Binding: string(by), Credentials: secretKeys, Store: store})
	key := f.Namespace + "/" + builders.ExecutorName(f.Name)
	executors.Store(key, e.URL)
	t.Cleanup(func() { executors.Delete(key) })
	return e
}

func audienceConfigMap(ns, name, csv string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: map[string]string{"contacts.csv": csv}}
}

func source(name string) v1alpha1.AudienceSource {
	return v1alpha1.AudienceSource{ConfigMapKeyRef: &v1alpha1.ConfigMapKeySelector{Name: name, Key: "contacts.csv"}}
}

func newCampaign(ns, name string, spec v1alpha1.CampaignSpec) *v1alpha1.Campaign {
	spec.FlowRef = v1alpha1.FlowReference{Name: "promo"}
	return &v1alpha1.Campaign{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
}

// sent counts the messages the sandbox received per recipient.
func sent(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	var after int64
	for {
		ms, err := procs.SandboxMessages(ctx, sandURL, "", after, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 {
			return out
		}
		for _, m := range ms {
			out[m.To]++
			after = m.Seq
		}
	}
}

func complete(c *v1alpha1.Campaign) func() string {
	return func() string {
		if got := conditionOf(c, v1alpha1.ConditionComplete); got != "True/Completed" {
			return fmt.Sprintf("Complete is %q; status %+v", got, c.Status)
		}
		return ""
	}
}

// TestCampaignStartsEachContactOnce runs a campaign over inline contacts and
// a CSV in a ConfigMap with an opted-out, an invalid, an incomplete and a
// duplicated contact, then grows and edits the audience: every valid
// contact gets the template exactly once, and each skip is counted.
func TestCampaignStartsEachContactOnce(t *testing.T) {
	ns := newNamespace(t)
	publishPromo(t, ns, 0)
	var csv strings.Builder
	csv.WriteString("contact,name,firstName\n")
	for i := range 20 {
		fmt.Fprintf(&csv, "+1 555 100 %04d,Person %d,P%d\n", i, i, i)
	}
	csv.WriteString("15551000003,Again,Again\n")   // a duplicate of row 3
	csv.WriteString("not-a-phone,Bad,Bad\n")       // invalid id
	csv.WriteString("15551009998,NoInput,\n")      // the required firstName missing
	csv.WriteString("+1-555-100-9999,Stop,Stop\n") // opted out
	create(t,
		audienceConfigMap(ns, "list", csv.String()),
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "stop", Namespace: ns}, Data: map[string]string{"ids": "15551009999\n"}},
	)
	c := newCampaign(ns, "spring", v1alpha1.CampaignSpec{
		Audience: v1alpha1.Audience{
			Contacts: []v1alpha1.CampaignContact{{ID: "15552000001", Name: "Inline", Inputs: map[string]string{"firstName": "Ina", "code": "VIP"}}},
			Sources:  []v1alpha1.AudienceSource{source("list")},
		},
		Inputs: []v1alpha1.CampaignInput{{Name: "code", Value: "SPRING"}},
		OptOut: &v1alpha1.AudienceSource{ConfigMapKeyRef: &v1alpha1.ConfigMapKeySelector{Name: "stop", Key: "ids"}},
		Rate:   50,
	})
	create(t, c)
	eventually(t, 60*time.Second, "the campaign completes", complete(c))
	st := c.Status
	want := v1alpha1.SkippedCounts{Total: 4, OptedOut: 1, InvalidInput: 2, Duplicate: 1}
	if st.Total != 25 || st.Started != 21 || st.Done != 21 || st.Failed != 0 || st.Skipped != want || st.Pending != 0 || st.Progress != 100 {
		t.Fatalf("status %+v", st)
	}
	if st.StartTime == nil || st.FinishTime == nil || st.FinishTime.Before(st.StartTime) || conditionOf(c, v1alpha1.ConditionReady) != "True/Completed" {
		t.Errorf("times %v %v, Ready %s", st.StartTime, st.FinishTime, conditionOf(c, v1alpha1.ConditionReady))
	}
	got := sent(t)
	for i := range 20 {
		if n := got[fmt.Sprintf("1555100%04d", i)]; n != 1 {
			t.Errorf("contact %d got %d messages, want 1", i, n)
		}
	}
	if got["15552000001"] != 1 || got["15551009999"] != 0 || got["15551009998"] != 0 {
		t.Errorf("inline %d, opted out %d, incomplete %d", got["15552000001"], got["15551009999"], got["15551009998"])
	}

	// Rows appended: only they are started.
	update(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "list", Namespace: ns}}, func(cm *corev1.ConfigMap) {
		cm.Data["contacts.csv"] += "15553000001,New,Nia\n15553000002,New,Ned\n"
	})
	eventually(t, 60*time.Second, "the appended contacts are started", func() string {
		if c := get(t, c); c.Status.Started != 23 || conditionOf(c, v1alpha1.ConditionComplete) != "True/Completed" {
			return fmt.Sprintf("started %d, Complete %s", c.Status.Started, conditionOf(c, v1alpha1.ConditionComplete))
		}
		return ""
	})
	// An edited row in the middle: the campaign goes through the whole
	// audience again, and nobody is started twice.
	update(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "list", Namespace: ns}}, func(cm *corev1.ConfigMap) {
		cm.Data["contacts.csv"] = strings.Replace(cm.Data["contacts.csv"], "Person 5,", "Person Five,", 1) + "15553000003,New,Nox\n"
	})
	eventually(t, 60*time.Second, "the edited audience is handled", func() string {
		if c := get(t, c); c.Status.Started != 24 || c.Status.Total != 28 || conditionOf(c, v1alpha1.ConditionComplete) != "True/Completed" {
			return fmt.Sprintf("started %d of %d, Complete %s", c.Status.Started, c.Status.Total, conditionOf(c, v1alpha1.ConditionComplete))
		}
		return ""
	})
	got = sent(t)
	for _, id := range []string{"15551000005", "15553000001", "15553000002", "15553000003", "15552000001"} {
		if got[id] != 1 {
			t.Errorf("%s got %d messages, want exactly 1", id, got[id])
		}
	}
	if total := sum(got); total != 24 {
		t.Errorf("the sandbox got %d messages for 24 contacts", total)
	}
}

// TestCampaignQuietHoursDeferStarts: inside quiet hours (on the manager's
// calendar clock, moved by the test) nobody is started; at their end the
// campaign starts everyone.
func TestCampaignQuietHoursDeferStarts(t *testing.T) {
	ns := newNamespace(t)
	publishPromo(t, ns, 0)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	clock.set(time.Date(2026, 3, 10, 22, 30, 0, 0, berlin))
	t.Cleanup(func() { clock.set(time.Now()) })
	before := sum(sent(t))
	c := newCampaign(ns, "night", v1alpha1.CampaignSpec{
		Audience:   v1alpha1.Audience{Contacts: []v1alpha1.CampaignContact{{ID: "15554000001", Inputs: map[string]string{"firstName": "A"}}, {ID: "15554000002", Inputs: map[string]string{"firstName": "B"}}}},
		QuietHours: &v1alpha1.QuietHours{Start: "21:00", End: "08:00", TimeZone: "Europe/Berlin"},
	})
	create(t, c)
	eventually(t, 30*time.Second, "the campaign holds in quiet hours", func() string {
		if got := conditionOf(c, v1alpha1.ConditionReady); got != "True/QuietHours" {
			return "Ready is " + got
		}
		return ""
	})
	if msg := readyMessage(t, c); !strings.Contains(msg, "2026-03-11T08:00:00+01:00") {
		t.Errorf("the message %q does not say when quiet hours end", msg)
	}
	time.Sleep(time.Second)
	if n := sum(sent(t)) - before; n != 0 || get(t, c).Status.Started != 0 {
		t.Fatalf("%d messages sent in quiet hours", n)
	}
	clock.set(time.Date(2026, 3, 11, 8, 0, 30, 0, berlin))
	eventually(t, 30*time.Second, "the campaign runs at the end of quiet hours", complete(c))
	if got := sent(t); got["15554000001"] != 1 || got["15554000002"] != 1 || c.Status.Done != 2 {
		t.Errorf("messages %v, done %d", got, c.Status.Done)
	}
}

// TestCampaignSuspendResume: suspend stops new starts; resume goes on from
// where it stopped, nobody started twice.
func TestCampaignSuspendResume(t *testing.T) {
	ns := newNamespace(t)
	publishPromo(t, ns, 0)
	var csv strings.Builder
	csv.WriteString("contact,firstName\n")
	for i := range 120 {
		fmt.Fprintf(&csv, "1555500%04d,P%d\n", i, i)
	}
	create(t, audienceConfigMap(ns, "list", csv.String()))
	c := newCampaign(ns, "slow", v1alpha1.CampaignSpec{Audience: v1alpha1.Audience{Sources: []v1alpha1.AudienceSource{source("list")}}, Rate: 30})
	create(t, c)
	eventually(t, 30*time.Second, "some contacts started", func() string {
		if n := get(t, c).Status.Started; n < 20 {
			return fmt.Sprintf("started %d", n)
		}
		return ""
	})
	update(t, c, func(c *v1alpha1.Campaign) { c.Spec.Suspend = true })
	eventually(t, 30*time.Second, "the campaign is suspended", func() string {
		if got := conditionOf(c, v1alpha1.ConditionReady); got != "True/Suspended" {
			return "Ready is " + got
		}
		return ""
	})
	held := get(t, c).Status.Started
	sentHeld := countPrefix(sent(t), "1555500")
	time.Sleep(1500 * time.Millisecond)
	if n := get(t, c).Status.Started; n != held || n >= 120 {
		t.Fatalf("started went from %d to %d while suspended", held, n)
	}
	if n := countPrefix(sent(t), "1555500"); n != sentHeld {
		t.Fatalf("the sandbox got %d more messages while suspended", n-sentHeld)
	}
	update(t, c, func(c *v1alpha1.Campaign) { c.Spec.Suspend = false })
	eventually(t, 60*time.Second, "the campaign completes after resuming", complete(c))
	if c.Status.Done != 120 || c.Status.Started != 120 {
		t.Errorf("started %d, done %d of 120", c.Status.Started, c.Status.Done)
	}
	got := sent(t)
	for i := range 120 {
		if n := got[fmt.Sprintf("1555500%04d", i)]; n != 1 {
			t.Errorf("contact %d got %d messages", i, n)
		}
	}
}

// TestCampaignWaitsForItsFlowAndStopsWhenDeleted: a campaign on an
// Unpublished flow waits with a condition saying so, runs once the flow is
// published, and deleting it stops it.
func TestCampaignWaitsForItsFlowAndStopsWhenDeleted(t *testing.T) {
	ns := newNamespace(t)
	f, b := promoFlow(ns, v1alpha1.StateUnpublished), promoBinding(ns, 0)
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "promo-credentials", Namespace: ns}, StringData: secretKeys}, f, b)
	var csv strings.Builder
	csv.WriteString("contact,firstName\n")
	for i := range 300 {
		fmt.Fprintf(&csv, "1555600%04d,P%d\n", i, i)
	}
	create(t, audienceConfigMap(ns, "list", csv.String()))
	c := newCampaign(ns, "later", v1alpha1.CampaignSpec{Audience: v1alpha1.Audience{Sources: []v1alpha1.AudienceSource{source("list")}}, Rate: 20})
	create(t, c)
	eventually(t, 30*time.Second, "the campaign waits for its flow", func() string {
		if r, rec := conditionOf(c, v1alpha1.ConditionReady), conditionOf(c, v1alpha1.ConditionReconciling); r != "False/FlowUnpublished" || rec != "True/FlowUnpublished" {
			return fmt.Sprintf("Ready %s, Reconciling %s", r, rec)
		}
		return ""
	})
	update(t, f, func(f *v1alpha1.ChatFlow) { f.Spec.State = v1alpha1.StatePublished })
	live(t, f)
	startExecutor(t, f, b, "memory")
	eventually(t, 30*time.Second, "the campaign runs", func() string {
		if n := get(t, c).Status.Started; n < 20 {
			return fmt.Sprintf("started %d", n)
		}
		return ""
	})
	if err := k8s.Delete(ctx, c); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // a batch handed over before the deletion may still send
	n := countPrefix(sent(t), "1555600")
	time.Sleep(1500 * time.Millisecond)
	if m := countPrefix(sent(t), "1555600"); m != n || m >= 300 {
		t.Errorf("the sandbox went from %d to %d messages after the campaign was deleted", n, m)
	}
}

// TestCampaignRateIsClampedToTheAccount: a rate above the binding's send
// rate runs at the send rate, and the RateClamped condition says so.
func TestCampaignRateIsClampedToTheAccount(t *testing.T) {
	ns := newNamespace(t)
	publishPromo(t, ns, 5)
	c := newCampaign(ns, "fast", v1alpha1.CampaignSpec{Rate: 500,
		Audience: v1alpha1.Audience{Contacts: []v1alpha1.CampaignContact{{ID: "15557000001", Inputs: map[string]string{"firstName": "A"}}}}})
	create(t, c)
	eventually(t, 30*time.Second, "the rate is clamped", func() string {
		if got := conditionOf(c, v1alpha1.ConditionRateClamped); got != "True/RateClamped" || c.Status.Rate != 5 {
			return fmt.Sprintf("RateClamped %s, rate %d", got, c.Status.Rate)
		}
		return ""
	})
	eventually(t, 30*time.Second, "the campaign completes", complete(c))

	// chatflow campaign status reads it from the cluster.
	t.Setenv("KUBECONFIG", campaignload.KubeconfigFile(t, cfg))
	var out bytes.Buffer
	cmd := cli.NewRoot()
	cmd.SetArgs([]string{"campaign", "status", "fast", "-n", ns})
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("chatflow campaign status: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"Campaign " + ns + "/fast of flow promo, 5 contacts per second",
		"Complete     True  Completed: every contact has an outcome: 1 done, 0 failed, 0 skipped of 1",
		"RateClamped  True  RateClamped: spec.rate 500 exceeds the send rate of the WhatsApp account (5 per second",
		"TOTAL  PENDING  STARTED  DONE  FAILED  OPTED OUT  INVALID  DUPLICATE  PROGRESS",
		"1        0        1     1       0          0        0          0      100%",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("chatflow campaign status lacks %q:\n%s", want, out.String())
		}
	}
}

func get(t *testing.T, c *v1alpha1.Campaign) *v1alpha1.Campaign {
	t.Helper()
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(c), c); err != nil {
		t.Fatal(err)
	}
	return c
}

func readyMessage(t *testing.T, c *v1alpha1.Campaign) string {
	for _, cond := range get(t, c).Status.Conditions {
		if cond.Type == v1alpha1.ConditionReady {
			return cond.Message
		}
	}
	return ""
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func countPrefix(m map[string]int, prefix string) int {
	n := 0
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}
