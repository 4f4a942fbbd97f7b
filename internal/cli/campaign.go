package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

func newCampaignCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "campaign",
		Short: "Look at Campaigns in the cluster",
	}
	cmd.AddCommand(newCampaignStatusCommand())
	return cmd
}

func newCampaignStatusCommand() *cobra.Command {
	var namespace, kubeContext string
	var watch bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show a campaign's progress: contacts started, done, failed and skipped by reason",
		Long: "status reads the Campaign NAME from the cluster of the current kubeconfig and prints its\n" +
			"conditions and a progress table. With --watch it prints it again until the campaign is complete.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, ns, err := kubeconfig(kubeContext, namespace)
			if err != nil {
				return err
			}
			c, err := client.New(cfg, client.Options{Scheme: Scheme()})
			if err != nil {
				return err
			}
			for {
				camp := &v1alpha1.Campaign{}
				if err := c.Get(cmd.Context(), client.ObjectKey{Namespace: ns, Name: args[0]}, camp); err != nil {
					return fmt.Errorf("reading Campaign %s/%s: %w", ns, args[0], err)
				}
				if err := writeCampaignStatus(cmd.OutOrStdout(), camp, time.Now()); err != nil {
					return err
				}
				if !watch || meta.IsStatusConditionTrue(camp.Status.Conditions, v1alpha1.ConditionComplete) {
					return nil
				}
				if !sleepCtx(cmd.Context(), interval) {
					return nil
				}
				fmt.Fprintln(cmd.OutOrStdout())
			}
		},
	}
	f := cmd.Flags()
	f.StringVarP(&namespace, "namespace", "n", "", "the campaign's namespace (default: the kubeconfig context's)")
	f.StringVar(&kubeContext, "context", "", "the kubeconfig context to use")
	f.BoolVarP(&watch, "watch", "w", false, "print the progress again every --interval until the campaign is complete")
	f.DurationVar(&interval, "interval", 2*time.Second, "with --watch: how often")
	return cmd
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// writeCampaignStatus prints a campaign's conditions and progress table.
func writeCampaignStatus(w io.Writer, c *v1alpha1.Campaign, now time.Time) error {
	st := &c.Status
	var b strings.Builder
	fmt.Fprintf(&b, "Campaign %s/%s of flow %s", c.Namespace, c.Name, c.Spec.FlowRef.Name)
	if st.Rate > 0 {
		fmt.Fprintf(&b, ", %d contacts per second", st.Rate)
	}
	if c.Spec.Suspend {
		b.WriteString(", suspended")
	}
	if st.ObservedGeneration != c.Generation {
		b.WriteString(" (the operator has not seen its latest spec yet)")
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, t := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionComplete, v1alpha1.ConditionStalled, v1alpha1.ConditionRateClamped} {
		if cond := meta.FindStatusCondition(st.Conditions, t); cond != nil {
			fmt.Fprintf(tw, "  %s\t%s\t%s: %s\n", cond.Type, cond.Status, cond.Reason, cond.Message)
		}
	}
	_ = tw.Flush()
	b.WriteString("\n")
	var table strings.Builder
	tw = tabwriter.NewWriter(&table, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "TOTAL\tPENDING\tSTARTED\tDONE\tFAILED\tOPTED OUT\tINVALID\tDUPLICATE\tPROGRESS\t\n")
	fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d%%\t\n", st.Total, st.Pending, st.Started, st.Done, st.Failed,
		st.Skipped.OptedOut, st.Skipped.InvalidInput, st.Skipped.Duplicate, st.Progress)
	_ = tw.Flush()
	for line := range strings.Lines(table.String()) {
		b.WriteString("  " + strings.TrimRight(line, " \n") + "\n")
	}
	b.WriteString("\n")
	when := func(label string, t *time.Time) {
		if t == nil {
			fmt.Fprintf(&b, "  %s: -\n", label)
			return
		}
		fmt.Fprintf(&b, "  %s: %s (%s ago)\n", label, t.UTC().Format(time.RFC3339), duration.HumanDuration(now.Sub(*t)))
	}
	var started, finished *time.Time
	if st.StartTime != nil {
		started = &st.StartTime.Time
	}
	if st.FinishTime != nil {
		finished = &st.FinishTime.Time
	}
	when("started", started)
	when("finished", finished)
	_, err := io.WriteString(w, b.String())
	return err
}
