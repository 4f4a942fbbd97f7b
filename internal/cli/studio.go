package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/chatflow-dev/chatflow/internal/dev/statefile"
	"github.com/chatflow-dev/chatflow/internal/studio"
)

func newStudioCommand() *cobra.Command {
	var port int
	var kubeContext, namespace, kubeconfigPath, devDir string
	var offline bool
	cmd := &cobra.Command{
		Use:   "studio [FILE...|DIR]",
		Short: "Design flows on a visual canvas, from YAML files or a live cluster",
		Long: `studio serves a local web app on 127.0.0.1 and prints the URL to open; the URL
carries a random token and the studio answers no one without it, and no page of
another origin.

It opens the ChatFlows of the files given, or of every manifest under DIR
(default: the current directory), on a canvas laid out left to right: a palette
of every node type, handles for next, branches, default, onError, onTimeout and
jump targets, property panels generated from the CRD's schema, and the problems
chatflow lint finds drawn on the nodes as you edit. Saving writes the flow back
into its file, keeping comments, fields the studio does not show and the node
order (a diff is shown first). It also runs the flow's transcript tests
(NAME.test.yaml), exports and imports portable JSON, imports Twilio Studio flows
and starts flows from the templates of chatflow new.

With a kubeconfig (--kubeconfig, $KUBECONFIG, the one of a running chatflow dev,
else ~/.kube/config) it lists the ChatFlows of the namespace (-n) and opens them
live: status, conditions and bindings; edits applied with server-side apply
under your own identity, so admission decides; Publish and Unpublish; per-node
counters from the executors. With chatflow dev (--dir) its chat panel talks to a
published flow through the channel sandbox.`,
		Example: `  chatflow studio config/samples
  chatflow studio flows/order-status.yaml --port 8765
  chatflow studio -n shop --context prod`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cluster := &studio.Cluster{}
			if !offline {
				cluster = studioCluster(kubeconfigPath, kubeContext, namespace, devDir)
			}
			s, err := studio.New(studio.Options{Paths: args, Cluster: cluster, DevDir: devDir})
			if err != nil {
				return err
			}
			ln, err := s.Listen(port)
			if err != nil {
				return fmt.Errorf("the studio cannot listen on 127.0.0.1:%d: %w", port, err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "chatflow studio: open %s\n", s.URL())
			if cluster.Config != nil {
				fmt.Fprintf(out, "live flows of namespace %s at %s\n", cluster.Namespace, cluster.Config.Host)
			} else if cluster.Err != nil {
				fmt.Fprintf(out, "no live flows: %v\n", cluster.Err)
			}
			fmt.Fprintln(out, "Ctrl-C stops it.")
			return s.Serve(cmd.Context(), ln)
		},
	}
	f := cmd.Flags()
	f.IntVar(&port, "port", 0, "the loopback port to listen on (default: a free one)")
	f.StringVar(&kubeContext, "context", "", "the kubeconfig context of the cluster")
	f.StringVarP(&namespace, "namespace", "n", "", "the namespace of live flows (default: the context's)")
	f.StringVar(&kubeconfigPath, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, else chatflow dev's, else ~/.kube/config)")
	f.StringVar(&devDir, "dir", statefile.DefaultDir, "the directory of chatflow dev, for chatting with published flows")
	f.BoolVar(&offline, "offline", false, "do not connect to any cluster")
	return cmd
}

// studioCluster loads the kubeconfig as chatflow chat does; without one
// the studio edits files only and says why.
func studioCluster(path, kubeContext, namespace, devDir string) *studio.Cluster {
	state, _ := statefile.LoadState(devDir)
	cfg, ns, err := chatKubeconfig(chatOptions{namespace: namespace, kubeContext: kubeContext, kubeconfigPath: path}, state)
	if err != nil {
		return &studio.Cluster{Err: err}
	}
	return &studio.Cluster{Config: cfg, Namespace: ns, Context: kubeContext}
}
