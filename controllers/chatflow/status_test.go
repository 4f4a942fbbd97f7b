package chatflow

import (
	"errors"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/index"
	"github.com/chatflow-dev/chatflow/controllers/internal/testutil"
)

const rev, oldRev = "5f1c2a9e01", "0000aaaa11"

// rolledOut is an executor whose rollout of r completed.
func rolledOut(r string) *executorState {
	return &executorState{Name: "order-status-executor", Revision: r, ConfigMap: "order-status-" + r + "-abcdef",
		Desired: 2, Observed: true, Replicas: 2, Ready: 2, Updated: 2, Available: 2}
}

// summary renders the conditions as type → "Status/Reason".
func summary(f *v1alpha1.ChatFlow) map[string]string {
	m := map[string]string{}
	for _, c := range f.Status.Conditions {
		m[c.Type] = string(c.Status) + "/" + c.Reason
	}
	return m
}

func conditionMessage(f *v1alpha1.ChatFlow, t string) string {
	for _, c := range f.Status.Conditions {
		if c.Type == t {
			return c.Message
		}
	}
	return ""
}

func TestComputeStatus(t *testing.T) {
	published := func() *v1alpha1.ChatFlow { return testutil.Flow("order-status", v1alpha1.StatePublished) }
	withCredentials := func(f *v1alpha1.ChatFlow) *v1alpha1.ChatFlow {
		f.Spec.Trigger.CredentialsRef = &v1alpha1.SecretReference{Name: "survey-runs"}
		return f
	}
	manual := func() *v1alpha1.ChatFlow {
		f := published()
		f.Spec.Trigger.Type = v1alpha1.TriggerManual
		return f
	}
	ready := testutil.ReadyBinding("shop-whatsapp", "order-status")
	pending := testutil.Binding("shop-whatsapp", "order-status")
	stalledBinding := testutil.ReadyBinding("shop-whatsapp", "order-status")
	stalledBinding.Status.Conditions = []metav1.Condition{
		{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonSecretKeyMissing, Message: `Secret "c" lacks the key appSecret`},
		{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonSecretKeyMissing},
	}
	viber := testutil.ReadyBinding("shop-viber", "order-status")
	viber.Spec.Channel = v1alpha1.ChannelViber
	graphErrs := field.ErrorList{
		field.NotFound(field.NewPath("spec", "nodes").Index(1).Child("next"), "nowhere"),
		field.Required(field.NewPath("spec", "nodes").Index(2), "an End node is needed"),
	}
	rolling := rolledOut(rev)
	rolling.Updated, rolling.Replicas = 1, 3 // one new pod, two old ones still serving
	notObserved := rolledOut(rev)
	notObserved.Observed = false
	stalledModel := testutil.Model("support-llm", "openai")
	stalledModel.Status.ObservedGeneration = stalledModel.Generation
	stalledModel.Status.Conditions = []metav1.Condition{
		{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonSecretNotFound, Message: "Secret openai does not exist"},
		{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonSecretNotFound},
	}
	stuck := rolledOut(rev)
	stuck.Updated, stuck.Replicas, stuck.ProgressDeadlineExceeded, stuck.ProgressMessage = 1, 3, true, `ReplicaSet "x" has timed out progressing.`

	tests := []struct {
		name       string
		flow       *v1alpha1.ChatFlow
		liveRev    string // status.revision before
		obs        observation
		want       map[string]string
		wantMsg    map[string]string
		wantState  v1alpha1.FlowState
		wantRev    string
		wantObsGen int64
	}{
		{
			name: "unpublished and clean",
			flow: testutil.Flow("order-status", v1alpha1.StateUnpublished),
			obs:  observation{Revision: rev},
			want: map[string]string{
				"Ready": "True/Unpublished", "Valid": "True/Succeeded", "Bound": "False/BindingMissing",
				"ExecutorAvailable": "False/Unpublished",
			},
			wantState: v1alpha1.StateUnpublished, wantObsGen: 1,
		},
		{
			name: "unpublished, executor still there",
			flow: testutil.Flow("order-status", v1alpha1.StateUnpublished),
			obs:  observation{Revision: rev, Binding: ready, Bindings: 1, Executor: rolledOut(rev)},
			want: map[string]string{
				"Ready": "False/RemovingExecutor", "Reconciling": "True/RemovingExecutor", "Valid": "True/Succeeded",
				"Bound": "True/Succeeded", "ExecutorAvailable": "False/RemovingExecutor",
			},
			wantState: v1alpha1.StatePublished, wantRev: rev, wantObsGen: 1,
		},
		{
			name: "unpublished with an invalid graph is stalled",
			flow: testutil.Flow("order-status", v1alpha1.StateUnpublished),
			obs:  observation{Revision: rev, GraphErrors: graphErrs},
			want: map[string]string{
				"Ready": "False/InvalidGraph", "Stalled": "True/InvalidGraph", "Valid": "False/InvalidGraph",
				"Bound": "False/BindingMissing", "ExecutorAvailable": "False/Unpublished",
			},
			wantMsg:   map[string]string{"Valid": "2 graph errors: spec.nodes[1].next: Not found: \"nowhere\"; spec.nodes[2]: Required value: an End node is needed"},
			wantState: v1alpha1.StateUnpublished, wantObsGen: 1,
		},
		{
			name: "published, invalid graph, never rolled out",
			flow: published(),
			obs:  observation{Revision: rev, GraphErrors: graphErrs, Binding: ready, Bindings: 1},
			want: map[string]string{
				"Ready": "False/InvalidGraph", "Stalled": "True/InvalidGraph", "Valid": "False/InvalidGraph",
				"Bound": "True/Succeeded", "ExecutorAvailable": "False/DeploymentUnavailable",
			},
			wantState: v1alpha1.StateUnpublished, wantObsGen: 1,
		},
		{
			name:    "published, invalid new graph: the last good revision stays live",
			flow:    published(),
			liveRev: oldRev,
			obs:     observation{Revision: rev, GraphErrors: graphErrs, Binding: ready, Bindings: 1, Executor: rolledOut(oldRev)},
			want: map[string]string{
				"Ready": "False/LastGoodRevisionLive", "Stalled": "True/InvalidGraph", "Valid": "False/InvalidGraph",
				"Bound": "True/Succeeded", "ExecutorAvailable": "True/DeploymentAvailable",
			},
			wantMsg:   map[string]string{"Ready": "revision " + oldRev + " stays live: the new graph is invalid: 2 graph errors"},
			wantState: v1alpha1.StatePublished, wantRev: oldRev, wantObsGen: 1,
		},
		{
			name: "published without a binding",
			flow: published(),
			obs:  observation{Revision: rev},
			want: map[string]string{
				"Ready": "False/BindingMissing", "Stalled": "True/BindingMissing", "Valid": "True/Succeeded",
				"Bound": "False/BindingMissing", "ExecutorAvailable": "False/DeploymentUnavailable",
			},
			wantMsg:   map[string]string{"Bound": "create one that binds a WhatsApp account to it"},
			wantState: v1alpha1.StateUnpublished, wantObsGen: 1,
		},
		{
			name: "published, binding not reconciled yet",
			flow: published(),
			obs:  observation{Revision: rev, Binding: pending, Bindings: 1},
			want: map[string]string{
				"Ready": "False/BindingNotReady", "Reconciling": "True/BindingNotReady", "Valid": "True/Succeeded",
				"Bound": "False/BindingNotReady", "ExecutorAvailable": "False/DeploymentUnavailable",
			},
			wantState: v1alpha1.StateUnpublished, wantObsGen: 1,
		},
		{
			name:    "published, the binding is stalled",
			flow:    published(),
			liveRev: rev,
			obs:     observation{Revision: rev, Binding: stalledBinding, Bindings: 1, Executor: rolledOut(rev)},
			want: map[string]string{
				"Ready": "False/BindingNotReady", "Stalled": "True/BindingNotReady", "Valid": "True/Succeeded",
				"Bound": "False/BindingNotReady", "ExecutorAvailable": "True/DeploymentAvailable",
			},
			wantMsg: map[string]string{
				"Stalled": `ChannelBinding shop-whatsapp is not ready: Secret "c" lacks the key appSecret`,
				"Ready":   "revision " + rev + " stays live",
			},
			wantState: v1alpha1.StatePublished, wantRev: rev, wantObsGen: 1,
		},
		{
			name: "published, binding of another channel",
			flow: published(),
			obs:  observation{Revision: rev, Binding: viber, Bindings: 1},
			want: map[string]string{
				"Ready": "False/ChannelMismatch", "Stalled": "True/ChannelMismatch", "Valid": "True/Succeeded",
				"Bound": "False/ChannelMismatch", "ExecutorAvailable": "False/DeploymentUnavailable",
			},
			wantState: v1alpha1.StateUnpublished, wantObsGen: 1,
		},
		{
			name: "a Manual flow with run credentials needs no binding",
			flow: withCredentials(manual()),
			obs:  observation{Revision: rev, Executor: rolledOut(rev), Service: "order-status-executor"},
			want: map[string]string{
				"Ready": "True/Succeeded", "Valid": "True/Succeeded", "Bound": "True/NotNeeded",
				"ExecutorAvailable": "True/DeploymentAvailable",
			},
			wantState: v1alpha1.StatePublished, wantRev: rev, wantObsGen: 1,
		},
		{
			// Every run would be refused: not Ready, and Bound says why.
			name: "a Manual flow with neither a binding nor run credentials",
			flow: manual(),
			obs:  observation{Revision: rev},
			want: map[string]string{
				"Ready": "False/CredentialsMissing", "Stalled": "True/CredentialsMissing", "Valid": "True/Succeeded",
				"Bound": "False/CredentialsMissing", "ExecutorAvailable": "False/DeploymentUnavailable",
			},
			wantState: v1alpha1.StateUnpublished, wantObsGen: 1,
		},
		{
			name: "a Manual flow whose run credentials Secret is missing",
			flow: withCredentials(manual()),
			obs:  observation{Revision: rev, MissingSecrets: []string{"survey-runs"}},
			want: map[string]string{
				"Ready": "False/SecretNotFound", "Stalled": "True/SecretNotFound", "Valid": "True/Succeeded",
				"Bound": "True/NotNeeded", "ExecutorAvailable": "False/DeploymentUnavailable",
			},
			wantState: v1alpha1.StateUnpublished, wantObsGen: 1,
		},
		{
			name: "published, a header Secret is missing",
			flow: published(),
			obs:  observation{Revision: rev, Binding: ready, Bindings: 1, MissingSecrets: []string{"orders-api"}},
			want: map[string]string{
				"Ready": "False/SecretNotFound", "Stalled": "True/SecretNotFound", "Valid": "True/Succeeded",
				"Bound": "True/Succeeded", "ExecutorAvailable": "False/DeploymentUnavailable",
			},
			wantMsg:   map[string]string{"Stalled": "Secret orders-api read by HTTPRequest headers do not exist"},
			wantState: v1alpha1.StateUnpublished, wantObsGen: 1,
		},
		{
			name: "published, its LanguageModel is missing",
			flow: published(),
			obs: observation{Revision: rev, Binding: ready, Bindings: 1,
				MissingModels: []index.ModelRef{{Name: "support-llm", Path: field.NewPath("spec", "nodes").Index(3).Child("aiReply", "model")}}},
			want: map[string]string{
				"Ready": "False/ModelNotFound", "Stalled": "True/ModelNotFound", "Valid": "True/Succeeded",
				"Bound": "True/Succeeded", "ExecutorAvailable": "False/DeploymentUnavailable",
			},
			wantMsg: map[string]string{"Ready": "LanguageModel support-llm (spec.nodes[3].aiReply.model) does not exist: " +
				"create it in the flow's namespace, or name another model"},
			wantState: v1alpha1.StateUnpublished, wantObsGen: 1,
		},
		{
			name: "published and live, its LanguageModel lost its key: the live revision stays",
			flow: published(), liveRev: rev,
			obs: observation{Revision: rev, Binding: ready, Bindings: 1, Executor: rolledOut(rev), Service: "order-status-executor",
				NotReadyModels: []v1alpha1.LanguageModel{*stalledModel}},
			want: map[string]string{
				"Ready": "False/ModelNotReady", "Stalled": "True/ModelNotReady", "Valid": "True/Succeeded",
				"Bound": "True/Succeeded", "ExecutorAvailable": "True/DeploymentAvailable",
			},
			wantMsg:   map[string]string{"Ready": "LanguageModel support-llm is not Ready: Secret openai does not exist; revision " + rev + " stays live"},
			wantState: v1alpha1.StatePublished, wantRev: rev, wantObsGen: 1,
		},
		{
			name: "published, its LanguageModel is not reconciled yet",
			flow: published(),
			obs: observation{Revision: rev, Binding: ready, Bindings: 1,
				NotReadyModels: []v1alpha1.LanguageModel{*testutil.Model("support-llm", "openai")}},
			want: map[string]string{
				"Ready": "False/ModelNotReady", "Reconciling": "True/ModelNotReady", "Valid": "True/Succeeded",
				"Bound": "True/Succeeded", "ExecutorAvailable": "False/DeploymentUnavailable",
			},
			wantMsg:   map[string]string{"Ready": "waiting for LanguageModel support-llm to be reconciled"},
			wantState: v1alpha1.StateUnpublished, wantObsGen: 1,
		},
		{
			name: "published, the Deployment controller has not seen the new spec",
			flow: published(),
			obs:  observation{Revision: rev, Binding: ready, Bindings: 1, Executor: notObserved},
			want: map[string]string{
				"Ready": "False/DeploymentProgressing", "Reconciling": "True/DeploymentProgressing", "Valid": "True/Succeeded",
				"Bound": "True/Succeeded", "ExecutorAvailable": "False/DeploymentProgressing",
			},
			wantState: v1alpha1.StatePublished, wantObsGen: 1,
		},
		{
			name:    "published, a new revision rolls out while the old one serves",
			flow:    published(),
			liveRev: oldRev,
			obs:     observation{Revision: rev, Binding: ready, Bindings: 1, Executor: rolling},
			want: map[string]string{
				"Ready": "False/DeploymentProgressing", "Reconciling": "True/DeploymentProgressing", "Valid": "True/Succeeded",
				"Bound": "True/Succeeded", "ExecutorAvailable": "True/DeploymentAvailable",
			},
			wantMsg:   map[string]string{"Ready": "rolling out revision " + rev + ": 1 of 2 pods updated, 2 available"},
			wantState: v1alpha1.StatePublished, wantRev: oldRev, wantObsGen: 1,
		},
		{
			name:    "published and live",
			flow:    published(),
			liveRev: oldRev,
			obs:     observation{Revision: rev, Binding: ready, Bindings: 1, Executor: rolledOut(rev), Service: "order-status-executor"},
			want: map[string]string{
				"Ready": "True/Succeeded", "Valid": "True/Succeeded", "Bound": "True/Succeeded",
				"ExecutorAvailable": "True/DeploymentAvailable",
			},
			wantMsg:   map[string]string{"Ready": "revision " + rev + " is live: 2 of 2 pods available"},
			wantState: v1alpha1.StatePublished, wantRev: rev, wantObsGen: 1,
		},
		{
			name:    "published, the rollout is stuck",
			flow:    published(),
			liveRev: oldRev,
			obs:     observation{Revision: rev, Binding: ready, Bindings: 1, Executor: stuck},
			want: map[string]string{
				"Ready": "False/ProgressDeadlineExceeded", "Stalled": "True/ProgressDeadlineExceeded", "Valid": "True/Succeeded",
				"Bound": "True/Succeeded", "ExecutorAvailable": "True/ProgressDeadlineExceeded",
			},
			wantMsg:   map[string]string{"Ready": "revision " + oldRev + " stays live"},
			wantState: v1alpha1.StatePublished, wantRev: oldRev, wantObsGen: 1,
		},
		{
			name: "an API error leaves observedGeneration behind",
			flow: published(),
			obs:  observation{Revision: rev, Binding: ready, Bindings: 1, Err: errors.New("etcd is sad")},
			want: map[string]string{
				"Ready": "False/ReconcileFailed", "Reconciling": "True/ReconcileFailed", "Valid": "True/Succeeded",
				"Bound": "True/Succeeded", "ExecutorAvailable": "False/DeploymentUnavailable",
			},
			wantMsg:   map[string]string{"Ready": "reconcile failed, retrying: etcd is sad"},
			wantState: v1alpha1.StateUnpublished, wantObsGen: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			f := tt.flow
			f.Status.ObservedGeneration = -1
			f.Status.Revision = tt.liveRev
			obs := tt.obs
			obs.Checked = all
			computeStatus(f, obs)
			g.Expect(summary(f)).To(Equal(tt.want))
			for typ, msg := range tt.wantMsg {
				g.Expect(conditionMessage(f, typ)).To(ContainSubstring(msg), typ)
			}
			for _, c := range f.Status.Conditions {
				g.Expect(c.ObservedGeneration).To(Equal(f.Generation))
				g.Expect(c.Message).NotTo(BeEmpty(), c.Type)
			}
			g.Expect(f.Status.State).To(Equal(tt.wantState))
			g.Expect(f.Status.Revision).To(Equal(tt.wantRev))
			g.Expect(f.Status.ObservedGeneration).To(Equal(tt.wantObsGen))
			g.Expect(f.Status.Bindings).To(Equal(tt.obs.Bindings))
		})
	}
}

func TestSetLiveStatus_executor(t *testing.T) {
	g := NewWithT(t)
	f := testutil.Flow("order-status", v1alpha1.StatePublished)
	f.Status.Executor = &v1alpha1.ExecutorStatus{ConfigMap: "order-status-" + oldRev + "-abcdef"}
	f.Status.Revision = oldRev
	rolling := rolledOut(rev)
	rolling.Updated, rolling.Ready = 1, 1
	setLiveStatus(f, observation{Executor: rolling, Service: "order-status-executor"})
	g.Expect(f.Status.Executor).To(Equal(&v1alpha1.ExecutorStatus{
		Deployment: "order-status-executor", Service: "order-status-executor",
		ConfigMap: "order-status-" + oldRev + "-abcdef", Replicas: 2, ReadyReplicas: 1, UpdatedReplicas: 1,
	}), "the live revision's ConfigMap until the rollout completes")
	g.Expect(f.Status.Revision).To(Equal(oldRev))

	setLiveStatus(f, observation{Executor: rolledOut(rev), Service: "order-status-executor"})
	g.Expect(f.Status.Executor.ConfigMap).To(Equal("order-status-" + rev + "-abcdef"))
	g.Expect(f.Status.Revision).To(Equal(rev))

	setLiveStatus(f, observation{})
	g.Expect(f.Status.Executor).To(BeNil())
	g.Expect(f.Status.Revision).To(BeEmpty())
	g.Expect(f.Status.State).To(Equal(v1alpha1.StateUnpublished))
}

func TestDescribeErrors_bounded(t *testing.T) {
	var errs field.ErrorList
	for i := 0; i < 25; i++ {
		errs = append(errs, field.Invalid(field.NewPath("spec", "nodes").Index(i), i, "bad"))
	}
	msg := describeErrors(errs)
	g := NewWithT(t)
	g.Expect(msg).To(HavePrefix("25 graph errors: spec.nodes[0]"))
	g.Expect(msg).To(ContainSubstring("spec.nodes[9]"))
	g.Expect(msg).NotTo(ContainSubstring("spec.nodes[10]"))
	g.Expect(msg).To(HaveSuffix("and 15 more (run `chatflow lint` for all)"))
}

func TestOwnedConditions(t *testing.T) {
	g := NewWithT(t)
	f := testutil.Flow("order-status", v1alpha1.StatePublished)
	computeStatus(f, observation{Revision: rev, Binding: testutil.Binding("b", "order-status"), Checked: all})
	for _, c := range f.Status.Conditions {
		g.Expect(ownedConditions).To(ContainElement(c.Type))
	}
}

func TestComputeStatus_partial(t *testing.T) {
	g := NewWithT(t)
	f := testutil.Flow("order-status", v1alpha1.StatePublished)
	f.Status.ObservedGeneration = 1
	f.Status.Revision = rev
	computeStatus(f, observation{Revision: rev, Binding: testutil.ReadyBinding("b", "order-status"),
		Executor: rolledOut(rev), Service: "order-status-executor", Checked: all})
	g.Expect(summary(f)).To(HaveKeyWithValue("Ready", "True/Succeeded"))

	// A later reconcile fails before it looked at anything: only the
	// summary changes, the rest stays as last observed.
	f.Generation = 2
	computeStatus(f, observation{Err: errors.New("the cache is not synced")})
	g.Expect(summary(f)).To(Equal(map[string]string{
		"Ready": "False/ReconcileFailed", "Reconciling": "True/ReconcileFailed", "Valid": "True/Succeeded",
		"Bound": "True/Succeeded", "ExecutorAvailable": "True/DeploymentAvailable",
	}))
	g.Expect(f.Status.Revision).To(Equal(rev))
	g.Expect(f.Status.Executor).NotTo(BeNil())
	g.Expect(f.Status.ObservedGeneration).To(Equal(int64(1)))
}
