package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/flowjson"
)

func newExportCommand() *cobra.Command {
	var file, name, namespace, kubeContext, out string
	cmd := &cobra.Command{
		Use:   "export (-f FILE [--name N] | NAME [-n NAMESPACE])",
		Short: "Write a flow as portable JSON, without cluster metadata",
		Long: `export writes a ChatFlow in the portable flow format (see chatflow import): its
name, labels, annotations and spec, without namespace, status or what the cluster
and deployment tools add, plus its revision. The flow comes from a manifest file
(-f; it must lint clean) or from the cluster of the current kubeconfig by name.
chatflow import turns the JSON back into the same manifest.`,
		Example: `  chatflow export -f config/samples/order-status.yaml > order-status.json
  chatflow export order-status -n shop -o order-status.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cf *v1alpha1.ChatFlow
			switch {
			case file != "" && len(args) > 0:
				return errors.New("export a flow from a file (-f) or from the cluster (NAME), not both")
			case file != "":
				f, _, err := loadFlow(cmd, file, name)
				if err != nil {
					return err
				}
				cf = f.Written
			case len(args) == 1:
				cfg, ns, err := kubeconfig(kubeContext, namespace)
				if err != nil {
					return err
				}
				if cf, err = fetchFlow(cmd.Context(), cfg, ns, args[0]); err != nil {
					return err
				}
			default:
				return errors.New("name the flow: -f FILE, or NAME to read it from the cluster")
			}
			pf, err := flowjson.FromChatFlow(cf)
			if err != nil {
				return err
			}
			b, err := pf.Marshal()
			if err != nil {
				return err
			}
			return writeOut(cmd, out, b)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&file, "file", "f", "", "a manifest with the flow (- for stdin)")
	fl.StringVar(&name, "name", "", "the ChatFlow of the file, when it has several")
	fl.StringVarP(&namespace, "namespace", "n", "", "the flow's namespace in the cluster (default: the kubeconfig context's)")
	fl.StringVar(&kubeContext, "context", "", "the kubeconfig context to use")
	fl.StringVarP(&out, "output", "o", "", "write to this file instead of stdout")
	return cmd
}

// kubeconfig loads the client configuration the way kubectl does
// (KUBECONFIG, ~/.kube/config, in-cluster) and the namespace to use.
func kubeconfig(kubeContext, namespace string) (*rest.Config, string, error) {
	cfg, err := config.GetConfigWithContext(kubeContext)
	if err != nil {
		return nil, "", err
	}
	if namespace == "" {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
		if namespace, _, err = cc.Namespace(); err != nil || namespace == "" {
			namespace = "default"
		}
	}
	return cfg, namespace, nil
}

// fetchFlow reads a ChatFlow from the cluster.
func fetchFlow(ctx context.Context, cfg *rest.Config, namespace, name string) (*v1alpha1.ChatFlow, error) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	var cf v1alpha1.ChatFlow
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &cf); err != nil {
		return nil, fmt.Errorf("reading ChatFlow %s/%s: %w", namespace, name, err)
	}
	return &cf, nil
}

// writeOut writes a command's result to the --output file, or stdout.
func writeOut(cmd *cobra.Command, path string, b []byte) error {
	if path == "" || path == "-" {
		_, err := cmd.OutOrStdout().Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
