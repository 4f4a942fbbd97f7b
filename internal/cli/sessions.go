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
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/internal/dev/statefile"
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/executor"
)

// inspectOptions are the flags of `chatflow sessions` and `chatflow trace`.
type inspectOptions struct {
	namespace, kubeContext, kubeconfigPath string
	dir                                    string
	executorURL                            string
	node                                   string
	limit                                  int
	allRuns                                bool
	output                                 string
}

func addInspectFlags(cmd *cobra.Command, o *inspectOptions) {
	f := cmd.Flags()
	f.StringVarP(&o.namespace, "namespace", "n", "", "the flow's namespace (default: the kubeconfig context's)")
	f.StringVar(&o.kubeContext, "context", "", "the kubeconfig context to use")
	f.StringVar(&o.kubeconfigPath, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, else the one of chatflow dev, else ~/.kube/config)")
	f.StringVar(&o.dir, "dir", statefile.DefaultDir, "the directory of chatflow dev, whose state says where executors listen")
	f.StringVar(&o.executorURL, "executor", "", "URL of the flow's executor (default: chatflow dev's, else the <flow>-executor Service through the API server)")
	f.StringVarP(&o.output, "output", "o", "", "json: the executor's answer as it is")
}

func newSessionsCommand() *cobra.Command {
	o := inspectOptions{}
	cmd := &cobra.Command{
		Use:   "sessions FLOW",
		Short: "List the contacts of a live flow by the node where they wait",
		Long: "sessions asks a published flow's executor who waits where: for each node a contact can\n" +
			"wait at (or the one --node names), the contacts waiting there, since when, and until when.\n\n" +
			"It reaches the executor through the API server's service proxy with your own credentials\n" +
			"(you need to read the flow, its binding's Secret for the runToken, and services/proxy in\n" +
			"its namespace), or through chatflow dev's state, or at --executor.",
		Example: "  chatflow sessions order-status\n  chatflow sessions order-status --node wait-order -n shop",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSessions(cmd.Context(), cmd.OutOrStdout(), args[0], o)
		},
	}
	addInspectFlags(cmd, &o)
	cmd.Flags().StringVar(&o.node, "node", "", "list only the contacts waiting at this node, every page")
	cmd.Flags().IntVar(&o.limit, "limit", 50, "contacts shown per node (with --node: per page)")
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
	return cmd
}

// inspector calls an executor's inspector routes.
type inspector struct {
	flow  *v1alpha1.ChatFlow
	get   func(ctx context.Context, path string, query url.Values) ([]byte, error)
	where string // for messages: the URL, or the Service
}

// connect finds the flow, its runToken, and the way to its executor.
func connect(ctx context.Context, flowName string, o inspectOptions) (*inspector, error) {
	state, _ := statefile.LoadState(o.dir) // no chatflow dev: the cluster
	cfg, ns, err := chatKubeconfig(chatOptions{namespace: o.namespace, kubeContext: o.kubeContext, kubeconfigPath: o.kubeconfigPath}, state)
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return nil, err
	}
	flow := &v1alpha1.ChatFlow{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: flowName}, flow); err != nil {
		return nil, fmt.Errorf("reading ChatFlow %s/%s: %w", ns, flowName, err)
	}
	token, err := runToken(ctx, c, flow)
	if err != nil {
		return nil, err
	}
	in := &inspector{flow: flow}
	base := o.executorURL
	if base == "" && state != nil {
		if e, ok := state.ExecutorOf(ns, flowName); ok {
			if base, ok = e.URL(); !ok {
				return nil, fmt.Errorf("the executor of flow %s/%s is not ready yet: try again in a moment (log: %s)", ns, flowName, logOf(e))
			}
		}
	}
	if base != "" {
		in.where = base
		in.get = directGet(strings.TrimRight(base, "/"), token)
		return in, nil
	}
	in.where = fmt.Sprintf("Service %s/%s", ns, builders.ExecutorName(flowName))
	in.get, err = proxyGet(cfg, ns, builders.ExecutorName(flowName), token)
	return in, err
}

// runToken reads the runToken of a flow: from its binding's Secret, or
// for a Manual flow without one, from spec.trigger.credentialsRef's.
func runToken(ctx context.Context, c client.Client, flow *v1alpha1.ChatFlow) (string, error) {
	var bindings v1alpha1.ChannelBindingList
	if err := c.List(ctx, &bindings, client.InNamespace(flow.Namespace)); err != nil {
		return "", fmt.Errorf("listing the ChannelBindings of %s: %w", flow.Namespace, err)
	}
	secretName, owner := "", ""
	if b := pickBinding(bindings.Items, flow.Name); b != nil {
		secretName, owner = b.Spec.CredentialsRef.Name, "ChannelBinding "+b.Name
	} else if r := flow.Spec.Trigger.CredentialsRef; r != nil {
		secretName, owner = r.Name, "spec.trigger.credentialsRef"
	} else {
		return "", fmt.Errorf("flow %s has no ChannelBinding and no spec.trigger.credentialsRef: no Secret holds its runToken", flow.Name)
	}
	secret := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: flow.Namespace, Name: secretName}, secret); err != nil {
		return "", fmt.Errorf("reading the Secret of %s (its runToken authorizes the inspector): %w", owner, err)
	}
	token := string(secret.Data[channel.KeyRunToken])
	if token == "" {
		return "", fmt.Errorf("Secret %s has no runToken: add one, the executor's inspector needs it", secretName)
	}
	return token, nil
}

func directGet(base, token string) func(context.Context, string, url.Values) ([]byte, error) {
	hc := &http.Client{Timeout: 30 * time.Second}
	return func(ctx context.Context, path string, query url.Values) ([]byte, error) {
		u := base + path
		if len(query) > 0 {
			u += "?" + query.Encode()
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, &answerError{code: resp.StatusCode, msg: strings.TrimSpace(string(body))}
		}
		return body, nil
	}
}

// proxyGet reaches the executor Service through the API server's service
// proxy, as the user: the runToken goes in executor.TokenHeader, since the
// API server keeps the Authorization header for itself.
func proxyGet(cfg *rest.Config, ns, service, token string) (func(context.Context, string, url.Values) ([]byte, error), error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, path string, query url.Values) ([]byte, error) {
		req := cs.CoreV1().RESTClient().Get().Namespace(ns).Resource("services").
			Name(service+":"+builders.PortName).SubResource("proxy").Suffix(path).
			SetHeader(executor.TokenHeader, token)
		for k, vs := range query {
			for _, v := range vs {
				req = req.Param(k, v)
			}
		}
		res := req.Do(ctx)
		var code int
		res.StatusCode(&code)
		body, err := res.Raw()
		if err != nil {
			if code != 0 && code != http.StatusOK {
				return nil, &answerError{code: code, msg: strings.TrimSpace(string(body))}
			}
			return nil, err
		}
		return body, nil
	}, nil
}

// answerError is an executor's answer other than 200.
type answerError struct {
	code int
	msg  string
}

func (e *answerError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.code, http.StatusText(e.code), e.msg)
}

func (in *inspector) fetch(ctx context.Context, path string, query url.Values, into any) error {
	body, err := in.get(ctx, path, query)
	if err != nil {
		return fmt.Errorf("asking the executor of %s (%s): %w", in.flow.Name, in.where, err)
	}
	if raw, ok := into.(*json.RawMessage); ok {
		*raw = body
		return nil
	}
	return json.Unmarshal(body, into)
}

func runSessions(ctx context.Context, out io.Writer, flowName string, o inspectOptions) error {
	if o.limit < 1 || o.limit > 500 {
		return errors.New("--limit must be from 1 to 500")
	}
	in, err := connect(ctx, flowName, o)
	if err != nil {
		return err
	}
	nodes := waitNodes(in.flow)
	if o.node != "" {
		if !slices.ContainsFunc(in.flow.Spec.Nodes, func(n v1alpha1.Node) bool { return n.ID == o.node }) {
			return fmt.Errorf("flow %s has no node %q", flowName, o.node)
		}
		nodes = []string{o.node}
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
			if err := in.fetch(ctx, "/v1/nodes/"+url.PathEscape(node)+"/contacts", q, &p); err != nil {
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
		fmt.Fprintf(out, "No contact waits in %s/%s.\n", in.flow.Namespace, flowName)
	}
	for _, n := range more {
		fmt.Fprintf(out, "More contacts wait at %s: chatflow sessions %s --node %s\n", n, flowName, n)
	}
	return nil
}

// waitNodes are the nodes a session can rest at, in spec order.
func waitNodes(f *v1alpha1.ChatFlow) []string {
	var out []string
	for _, n := range f.Spec.Nodes {
		switch n.Type {
		case v1alpha1.NodeWaitForReply, v1alpha1.NodeDelay, v1alpha1.NodeHandoff:
			out = append(out, n.ID)
		}
	}
	return out
}

func runTrace(ctx context.Context, out io.Writer, flowName, contact string, o inspectOptions) error {
	in, err := connect(ctx, flowName, o)
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
		if err := in.fetch(ctx, path, q, &raw); err != nil {
			return err
		}
		_, err := fmt.Fprintf(out, "%s", raw)
		return err
	}
	var v executor.ContactView
	if err := in.fetch(ctx, path, q, &v); err != nil {
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
