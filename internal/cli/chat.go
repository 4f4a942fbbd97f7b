package cli

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/chat"
	"github.com/chatflow-dev/chatflow/internal/dev/statefile"
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

type chatOptions struct {
	namespace, kubeContext, kubeconfigPath string
	dir                                    string
	contact, name                          string
	executorURL, gatewayURL, sandboxURL    string
	inputs                                 []string
	replyTimeout, quiet                    time.Duration
	local                                  localChatOptions // chat_local.go
}

func newChatCommand() *cobra.Command {
	o := chatOptions{}
	cmd := &cobra.Command{
		Use:   "chat FLOW",
		Short: "Talk to a published flow as one of its contacts",
		Long: "chat plays a contact of a flow: each line you type becomes the channel's signed webhook,\n" +
			"posted to the gateway (or straight to the flow's executor); the flow's replies are read\n" +
			"from the channel sandbox its binding sends to (spec.apiBaseURL) and printed, buttons and\n" +
			"quick replies numbered: type the number to pick one. A Manual flow first gets a run started with the --input values.\n\n" +
			"With `chatflow dev` running, everything is found through its state (--dir): the kubeconfig,\n" +
			"the gateway and the sandbox. Elsewhere, pass --gateway (e.g. a kubectl port-forward of the\n" +
			"chatflow-gateway Service) or --executor (the flow's <flow>-executor Service), and --sandbox.\n\n" +
			"With --file, chat runs the flow of a manifest in this process instead, through the same turn\n" +
			"driver as the executor: no cluster, executor or sandbox. Your messages are read by the\n" +
			"channel's parser and the flow's replies rendered by its renderer, as live; HTTP calls are\n" +
			"answered from the http: stubs of the flow's test file (--tests, default <file>.test.yaml).",
		Example: "  chatflow chat order-status\n" +
			"  chatflow chat faq-menu --contact 17841400000001 --name Sam\n" +
			"  chatflow chat appointment-reminder --input patientName=Alex --input 'appointmentTime=Tue 10:30'\n" +
			"  printf 'hi\\n10452\\n' | chatflow chat order-status\n" +
			"  chatflow chat --file config/samples/order-status.yaml",
		Args: cobra.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.local.file != "" {
				return runLocalChat(cmd, args, o)
			}
			if len(args) != 1 {
				return fmt.Errorf("name the flow to chat with (or run one from its file with --file)")
			}
			return runChat(cmd, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.namespace, "namespace", "n", "", "the flow's namespace (default: the kubeconfig context's)")
	f.StringVar(&o.kubeContext, "context", "", "the kubeconfig context to use")
	f.StringVar(&o.kubeconfigPath, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, else the one of chatflow dev, else ~/.kube/config)")
	f.StringVar(&o.dir, "dir", statefile.DefaultDir, "the directory of chatflow dev, whose state says where executors and the sandbox listen")
	f.StringVar(&o.contact, "contact", "15550100100", "the contact id you chat as (a WhatsApp number, PSID, IGSID or Viber id)")
	f.StringVar(&o.name, "name", "Alex", "the contact's profile name")
	f.StringVar(&o.gatewayURL, "gateway", "", "URL of the Chatflow gateway (default: chatflow dev's)")
	f.StringVar(&o.executorURL, "executor", "", "URL of the flow's executor, to bypass the gateway")
	f.StringVar(&o.sandboxURL, "sandbox", "", "URL of the channel sandbox (default: the binding's spec.apiBaseURL, else chatflow dev's)")
	f.StringArrayVar(&o.inputs, "input", nil, "NAME=VALUE input of a Manual flow's run (repeatable)")
	f.DurationVar(&o.replyTimeout, "reply-timeout", 30*time.Second, "how long to wait for the flow's first reply to a message")
	f.DurationVar(&o.quiet, "quiet", 1500*time.Millisecond, "a turn ends when the flow sends nothing more for this long")
	addLocalChatFlags(cmd, &o.local)
	return cmd
}

func runChat(cmd *cobra.Command, flowName string, o chatOptions) error {
	ctx := cmd.Context()
	state, stateErr := statefile.LoadState(o.dir)
	cfg, ns, err := chatKubeconfig(o, state)
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return err
	}
	flow := &v1alpha1.ChatFlow{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: flowName}, flow); err != nil {
		return fmt.Errorf("reading ChatFlow %s/%s: %w", ns, flowName, err)
	}
	var bindings v1alpha1.ChannelBindingList
	if err := c.List(ctx, &bindings, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("listing the ChannelBindings of %s: %w", ns, err)
	}
	binding := pickBinding(bindings.Items, flowName)
	if binding == nil {
		return fmt.Errorf("no ChannelBinding names flow %s in %s: chat talks through a channel, so bind one "+
			"(see config/dev-samples)", flowName, ns)
	}
	secret := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: binding.Spec.CredentialsRef.Name}, secret); err != nil {
		return fmt.Errorf("reading the credentials Secret of ChannelBinding %s: %w", binding.Name, err)
	}
	ch := message.Channel(binding.Spec.Channel)
	key := channel.KeyAppSecret
	if ch == message.Viber {
		key = channel.KeyAuthToken
	}
	signing := string(secret.Data[key])
	if signing == "" {
		return fmt.Errorf("Secret %s has no %s: the executor refuses unsigned webhooks", secret.Name, key)
	}

	// Webhooks and runs go through the gateway, as the channels' do, unless
	// --executor points at the flow's executor itself.
	target, runPath := o.executorURL, ""
	if target == "" {
		target = o.gatewayURL
		if target == "" {
			if state == nil {
				return fmt.Errorf("%w; or pass --gateway with the URL of the Chatflow gateway", stateErr)
			}
			target = state.Gateway
			e, ok := state.ExecutorOf(ns, flowName)
			if !ok {
				return fmt.Errorf("flow %s/%s has no executor running in chatflow dev: is it Published and Ready? "+
					"(kubectl get cf %s -n %s)", ns, flowName, flowName, ns)
			}
			if _, ok = e.URL(); !ok {
				return fmt.Errorf("the executor of flow %s/%s is not ready yet: try again in a moment (log: %s)", ns, flowName, logOf(e))
			}
		}
		runPath = fmt.Sprintf("/v1/namespaces/%s/chatflows/%s/runs", ns, flowName)
	}
	sandboxURL := o.sandboxURL
	if sandboxURL == "" {
		sandboxURL = binding.Spec.APIBaseURL
	}
	if sandboxURL == "" {
		if state == nil {
			return fmt.Errorf("ChannelBinding %s has no spec.apiBaseURL and no chatflow dev runs: pass --sandbox", binding.Name)
		}
		sandboxURL = state.Sandbox
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: ChannelBinding %s has no spec.apiBaseURL, so the flow's replies go to the "+
			"real %s API, not to the sandbox at %s: apply config/dev-samples or set spec.apiBaseURL: %s\n",
			binding.Name, ch, sandboxURL, sandboxURL)
	}

	cc := chat.Config{
		Flow: flowName, Channel: ch, Account: binding.Spec.Account.ID, Phone: binding.Spec.Account.PhoneNumber,
		Secret: signing, ExecutorURL: target, RunPath: runPath, SandboxURL: sandboxURL,
		ContactID: o.contact, ContactName: o.name,
		In: cmd.InOrStdin(), Out: cmd.OutOrStdout(), Echo: !isTerminal(cmd.InOrStdin()),
		ReplyTimeout: o.replyTimeout, Quiet: o.quiet,
	}
	if flow.Spec.Trigger.Type == v1alpha1.TriggerManual {
		inputs := map[string]any{}
		for _, kv := range o.inputs {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("--input %q: use NAME=VALUE", kv)
			}
			inputs[k] = v
		}
		cc.Run = &chat.Run{Token: string(secret.Data[channel.KeyRunToken]), Inputs: inputs}
		if cc.Run.Token == "" {
			return fmt.Errorf("flow %s is Manual and Secret %s has no runToken: runs cannot be started", flowName, secret.Name)
		}
	} else if len(o.inputs) > 0 {
		return fmt.Errorf("--input is for Manual flows; %s is triggered by %s", flowName, flow.Spec.Trigger.Type)
	}
	return chat.Start(ctx, cc)
}

// chatKubeconfig picks the kubeconfig: --kubeconfig, $KUBECONFIG, the one
// of the running chatflow dev, else kubectl's defaults.
func chatKubeconfig(o chatOptions, state *statefile.State) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	switch {
	case o.kubeconfigPath != "":
		rules.ExplicitPath = o.kubeconfigPath
	case os.Getenv(clientcmd.RecommendedConfigPathEnvVar) == "" && state != nil:
		rules.ExplicitPath = state.Kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.kubeContext})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("no kubeconfig (start chatflow dev, or set KUBECONFIG): %w", err)
	}
	ns := o.namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil || ns == "" {
			ns = "default"
		}
	}
	return cfg, ns, nil
}

// pickBinding returns the binding of a flow: the Ready one when several
// name it (the others are in conflict).
func pickBinding(items []v1alpha1.ChannelBinding, flow string) *v1alpha1.ChannelBinding {
	var found *v1alpha1.ChannelBinding
	for i := range items {
		b := &items[i]
		if b.Spec.FlowRef.Name != flow {
			continue
		}
		if meta.IsStatusConditionTrue(b.Status.Conditions, v1alpha1.ConditionReady) {
			return b
		}
		if found == nil {
			found = b
		}
	}
	return found
}

func logOf(e statefile.Executor) string {
	for _, r := range e.Replicas {
		return r.Log
	}
	return "no process yet"
}

// isTerminal reports whether r is a character device (a terminal).
func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
