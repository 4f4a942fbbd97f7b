package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatflow-dev/chatflow/runtime/executor"
	"github.com/chatflow-dev/chatflow/runtime/store"
)

func newDeadLettersCommand() *cobra.Command {
	var (
		o      executorAPIOptions
		retry  string
		limit  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "deadletters FLOW",
		Short: "List a flow's dead letters, or queue one again",
		Long: "deadletters lists the inbox items a flow's executor could not process (a turn that\n" +
			"panicked, an item not sealed with the flow's key, one that does not decode), oldest\n" +
			"first, through the executor's API (GET /v1/deadletters) with the flow's runToken.\n" +
			"--retry ID queues that item again at the end of its contact's inbox.",
		Example: "  chatflow deadletters order-status -n shop\n" +
			"  chatflow deadletters order-status -n shop --retry 3f2a9c0d1e4b5a67",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			api, err := connectExecutor(ctx, args[0], o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if retry != "" {
				if _, err := api.do(ctx, http.MethodPost, "/v1/deadletters/"+url.PathEscape(retry)+"/retry"); err != nil {
					return err
				}
				fmt.Fprintf(out, "dead letter %s queued again\n", retry)
				return nil
			}
			body, err := api.do(ctx, http.MethodGet, "/v1/deadletters?limit="+strconv.Itoa(limit))
			if err != nil {
				return err
			}
			if asJSON {
				_, err := out.Write(body)
				return err
			}
			var list executor.DeadLetters
			if err := json.Unmarshal(body, &list); err != nil {
				return fmt.Errorf("reading the executor's answer: %w", err)
			}
			if len(list.DeadLetters) == 0 {
				fmt.Fprintln(out, "no dead letters")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tAT\tCONTACT\tITEM\tREASON")
			for _, d := range list.DeadLetters {
				reason := d.Reason
				if d.Forged {
					reason += " (forged: cannot be retried)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.ID, d.At.Format(time.RFC3339), d.Contact, d.Item, reason)
			}
			return tw.Flush()
		},
	}
	addExecutorAPIFlags(cmd, &o)
	cmd.Flags().StringVar(&retry, "retry", "", "queue the dead letter with this ID again")
	cmd.Flags().IntVar(&limit, "limit", 100, "list at most this many (1 to 1000)")
	cmd.Flags().BoolVarP(&asJSON, "json", "", false, "print the executor's JSON answer")
	return cmd
}

func newContactsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "contacts",
		Short: "Act on one contact's data in a flow's session store",
	}
	var o executorAPIOptions
	erase := &cobra.Command{
		Use:   "erase FLOW CONTACT",
		Short: "Erase everything a flow keeps of one contact",
		Long: "erase deletes what a flow's session store holds of one contact — the session (its\n" +
			"variables and the recent conversation a hand-off shows), queued messages, timers\n" +
			"(hand-off notifications waiting for a retry included), message dedupe records and dead\n" +
			"letters — through the executor's API (DELETE /v1/contacts/{id}) with the flow's runToken.\n" +
			"A message the contact sends later starts afresh. Logs hold only a keyed hash of the id.",
		Example: "  chatflow contacts erase order-status 15550100100 -n shop",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			api, err := connectExecutor(ctx, args[0], o)
			if err != nil {
				return err
			}
			body, err := api.do(ctx, http.MethodDelete, "/v1/contacts/"+url.PathEscape(args[1]))
			if err != nil {
				return err
			}
			var e store.Erased
			if err := json.Unmarshal(body, &e); err != nil {
				return fmt.Errorf("reading the executor's answer: %w", err)
			}
			session := "no session"
			if e.Session {
				session = "the session"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "erased contact %s of flow %s: %s, %d queued items, %d timers, %d dedupe records, %d dead letters\n",
				args[1], args[0], session, e.InboxItems, e.Timers, e.DedupeRecords, e.DeadLetters)
			return nil
		},
	}
	addExecutorAPIFlags(erase, &o)
	cmd.AddCommand(erase)
	return cmd
}
