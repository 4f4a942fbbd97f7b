package operator

import (
	"fmt"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	flowpkg "github.com/chatflow-dev/chatflow/runtime/flow"
)

var nsSeq atomic.Int32

// newNamespace creates a fresh namespace for one test.
func newNamespace() string {
	name := fmt.Sprintf("t%d", nsSeq.Add(1))
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})).To(Succeed())
	return name
}

// flow is a small valid WhatsApp flow.
func flow(name, ns string, state v1alpha1.FlowState) *v1alpha1.ChatFlow {
	return &v1alpha1.ChatFlow{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.ChatFlowSpec{
			State:   state,
			Trigger: v1alpha1.Trigger{Type: v1alpha1.TriggerWhatsApp},
			Nodes: []v1alpha1.Node{
				{ID: "start", Type: v1alpha1.NodeStart, Next: "hello"},
				{ID: "hello", Type: v1alpha1.NodeSendMessage, SendMessage: &v1alpha1.SendMessageNode{Text: "Hello"}, Next: "end"},
				{ID: "end", Type: v1alpha1.NodeEnd},
			},
		},
	}
}

// binding binds a WhatsApp account to a flow with credentials in Secret
// <name>-credentials.
func binding(name, ns, flowName, accountID string) *v1alpha1.ChannelBinding {
	return &v1alpha1.ChannelBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.ChannelBindingSpec{
			FlowRef:        v1alpha1.FlowReference{Name: flowName},
			Channel:        v1alpha1.ChannelWhatsApp,
			Account:        v1alpha1.Account{Name: "Shop", PhoneNumber: "+15550001111", ID: accountID},
			CredentialsRef: v1alpha1.SecretReference{Name: name + "-credentials"},
		},
	}
}

// credentials is the WhatsApp credentials Secret of a binding.
func credentials(bindingName, ns string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: bindingName + "-credentials", Namespace: ns},
		StringData: map[string]string{"accessToken": "EAAG", "appSecret": "s3cret", "verifyToken": "verify"},
	}
}

func create(objs ...client.Object) {
	for _, o := range objs {
		Expect(k8s.Create(ctx, o)).To(Succeed(), "creating %T %s", o, o.GetName())
	}
}

// update re-reads obj, mutates it and writes it back, retrying on conflicts.
func update[T client.Object](obj T, mutate func(T)) error { return updateAs(k8s, obj, mutate) }

func get[T client.Object](obj T) T {
	ExpectWithOffset(1, k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	return obj
}

func gone(obj client.Object) func() bool {
	return func() bool { return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj)) }
}

// condition returns "Status/Reason" of a condition of a live object, "" when absent.
func condition(obj client.Object, t string) func() string {
	return func() string {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err.Error()
		}
		var conds []metav1.Condition
		switch o := any(obj).(type) {
		case *v1alpha1.ChatFlow:
			conds = o.Status.Conditions
		case *v1alpha1.ChannelBinding:
			conds = o.Status.Conditions
		case *v1alpha1.LanguageModel:
			conds = o.Status.Conditions
		}
		c := meta.FindStatusCondition(conds, t)
		if c == nil {
			return ""
		}
		return string(c.Status) + "/" + c.Reason
	}
}

// conditionMessage is the message of a live object's condition, "" until
// the condition is set (so it can be polled before the first reconcile).
func conditionMessage(obj client.Object, t string) string {
	get(obj)
	var conds []metav1.Condition
	switch o := any(obj).(type) {
	case *v1alpha1.ChatFlow:
		conds = o.Status.Conditions
	case *v1alpha1.ChannelBinding:
		conds = o.Status.Conditions
	case *v1alpha1.LanguageModel:
		conds = o.Status.Conditions
	}
	if c := meta.FindStatusCondition(conds, t); c != nil {
		return c.Message
	}
	return ""
}

// kstatus computes the kstatus of a live object, the way Flux's health
// checks and `kubectl wait --for=jsonpath` users see it.
func kstatus(obj client.Object) func() status.Status {
	return func() status.Status {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return status.UnknownStatus
		}
		return kstatusOf(obj)
	}
}

func kstatusOf(obj client.Object) status.Status {
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{Object: content}
	gvks, _, err := k8s.Scheme().ObjectKinds(obj)
	Expect(err).NotTo(HaveOccurred())
	u.SetGroupVersionKind(gvks[0])
	res, err := status.Compute(u)
	Expect(err).NotTo(HaveOccurred())
	return res.Status
}

// revisionOf is the revision the operator computes for a flow.
func revisionOf(f *v1alpha1.ChatFlow) string {
	r, err := flowpkg.Revision(&f.Spec)
	Expect(err).NotTo(HaveOccurred())
	return r
}

func executorDeployment(f *v1alpha1.ChatFlow) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: builders.ExecutorName(f.Name), Namespace: f.Namespace}}
}

func executorService(f *v1alpha1.ChatFlow) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: builders.ExecutorName(f.Name), Namespace: f.Namespace}}
}

// templateConfigMap is the revision ConfigMap the Deployment's template mounts.
func templateConfigMap(d *appsv1.Deployment) string {
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "revision" {
			return v.ConfigMap.Name
		}
	}
	return ""
}

// configMaps lists the names of the flow's revision ConfigMaps.
func configMaps(f *v1alpha1.ChatFlow) func() []string {
	return func() []string {
		list := &corev1.ConfigMapList{}
		Expect(k8s.List(ctx, list, client.InNamespace(f.Namespace), client.MatchingLabels{builders.LabelFlow: f.Name})).To(Succeed())
		var names []string
		for _, cm := range list.Items {
			names = append(names, cm.Name)
		}
		return names
	}
}

// replicaSetFor does what the Deployment controller does for the current
// template: a ReplicaSet owned by the Deployment, with the template's
// labels, running `running` of its pods; other ReplicaSets of the
// Deployment keep `old` pods.
func replicaSetFor(d *appsv1.Deployment, running, old int32) {
	get(d)
	name := d.Name + "-" + d.Spec.Template.Labels[builders.LabelRevision]
	list := &appsv1.ReplicaSetList{}
	Expect(k8s.List(ctx, list, client.InNamespace(d.Namespace))).To(Succeed())
	found := false
	for i := range list.Items {
		rs := &list.Items[i]
		if rs.Name == name {
			found = true
			continue
		}
		Expect(update(rs, func(rs *appsv1.ReplicaSet) { rs.Spec.Replicas = ptr.To(old) })).To(Succeed())
		setReplicaSetStatus(rs, old)
	}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: d.Namespace}}
	if !found {
		rs.Labels = d.Spec.Template.Labels
		rs.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}
		rs.Spec = appsv1.ReplicaSetSpec{Replicas: ptr.To(running), Selector: d.Spec.Selector, Template: d.Spec.Template}
		create(rs)
	} else {
		Expect(update(rs, func(rs *appsv1.ReplicaSet) { rs.Spec.Replicas = ptr.To(running) })).To(Succeed())
	}
	setReplicaSetStatus(rs, running)
}

func setReplicaSetStatus(rs *appsv1.ReplicaSet, n int32) {
	get(rs)
	rs.Status = appsv1.ReplicaSetStatus{Replicas: n, ReadyReplicas: n, AvailableReplicas: n, ObservedGeneration: rs.Generation}
	Expect(k8s.Status().Update(ctx, rs)).To(Succeed())
}

// rollOut completes the rollout of the Deployment's current template, the
// way the Deployment controller and the kubelet report it: every pod
// updated, ready and available, old ReplicaSets scaled to zero.
func rollOut(d *appsv1.Deployment) {
	get(d)
	replicaSetFor(d, ptr.Deref(d.Spec.Replicas, 1), 0)
	setDeploymentStatus(d, ptr.Deref(d.Spec.Replicas, 1), ptr.Deref(d.Spec.Replicas, 1), ptr.Deref(d.Spec.Replicas, 1))
}

// rollingOut reports a rollout half way: one new pod up, every old pod
// still serving (maxUnavailable 0, maxSurge 1).
func rollingOut(d *appsv1.Deployment) {
	get(d)
	desired := ptr.Deref(d.Spec.Replicas, 1)
	replicaSetFor(d, 1, desired)
	setDeploymentStatus(d, desired+1, 1, desired)
}

func setDeploymentStatus(d *appsv1.Deployment, replicas, updated, available int32) {
	get(d)
	progressing := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue,
		Reason: "ReplicaSetUpdated", Message: "progressing"}
	if replicas == updated && updated == available {
		progressing.Reason = "NewReplicaSetAvailable"
	}
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation,
		Replicas:           replicas, UpdatedReplicas: updated, ReadyReplicas: available, AvailableReplicas: available,
		Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable", Message: "available"},
			progressing,
		},
	}
	Expect(k8s.Status().Update(ctx, d)).To(Succeed())
}

// events returns the reasons of the events recorded about an object.
func events(obj client.Object) func() []string {
	return func() []string {
		list := &eventsv1.EventList{}
		Expect(k8s.List(ctx, list, client.InNamespace(obj.GetNamespace()))).To(Succeed())
		var reasons []string
		for _, e := range list.Items {
			if e.Regarding.Name == obj.GetName() {
				reasons = append(reasons, e.Reason)
			}
		}
		return reasons
	}
}

// publishedAndLive creates a Published flow with its binding and Secret
// and completes its first rollout.
func publishedAndLive(name, ns string) (*v1alpha1.ChatFlow, *v1alpha1.ChannelBinding) {
	f := flow(name, ns, v1alpha1.StatePublished)
	// An account serves one flow in the cluster: unique per namespace.
	b := binding(name+"-whatsapp", ns, name, "acct-"+ns+"-"+name)
	create(credentials(b.Name, ns), f, b)
	d := executorDeployment(f)
	Eventually(gone(d)).Should(BeFalse(), "the executor Deployment is created")
	rollOut(d)
	Eventually(condition(f, v1alpha1.ConditionReady)).Should(Equal("True/Succeeded"))
	return f, b
}

// withoutPolicyBinding deletes a ValidatingAdmissionPolicyBinding of
// config/policy, so its webhook is seen answering alone, and puts it back
// when the spec ends.
func withoutPolicyBinding(name string) {
	vapb := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: name}}
	Expect(k8s.Delete(ctx, vapb)).To(Succeed())
	DeferCleanup(func() {
		for _, o := range policy {
			if o.GetKind() == "ValidatingAdmissionPolicyBinding" && o.GetName() == name {
				Expect(k8s.Create(ctx, o.DeepCopy())).To(Succeed())
			}
		}
		waitForAdmission()
	})
}
