package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/internal/dev/statefile"
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/executor"
)

// executorAPIOptions say how a command reaches a flow's executor API (the
// dead letters, erasure): the flow in the kubeconfig's cluster, through
// chatflow dev's executor or the API server's proxy to the flow's executor
// Service, or an executor URL given outright.
type executorAPIOptions struct {
	namespace, kubeContext, kubeconfigPath string
	dir                                    string
	executorURL, runToken                  string
}

func addExecutorAPIFlags(cmd *cobra.Command, o *executorAPIOptions) {
	f := cmd.Flags()
	f.StringVarP(&o.namespace, "namespace", "n", "", "the flow's namespace (default: the kubeconfig context's)")
	f.StringVar(&o.kubeContext, "context", "", "the kubeconfig context to use")
	f.StringVar(&o.kubeconfigPath, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, else the one of chatflow dev, else ~/.kube/config)")
	f.StringVar(&o.dir, "dir", statefile.DefaultDir, "the directory of chatflow dev, whose state says where executors listen")
	f.StringVar(&o.executorURL, "executor", "", "URL of the flow's executor (default: chatflow dev's, else the API server's proxy to the flow's executor Service)")
	f.StringVar(&o.runToken, "run-token", "", "the flow's runToken (default: $CHATFLOW_RUN_TOKEN, else read from the flow's credentials Secret)")
}

// executorAPI is a flow's executor API, authorized with its runToken.
type executorAPI struct {
	base   string
	token  string
	client *http.Client
	// relay: base is the gateway's prefix of the flow
	// (/v1/namespaces/<ns>/chatflows/<name>), under which the executor's
	// /v1 paths go, and the runToken goes as Authorization: Bearer, the
	// header the gateway passes on.
	relay bool
}

// connectExecutor finds the flow's executor and its runToken.
func connectExecutor(ctx context.Context, flowName string, o executorAPIOptions) (*executorAPI, error) {
	api := &executorAPI{base: strings.TrimRight(o.executorURL, "/"), token: o.runToken, client: &http.Client{Timeout: 30 * time.Second}}
	if api.token == "" {
		api.token = os.Getenv("CHATFLOW_RUN_TOKEN")
	}
	if api.base != "" && api.token != "" {
		return api, nil
	}
	state, _ := statefile.LoadState(o.dir)
	cfg, ns, err := chatKubeconfig(chatOptions{namespace: o.namespace, kubeContext: o.kubeContext, kubeconfigPath: o.kubeconfigPath}, state)
	if err != nil {
		return nil, fmt.Errorf("%w (or pass --executor and --run-token)", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return nil, err
	}
	if api.token == "" {
		if api.token, err = flowRunToken(ctx, c, ns, flowName); err != nil {
			return nil, err
		}
	}
	if api.base != "" {
		return api, nil
	}
	if state != nil {
		if e, ok := state.ExecutorOf(ns, flowName); ok {
			if u, ok := e.URL(); ok {
				api.base = u
				return api, nil
			}
		}
	}
	// Through the API server's proxy to the executor Service: the caller
	// needs services/proxy in the namespace, and the runToken.
	api.base = strings.TrimRight(cfg.Host, "/") + fmt.Sprintf("/api/v1/namespaces/%s/services/%s:%s/proxy",
		ns, builders.ExecutorName(flowName), builders.PortName)
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	api.client = hc
	return api, nil
}

// flowRunToken reads the runToken of a flow's credentials: its binding's
// Secret, or an unbound Manual flow's spec.trigger.credentialsRef.
func flowRunToken(ctx context.Context, c client.Client, ns, flowName string) (string, error) {
	f := &v1alpha1.ChatFlow{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: flowName}, f); err != nil {
		return "", fmt.Errorf("reading ChatFlow %s/%s: %w", ns, flowName, err)
	}
	var bindings v1alpha1.ChannelBindingList
	if err := c.List(ctx, &bindings, client.InNamespace(ns)); err != nil {
		return "", fmt.Errorf("listing the ChannelBindings of %s: %w", ns, err)
	}
	name := builders.CredentialsSecret(f, pickBinding(bindings.Items, flowName))
	if name == "" {
		return "", fmt.Errorf("flow %s/%s has no credentials Secret to read the runToken from: pass --run-token", ns, flowName)
	}
	s := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		return "", fmt.Errorf("reading the runToken from Secret %s: %w (or pass --run-token)", name, err)
	}
	token := string(s.Data[channel.KeyRunToken])
	if token == "" {
		return "", fmt.Errorf("Secret %s has no %s: the executor's API refuses every call; add one", name, channel.KeyRunToken)
	}
	return token, nil
}

// do calls the executor API and returns the body of a 2xx answer; any
// other status is an error quoting the executor's message.
func (a *executorAPI) do(ctx context.Context, method, path string) ([]byte, error) {
	if a.relay {
		path = strings.TrimPrefix(path, "/v1")
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, nil)
	if err != nil {
		return nil, err
	}
	if a.relay {
		req.Header.Set("Authorization", "Bearer "+a.token)
	} else {
		req.Header.Set(executor.RunTokenHeader, a.token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("calling the executor: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("the executor answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}
