package campaign

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/test/procs"
)

// deskFlow is a WhatsApp flow that calls billing and waits for it.
func deskFlow(ns string) *v1alpha1.ChatFlow {
	return &v1alpha1.ChatFlow{
		ObjectMeta: metav1.ObjectMeta{Name: "desk", Namespace: ns},
		Spec: v1alpha1.ChatFlowSpec{
			State:   v1alpha1.StatePublished,
			Trigger: v1alpha1.Trigger{Type: v1alpha1.TriggerWhatsApp},
			Nodes: []v1alpha1.Node{
				{ID: "start", Type: v1alpha1.NodeStart, Next: "call"},
				{ID: "call", Type: v1alpha1.NodeForwardToFlow, Next: "back", ForwardToFlow: &v1alpha1.ForwardToFlowNode{
					FlowRef: v1alpha1.FlowReference{Name: "billing"}, Return: true, SaveAs: "bill",
					Variables: []v1alpha1.Assignment{{Name: "order", Value: ptr("A-{{ message.text }}")}},
				}},
				{ID: "back", Type: v1alpha1.NodeSendMessage, SendMessage: &v1alpha1.SendMessageNode{Text: "Back at the desk with {{ vars.bill.amount }}"}, Next: "end"},
				{ID: "end", Type: v1alpha1.NodeEnd},
			},
		},
	}
}

func billingFlow(ns string, state v1alpha1.FlowState, question string) *v1alpha1.ChatFlow {
	return &v1alpha1.ChatFlow{
		ObjectMeta: metav1.ObjectMeta{Name: "billing", Namespace: ns},
		Spec: v1alpha1.ChatFlowSpec{
			State:     state,
			Trigger:   v1alpha1.Trigger{Type: v1alpha1.TriggerManual, Inputs: []v1alpha1.TriggerInput{{Name: "order", Required: true}}},
			Variables: []v1alpha1.Variable{{Name: "amount", Value: "?"}},
			Nodes: []v1alpha1.Node{
				{ID: "start", Type: v1alpha1.NodeStart, Next: "ask"},
				{ID: "ask", Type: v1alpha1.NodeSendMessage, SendMessage: &v1alpha1.SendMessageNode{Text: question + " {{ trigger.order }}"}, Next: "wait"},
				{ID: "wait", Type: v1alpha1.NodeWaitForReply, WaitForReply: &v1alpha1.WaitForReplyNode{SaveAs: "amount"}, Next: "end"},
				{ID: "end", Type: v1alpha1.NodeEnd},
			},
		},
	}
}

func ptr[T any](v T) *T { return &v }

// TestForwardToFlowAdmission: admission refuses a target that does not
// exist and a cycle between flows, and warns about an Unpublished target.
func TestForwardToFlowAdmission(t *testing.T) {
	ns := newNamespace(t)
	cl, warnings := withWarnings(t)
	desk := deskFlow(ns)
	desk.Spec.State = v1alpha1.StateUnpublished
	if err := cl.Create(ctx, desk.DeepCopy()); !strings.Contains(causes(err), `spec.nodes[1].forwardToFlow.flowRef.name: Not found: "billing": no ChatFlow billing in namespace`) {
		t.Fatalf("a flow forwarding to a flow that does not exist: %s", causes(err))
	}
	create(t, billingFlow(ns, v1alpha1.StateUnpublished, "Amount for"))
	if err := cl.Create(ctx, desk); err != nil {
		t.Fatal(err)
	}
	if w := warnings.take(); !strings.Contains(w, "ChatFlow billing is Unpublished") {
		t.Errorf("warnings %q", w)
	}
	// billing forwarding back to desk would close a cycle.
	billing := &v1alpha1.ChatFlow{ObjectMeta: metav1.ObjectMeta{Name: "billing", Namespace: ns}}
	err := tryUpdate(cl, billing, func(billing *v1alpha1.ChatFlow) {
		billing.Spec.Nodes[2].Next = "back"
		billing.Spec.Nodes = append(billing.Spec.Nodes[:3], v1alpha1.Node{ID: "back", Type: v1alpha1.NodeForwardToFlow,
			ForwardToFlow: &v1alpha1.ForwardToFlowNode{FlowRef: v1alpha1.FlowReference{Name: "desk"}}})
	})
	if !strings.Contains(causes(err), "billing → desk → billing forward to each other in a cycle") &&
		!strings.Contains(causes(err), "is triggered by WhatsApp but would talk to the contact on no channel") {
		t.Errorf("closing a cycle: %s", causes(err))
	}

	// Two Manual flows: only the cycle is wrong.
	manual := func(name, target string) *v1alpha1.ChatFlow {
		f := &v1alpha1.ChatFlow{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: v1alpha1.ChatFlowSpec{
			Trigger: v1alpha1.Trigger{Type: v1alpha1.TriggerManual},
			Nodes:   []v1alpha1.Node{{ID: "start", Type: v1alpha1.NodeStart, Next: "end"}, {ID: "end", Type: v1alpha1.NodeEnd}},
		}}
		if target != "" {
			f.Spec.Nodes = []v1alpha1.Node{{ID: "start", Type: v1alpha1.NodeStart, Next: "go"},
				{ID: "go", Type: v1alpha1.NodeForwardToFlow, Next: "end", ForwardToFlow: &v1alpha1.ForwardToFlowNode{FlowRef: v1alpha1.FlowReference{Name: target}, Return: true}},
				{ID: "end", Type: v1alpha1.NodeEnd}}
		}
		return f
	}
	create(t, manual("loop-a", ""), manual("loop-b", "loop-a"))
	cur := &v1alpha1.ChatFlow{ObjectMeta: metav1.ObjectMeta{Name: "loop-a", Namespace: ns}}
	err = tryUpdate(k8s, cur, func(cur *v1alpha1.ChatFlow) { cur.Spec.Nodes = manual("loop-a", "loop-b").Spec.Nodes })
	if !strings.Contains(causes(err), `spec.nodes[1].forwardToFlow.flowRef.name: Invalid value: "loop-b": the flows loop-a → loop-b → loop-a forward to each other in a cycle`) {
		t.Errorf("a cycle of Manual flows: %s", causes(err))
	}
}

// TestForwardToFlowRollsOutWithItsTargets: the caller's revision ConfigMap
// carries the flow it forwards to, and the executor run from that
// ConfigMap runs it on the caller's account; a change of the target rolls
// the caller; an Unpublished target holds the caller's new revisions.
func TestForwardToFlowRollsOutWithItsTargets(t *testing.T) {
	ns := newNamespace(t)
	billing := billingFlow(ns, v1alpha1.StatePublished, "Amount for")
	desk := deskFlow(ns)
	b := &v1alpha1.ChannelBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "desk-whatsapp", Namespace: ns},
		Spec: v1alpha1.ChannelBindingSpec{
			FlowRef: v1alpha1.FlowReference{Name: "desk"}, Channel: v1alpha1.ChannelWhatsApp,
			Account: v1alpha1.Account{ID: "106540352242999"}, CredentialsRef: v1alpha1.SecretReference{Name: "desk-credentials"},
			APIBaseURL: sandURL,
		},
	}
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "desk-credentials", Namespace: ns}, StringData: secretKeys},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "billing-runs", Namespace: ns}, StringData: map[string]string{"runToken": "x"}})
	billing.Spec.Trigger.CredentialsRef = &v1alpha1.SecretReference{Name: "billing-runs"}
	create(t, billing, desk, b)
	live(t, desk)

	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: builders.ExecutorName("desk"), Namespace: ns}}
	cmOf := func() *corev1.ConfigMap {
		t.Helper()
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
			t.Fatal(err)
		}
		cm := &corev1.ConfigMap{}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == "revision" {
				if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: v.ConfigMap.Name}, cm); err != nil {
					t.Fatal(err)
				}
			}
		}
		return cm
	}
	cm := cmOf()
	if !strings.Contains(cm.Data[builders.SubflowsKey], "name: billing") || !strings.Contains(strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "), "--subflows") {
		t.Fatalf("the ConfigMap %s lacks billing, or the executor its --subflows:\n%v\n%v", cm.Name, cm.Data, d.Spec.Template.Spec.Containers[0].Args)
	}

	// The executor run from the operator's ConfigMap runs billing for desk.
	dir := t.TempDir()
	subflows := filepath.Join(dir, "subflows.yaml")
	if err := os.WriteFile(subflows, []byte(cm.Data[builders.SubflowsKey]), 0o600); err != nil {
		t.Fatal(err)
	}
	e := procs.StartExecutor(t, procs.ExecutorSpec{Flow: cm.Data[builders.FlowKey], Binding: cm.Data[builders.BindingKey],
		Credentials: secretKeys, Store: "memory", Args: []string{"--subflows", subflows}})
	say := func(id, text string) {
		t.Helper()
		body, err := procs.WhatsAppWebhook("106540352242999", procs.WhatsAppMessage{From: "15558000001", Name: "Kim", ID: id, Text: text})
		if err != nil {
			t.Fatal(err)
		}
		if code, err := procs.PostWebhook(ctx, http.DefaultClient, e.URL, "/webhooks/whatsapp", body, secretKeys["appSecret"]); err != nil || code != http.StatusOK {
			t.Fatalf("webhook: %d %v", code, err)
		}
	}
	texts := func(n int) []string {
		var ms []procs.SandboxMessage
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			var err error
			if ms, err = procs.SandboxMessages(ctx, sandURL, "15558000001", 0, 0); err != nil || len(ms) >= n {
				break
			}
		}
		return procs.Texts(ms)
	}
	say("wamid.d1", "77")
	if got := texts(1); len(got) != 1 || got[0] != "Amount for A-77" {
		t.Fatalf("replies %q\n%s", got, e.Log())
	}
	say("wamid.d2", "12 EUR")
	if got := texts(2); len(got) != 2 || got[1] != "Back at the desk with 12 EUR" {
		t.Fatalf("replies %q", got)
	}

	// billing's new revision rolls desk.
	rev := conditionRevision(t, desk)
	update(t, billing, func(f *v1alpha1.ChatFlow) { f.Spec.Nodes[1].SendMessage.Text = "How much for {{ trigger.order }}?" })
	eventually(t, 30*time.Second, "desk rolls with billing's change", func() string {
		if next := cmOf(); next.Name == cm.Name || !strings.Contains(next.Data[builders.SubflowsKey], "How much for") {
			return "desk still mounts " + next.Name
		}
		return ""
	})
	if got := d.Spec.Template.Labels[builders.LabelRevision]; got == rev || got == "" {
		t.Errorf("desk's revision stayed %s", got)
	}

	// An Unpublished billing holds desk's new revisions.
	update(t, billing, func(f *v1alpha1.ChatFlow) { f.Spec.State = v1alpha1.StateUnpublished })
	eventually(t, 30*time.Second, "desk waits for billing", func() string {
		if got := conditionOf(desk, v1alpha1.ConditionReady); got != "False/"+v1alpha1.ReasonForwardTargetUnavailable {
			return "Ready is " + got
		}
		return ""
	})
	held := cmOf().Name
	update(t, desk, func(f *v1alpha1.ChatFlow) { f.Spec.Nodes[2].SendMessage.Text = "v3 {{ vars.bill.amount }}" })
	time.Sleep(time.Second)
	if now := cmOf().Name; now != held {
		t.Errorf("desk rolled out %s while billing is Unpublished", now)
	}
	update(t, billing, func(f *v1alpha1.ChatFlow) { f.Spec.State = v1alpha1.StatePublished })
	eventually(t, 30*time.Second, "desk rolls out once billing is published", func() string {
		if now := cmOf(); now.Name == held || !strings.Contains(now.Data[builders.FlowKey], "v3") {
			return fmt.Sprintf("desk mounts %s", now.Name)
		}
		return ""
	})
}

// conditionRevision is the revision of a flow's executor template.
func conditionRevision(t *testing.T, f *v1alpha1.ChatFlow) string {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: f.Namespace, Name: builders.ExecutorName(f.Name)}, d); err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Labels[builders.LabelRevision]
}
