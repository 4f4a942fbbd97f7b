package chatflow

import (
	"errors"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/client-go/tools/events"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/internal/testutil"
)

func drain(r *events.FakeRecorder) []string {
	var got []string
	for {
		select {
		case e := <-r.Events:
			got = append(got, e)
		default:
			return got
		}
	}
}

func TestRecordEvents(t *testing.T) {
	rec := events.NewFakeRecorder(10)
	r := &Reconciler{Recorder: rec}
	step := func(before *v1alpha1.ChatFlow, s *scope, o observation) (*v1alpha1.ChatFlow, []string) {
		after := before.DeepCopy()
		o.Checked = all
		computeStatus(after, o)
		r.recordEvents(before, after, s)
		return after, drain(rec)
	}
	g := NewWithT(t)
	f := testutil.Flow("order-status", v1alpha1.StatePublished)
	b := testutil.ReadyBinding("b", "order-status")

	f, got := step(f, &scope{}, observation{Revision: rev})
	g.Expect(got).To(ConsistOf(HavePrefix("Warning BindingMissing")))
	_, got = step(f, &scope{}, observation{Revision: rev})
	g.Expect(got).To(BeEmpty(), "no repeat while nothing changes")

	ex := rolledOut(rev)
	f, got = step(f, &scope{deploymentApplied: true, executor: ex, revision: rev}, observation{Revision: rev, Binding: b, Executor: ex})
	g.Expect(got).To(ConsistOf(HavePrefix("Normal ExecutorApplied"), HavePrefix("Normal RevisionLive")))

	f, got = step(f, &scope{}, observation{Revision: rev, Binding: b, Executor: ex, Err: errors.New("boom")})
	g.Expect(got).To(ConsistOf(HavePrefix("Warning ReconcileFailed")))

	f.Spec.State = v1alpha1.StateUnpublished
	_, got = step(f, &scope{}, observation{Revision: rev, Binding: b})
	g.Expect(got).To(ConsistOf(HavePrefix("Normal ExecutorRemoved")))
}
