package chatflow

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/controllers/index"
)

// observation is what one reconcile of a flow found. computeStatus turns
// it into the flow's status; nothing else decides conditions.
type observation struct {
	// Bindings is how many ChannelBindings name the flow.
	Bindings int32
	// Binding is the binding in effect (see policy.InEffect), nil when there is none.
	Binding *v1alpha1.ChannelBinding
	// GraphErrors are the validation errors of the declared graph.
	GraphErrors field.ErrorList
	// Subflows are the flows the graph forwards to.
	Subflows subflowState
	// Revision is the revision of the declared graph.
	Revision string
	// MissingSecrets are Secrets read by HTTPRequest headers that do not exist.
	MissingSecrets []string
	// MissingModels are LanguageModels the AI nodes name that do not
	// exist, each once, with the field that names it first.
	MissingModels []index.ModelRef
	// NotReadyModels are LanguageModels the AI nodes use that are not Ready.
	NotReadyModels []v1alpha1.LanguageModel
	// Executor is the executor Deployment as last seen, nil when there is none.
	Executor *executorState
	// Service is the name of the executor Service, empty when there is none.
	Service string
	// ReplicasCapped says the flow asked for more replicas than the
	// session store allows.
	ReplicasCapped bool
	// Err is the error the reconcile ended with, nil on success.
	Err error
	// Checked says which observations were made: a reconcile that failed
	// early leaves the conditions of what it did not look at alone.
	Checked checked
}

// checked says which parts of a flow a reconcile looked at.
type checked struct {
	Binding, Graph, Executor bool
}

// all is a reconcile that looked at everything.
var all = checked{Binding: true, Graph: true, Executor: true}

// executorState is what the status needs of the executor Deployment.
type executorState struct {
	Name      string
	Deleting  bool
	Revision  string // the revision of the pod template
	ConfigMap string // the ConfigMap the pod template mounts
	Desired   int32
	// Observed says the Deployment controller has seen the current spec,
	// so the replica counts describe it.
	Observed                            bool
	Replicas, Ready, Updated, Available int32
	ProgressDeadlineExceeded            bool
	ProgressMessage                     string
}

// observeDeployment reads the executor state of a Deployment.
func observeDeployment(d *appsv1.Deployment) *executorState {
	if d == nil {
		return nil
	}
	e := &executorState{
		Name:      d.Name,
		Deleting:  !d.DeletionTimestamp.IsZero(),
		Revision:  d.Spec.Template.Labels[builders.LabelRevision],
		Desired:   ptr.Deref(d.Spec.Replicas, 1),
		Observed:  d.Status.ObservedGeneration >= d.Generation,
		Replicas:  d.Status.Replicas,
		Ready:     d.Status.ReadyReplicas,
		Updated:   d.Status.UpdatedReplicas,
		Available: d.Status.AvailableReplicas,
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "revision" && v.ConfigMap != nil {
			e.ConfigMap = v.ConfigMap.Name
		}
	}
	for _, c := range d.Status.Conditions {
		// A stale condition of the previous spec says nothing about this one.
		if e.Observed && c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse &&
			c.Reason == "ProgressDeadlineExceeded" {
			e.ProgressDeadlineExceeded = true
			e.ProgressMessage = c.Message
		}
	}
	return e
}

// available says enough executor pods serve, whatever their revision.
func (e *executorState) available() bool {
	return e != nil && !e.Deleting && e.Observed && e.Available >= e.Desired
}

// rolledOut says every pod runs the template's revision and is available,
// the way `kubectl rollout status` decides.
func (e *executorState) rolledOut() bool {
	return e.available() && e.Updated >= e.Desired && e.Replicas <= e.Updated && e.Available >= e.Updated
}

// progress describes a rollout in one line.
func (e *executorState) progress() string {
	if !e.Observed {
		return fmt.Sprintf("waiting for the Deployment controller to observe Deployment %s", e.Name)
	}
	return fmt.Sprintf("rolling out revision %s: %d of %d pods updated, %d available", e.Revision, e.Updated, e.Desired, e.Available)
}
