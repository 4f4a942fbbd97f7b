package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatflow-dev/chatflow/internal/dev/statefile"
	"github.com/chatflow-dev/chatflow/runtime/executor"
)

// inspectOptions are the flags of `chatflow sessions` and `chatflow trace`.
type inspectOptions struct {
	api     executorAPIOptions
	gateway string
	node    string
	limit   int
	allRuns bool
	output  string
}

func newSessionsCommand() *cobra.Command {
	o := inspectOptions{}
	cmd := &cobra.Command{
		Use:   "sessions FLOW",
		Short: "List the contacts of a live flow by the node where they wait",
		Long: "sessions asks a published flow's executor who waits where: for each node where contacts\n" +
			"wait (or the one --node names), the contacts waiting there, since when, and until when.\n\n" +
			"It reaches the executor as `chatflow deadletters` does: through chatflow dev's state, at\n" +
			"--executor, or through the API server's service proxy with your own credentials (you need\n" +
			"to read the flow, its credentials Secret for the runToken, and services/proxy in its\n" +
			"namespace), or through the gateway's relay (--gateway, with the runToken).",
		Example: "  chatflow sessions order-status\n  chatflow sessions order-status --node wait-order -n shop",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSessions(cmd.Context(), cmd.OutOrStdout(), args[0], o)
		},
	}
	addInspectFlags(cmd, &o)
	f := cmd.Flags()
	f.StringVar(&o.node, "node", "", "list only the contacts waiting at this node, every page")
	f.IntVar(&o.limit, "limit", 50, "contacts shown per node (with --node: per page)")
	f.StringVarP(&o.output, "output", "o", "", "json: the executor's answers as they are")
	return cmd
}

func newTraceCommand() *cobra.Command {
	o := inspectOptions{}
	cmd := &cobra.Command{
		Use:   "trace FLOW CONTACT",
		Short: "Show one contact's session in a live flow and what its run did",
		Long: "trace asks a published flow's executor for a contact's session: where it is, what it waits\n" +
			"for, its timers and variables (values the flow marks sensitive redacted), and prints the run's\n" +
			"last events as a timeline: the nodes it went through, the branches taken, sends and errors.\n\n" +
			"It reaches the executor as `chatflow sessions` does.",
		Example: "  chatflow trace order-status 15550100100\n  chatflow trace order-status 15550100100 --all-runs -o json",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTrace(cmd.Context(), cmd.OutOrStdout(), args[0], args[1], o)
		},
	}
	addInspectFlags(cmd, &o)
	cmd.Flags().BoolVar(&o.allRuns, "all-runs", false, "the events of every run kept, not only the current run's")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "json: the executor's answer as it is")
	return cmd
}

func addInspectFlags(cmd *cobra.Command, o *inspectOptions) {
	addExecutorAPIFlags(cmd, &o.api)
	cmd.Flags().StringVar(&o.gateway, "gateway", "", "URL of the gateway, which relays the inspector of the flows it serves (instead of the executor's Service)")
}

// connect reaches the flow's executor as chatflow deadletters does, or
// through the gateway's relay of its inspector.
func (o *inspectOptions) connect(ctx context.Context, flowName string) (*executorAPI, error) {
	if o.gateway == "" {
		return connectExecutor(ctx, flowName, o.api)
	}
	if o.api.executorURL != "" {
		return nil, errors.New("--gateway and --executor name two ways to the executor: give one")
	}
	a := o.api
	if a.namespace == "" {
		state, _ := statefile.LoadState(a.dir)
		_, ns, err := chatKubeconfig(chatOptions{kubeContext: a.kubeContext, kubeconfigPath: a.kubeconfigPath}, state)
		if err != nil {
			return nil, fmt.Errorf("%w (or pass -n with --gateway)", err)
		}
		a.namespace = ns
	}
	a.executorURL = strings.TrimRight(o.gateway, "/") + "/v1/namespaces/" + url.PathEscape(a.namespace) + "/chatflows/" + url.PathEscape(flowName)
	api, err := connectExecutor(ctx, flowName, a)
	if err != nil {
		return nil, err
	}
	api.relay = true
	return api, nil
}

// getJSON calls a GET route of the executor's inspector and decodes its
// answer (a *json.RawMessage takes it as it is).
func (a *executorAPI) getJSON(ctx context.Context, path string, query url.Values, into any) error {
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	body, err := a.do(ctx, http.MethodGet, path)
	if err != nil {
		return err
	}
	if raw, ok := into.(*json.RawMessage); ok {
		*raw = body
		return nil
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("reading the executor's answer: %w", err)
	}
	return nil
}

func runSessions(ctx context.Context, out io.Writer, flowName string, o inspectOptions) error {
	if o.limit < 1 || o.limit > 500 {
		return errors.New("--limit must be from 1 to 500")
	}
	api, err := o.connect(ctx, flowName)
	if err != nil {
		return err
	}
	var all executor.NodesView
	if err := api.getJSON(ctx, "/v1/nodes", nil, &all); err != nil {
		return err
	}
	// The nodes the index has contacts at (the listing checks them), or
	// the one asked for.
	var nodes []string
	for _, n := range all.Nodes {
		if (o.node == "" && n.Waiting > 0) || n.ID == o.node {
			nodes = append(nodes, n.ID)
		}
	}
	if o.node != "" && len(nodes) == 0 {
		return fmt.Errorf("flow %s (revision %s) has no node %q", flowName, all.Revision, o.node)
	}
	now := time.Now()
	var pages []executor.WaitingPage
	for _, node := range nodes {
		cursor := ""
		for {
			var p executor.WaitingPage
			q := url.Values{"limit": {fmt.Sprint(o.limit)}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			if err := api.getJSON(ctx, "/v1/nodes/"+url.PathEscape(node)+"/contacts", q, &p); err != nil {
				return err
			}
			pages = append(pages, p)
			// Without --node, a node's first page is enough: it says
			// where contacts are; --node lists them all.
			if cursor = p.Next; cursor == "" || o.node == "" {
				break
			}
		}
	}
	if o.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(pages)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tCONTACT\tSTATUS\tWAITING\tDEADLINE\tRUN")
	total, more := 0, []string{}
	for _, p := range pages {
		for _, c := range p.Contacts {
			total++
			deadline := "-"
			if !c.Deadline.IsZero() {
				deadline = "in " + short(c.Deadline.Sub(now))
				if c.Deadline.Before(now) {
					deadline = "due"
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Node, c.Contact, c.Status, short(now.Sub(c.Since)), deadline, c.RunID)
		}
		if p.Next != "" && o.node == "" {
			more = append(more, p.Node)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if total == 0 {
		fmt.Fprintf(out, "No contact waits in %s/%s.\n", all.Namespace, flowName)
	}
	for _, n := range more {
		fmt.Fprintf(out, "More contacts wait at %s: chatflow sessions %s --node %s\n", n, flowName, n)
	}
	return nil
}

func runTrace(ctx context.Context, out io.Writer, flowName, contact string, o inspectOptions) error {
	api, err := o.connect(ctx, flowName)
	if err != nil {
		return err
	}
	q := url.Values{}
	if o.allRuns {
		q.Set("events", "all")
	}
	path := "/v1/contacts/" + url.PathEscape(contact)
	if o.output == "json" {
		var raw json.RawMessage
		if err := api.getJSON(ctx, path, q, &raw); err != nil {
			return err
		}
		_, err := fmt.Fprintf(out, "%s", raw)
		return err
	}
	var v executor.ContactView
	if err := api.getJSON(ctx, path, q, &v); err != nil {
		return err
	}
	printContact(out, &v, time.Now())
	return nil
}

// printContact prints a session and its run's timeline for people.
func printContact(out io.Writer, v *executor.ContactView, now time.Time) {
	fmt.Fprintf(out, "Contact %s of flow %s/%s\n", v.Contact, v.Namespace, v.Flow)
	if v.RunID != "" {
		rev := v.Revision
		if v.Revision != v.LiveRevision {
			rev += fmt.Sprintf(" (the executor runs %s: the session moves at its next turn)", v.LiveRevision)
		}
		fmt.Fprintf(out, "Run %s, revision %s\n", v.RunID, rev)
	}
	where := string(v.Status)
	if v.Node != nil {
		where += fmt.Sprintf(" at %s (%s)", v.Node.ID, v.Node.Type)
	}
	if where != "" {
		fmt.Fprintf(out, "Status: %s\n", where)
	}
	if v.WaitingFor != "" {
		fmt.Fprintf(out, "Waiting for %s\n", v.WaitingFor)
	}
	for _, t := range v.Timers {
		fmt.Fprintf(out, "Timer %s: %s (in %s), then %s\n", t.ID, t.At.UTC().Format(time.RFC3339), short(t.At.Sub(now)), t.Then)
	}
	printValues(out, "Variables", v.Variables)
	printValues(out, "Inputs", v.Inputs)
	if m := v.LastMessage; m != nil {
		what := m.Kind
		if m.Text != "" {
			what += " " + fmt.Sprintf("%q", m.Text)
		}
		if m.ButtonID != "" {
			what += " button " + m.ButtonID
		}
		fmt.Fprintf(out, "Last message: %s\n", strings.TrimSpace(what))
	}
	fmt.Fprintln(out, "\nTimeline:")
	if len(v.Events) == 0 {
		fmt.Fprintln(out, "  (no event kept)")
	}
	run := ""
	for _, e := range v.Events {
		if e.RunID != run && e.RunID != "" {
			run = e.RunID
			fmt.Fprintf(out, "  run %s\n", run)
		}
		fmt.Fprintf(out, "  %s  %s\n", e.Time.UTC().Format("2006-01-02 15:04:05.000"), describe(&e))
	}
}

func printValues(out io.Writer, title string, vals map[string]any) {
	if len(vals) == 0 {
		return
	}
	fmt.Fprintf(out, "%s:\n", title)
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		b, _ := json.Marshal(vals[k])
		if s, ok := vals[k].(string); ok && s == "[redacted]" {
			b = []byte(s)
		}
		val := string(b)
		if len(val) > 120 {
			val = val[:117] + "..."
		}
		fmt.Fprintf(tw, "  %s\t%s\n", k, val)
	}
	_ = tw.Flush()
}

// describe renders an event on one line.
func describe(e *executor.EventView) string {
	node := e.NodeID
	if e.NodeType != "" {
		node += " (" + e.NodeType + ")"
	}
	var s string
	switch e.Event {
	case "run_started":
		s = "run started: " + e.Message
	case "run_ended":
		s = "run ended: " + e.Message
		if e.NodeID != "" {
			s += " at " + e.NodeID
		}
	case "node_entered":
		s = "-> " + node
	case "node_left":
		s = "   " + e.NodeID + " left by " + e.Branch
	case "message_sent":
		s = "   sent " + e.Message
		if e.NodeID != "" {
			s += " by " + e.NodeID
		}
	case "message_failed":
		s = fmt.Sprintf("   ! send failed at %s [%s]: %s", e.NodeID, e.Reason, e.Message)
	case "error":
		at := "the run"
		if e.NodeID != "" {
			at = e.NodeID
		}
		s = fmt.Sprintf("   ! error at %s [%s]: %s", at, e.Reason, e.Message)
	case "message_ignored":
		s = "   (message ignored: " + e.Message + ")"
	case "revision_changed":
		s = "   " + e.Message
	default:
		s = string(e.Event) + " " + node + " " + e.Message
	}
	if e.LatencyMS > 0 {
		s += fmt.Sprintf("  (+%.1fms)", e.LatencyMS)
	}
	return s
}

// short renders a duration for a table: 45s, 3m12s, 5h3m, 2d4h.
func short(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}
