package chatflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/index"
	"github.com/chatflow-dev/chatflow/controllers/policy"
	"github.com/chatflow-dev/chatflow/runtime/flow"
)

// Subflows: a flow's ForwardToFlow nodes hand the contact to other flows of
// the namespace, which run in the caller's executor, on the caller's
// account (the contact keeps writing to the caller's number). So the
// caller's revision ConfigMap carries every flow it reaches, directly or
// through each other (subflows.yaml), and the caller's revision covers
// theirs: a new revision of any of them rolls the caller's executor. A
// reached flow must exist and be Published; until it is, the caller's last
// good revision stays live.

// subflowState is what reconcileSubflows found.
type subflowState struct {
	// Flows are the reached flows, Published, by name order.
	Flows []*v1alpha1.ChatFlow
	// Missing and Unpublished name reached flows that cannot be used yet.
	Missing, Unpublished []string
}

// reconcileSubflows finds the flows the flow reaches through ForwardToFlow
// nodes, links them with the flow's program (the link errors are graph
// errors: a cycle, a channel or an input that does not fit) and makes the
// revision cover theirs.
func (r *Reconciler) reconcileSubflows(ctx context.Context, s *scope) (ctrl.Result, error) {
	if len(flow.Targets(&s.flow.Spec)) == 0 {
		return ctrl.Result{}, nil
	}
	reached, err := policy.ReachedFlows(s.flow, func(name string) (*v1alpha1.ChatFlow, error) {
		f := &v1alpha1.ChatFlow{}
		switch err := r.Client.Get(ctx, types.NamespacedName{Namespace: s.flow.Namespace, Name: name}, f); {
		case apierrors.IsNotFound(err):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("reading ChatFlow %s, which the flow forwards to: %w", name, err)
		}
		return f, nil
	})
	if err != nil {
		return ctrl.Result{}, err
	}
	st := &s.subflows
	st.Missing = reached.Missing
	for _, f := range reached.Flows {
		if f.Spec.State != v1alpha1.StatePublished || !f.DeletionTimestamp.IsZero() {
			st.Unpublished = append(st.Unpublished, f.Name)
		} else {
			st.Flows = append(st.Flows, f)
		}
	}
	if s.program == nil || len(st.Missing) > 0 || len(st.Unpublished) > 0 {
		return ctrl.Result{}, nil // judged by the subflows gate, or the graph is invalid anyway
	}
	s.graphErrs = append(s.graphErrs, policy.LinkErrors(s.program, s.channel, reached)...)
	revs := make([]string, 0, len(st.Flows))
	for _, f := range st.Flows {
		rev, err := flow.Revision(&f.Spec)
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("computing the revision of ChatFlow %s: %w", f.Name, err)
		}
		revs = append(revs, f.Name+"="+rev)
	}
	s.revision = linkedRevision(s.revision, revs)
	return ctrl.Result{}, nil
}

// linkedRevision is the revision of a flow together with the flows it
// forwards to (name=revision, in name order): 10 hex digits, like a
// flow's own.
func linkedRevision(own string, subflows []string) string {
	h := sha256.New()
	h.Write([]byte(own))
	for _, s := range subflows {
		h.Write([]byte{0})
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil))[:10]
}

// subflowsGate: every flow the flow forwards to exists and is Published.
func subflowsGate(f *v1alpha1.ChatFlow, o observation) gate {
	st := o.Subflows
	var parts []string
	if len(st.Missing) > 0 {
		parts = append(parts, fmt.Sprintf("ChatFlow %s does not exist", strings.Join(st.Missing, ", ")))
	}
	if len(st.Unpublished) > 0 {
		parts = append(parts, fmt.Sprintf("ChatFlow %s is not Published", strings.Join(st.Unpublished, ", ")))
	}
	if len(parts) == 0 {
		return gate{ok: true}
	}
	return gate{reason: v1alpha1.ReasonForwardTargetUnavailable, message: fmt.Sprintf(
		"the flow forwards to flows that cannot run yet: %s; publish them (the executor runs them for this flow)", strings.Join(parts, "; "))}
}

// callersOf maps a ChatFlow to the flows that reach it through their
// ForwardToFlow nodes, directly or not: a change of it changes their
// executors.
func (r *Reconciler) callersOf(ctx context.Context, o client.Object) []reconcile.Request {
	ns := o.GetNamespace()
	seen := map[string]bool{o.GetName(): true}
	queue := []string{o.GetName()}
	var reqs []reconcile.Request
	for len(queue) > 0 && len(seen) <= 4*policy.MaxSubflows {
		name := queue[0]
		queue = queue[1:]
		var callers v1alpha1.ChatFlowList
		if err := r.Client.List(ctx, &callers, client.InNamespace(ns), client.MatchingFields{index.FlowTargets: name}); err != nil {
			return reqs
		}
		for _, c := range callers.Items {
			if seen[c.Name] {
				continue
			}
			seen[c.Name] = true
			queue = append(queue, c.Name)
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: c.Name}})
		}
	}
	return reqs
}
