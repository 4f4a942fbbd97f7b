package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/chat"
	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/internal/transcript"
	"github.com/chatflow-dev/chatflow/runtime/channel/viber"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// localChatOptions are the flags of `chatflow chat --file`.
type localChatOptions struct {
	file, tests, channel string
	flows                []string
}

func addLocalChatFlags(cmd *cobra.Command, o *localChatOptions) {
	f := cmd.Flags()
	f.StringVarP(&o.file, "file", "f", "", "run the flow of this manifest (or exported flow) in this process instead of talking to its executor")
	f.StringVar(&o.tests, "tests", "", "with --file: the test file whose http: stubs answer the flow's HTTP calls (default: the file's .test.yaml, when there is one)")
	f.StringVar(&o.channel, "channel", "", "with --file: the channel a Manual flow talks through (default: its binding's in the file)")
	f.StringArrayVar(&o.flows, "flows", nil, "with --file: a file of flows the flow forwards to (ForwardToFlow), when they are not in its own file (repeatable)")
}

// runLocalChat chats with the flow of a file (FLOW names it when the file
// has several), run in this process through the turn driver.
func runLocalChat(cmd *cobra.Command, args []string, o chatOptions) error {
	name := ""
	if len(args) == 1 {
		name = args[0]
	}
	srcs, err := manifest.Read(append([]string{o.local.file}, o.local.flows...), cmd.InOrStdin())
	if err != nil {
		return err
	}
	r := lint.Lint(srcs)
	if name == "" && len(o.local.flows) > 0 {
		// The flow of --file, not those of --flows.
		var own []string
		for _, lf := range r.Flows {
			if lf.Object.Source == srcs[0].Name {
				own = append(own, lf.Object.Name)
			}
		}
		if len(own) == 1 {
			name = own[0]
		}
	}
	f, err := r.Valid(name)
	if err != nil {
		return err
	}
	manual := f.Admitted.Spec.Trigger.Type == v1alpha1.TriggerManual
	prog, ch := f.Program, f.Channel
	if calls := prog.Calls(); len(calls) > 0 && len(prog.Linked()) == 0 {
		return fmt.Errorf("flow %s forwards to %s: pass the files of those flows with --flows", f.Object.Name, strings.Join(calls, ", "))
	}
	if want := message.Channel(o.local.channel); want != "" && want != ch {
		if !manual {
			return fmt.Errorf("--channel: flow %s is triggered by %s; only a Manual flow talks through a channel of your choosing", f.Object.Name, ch)
		}
		p, errs := flow.Compile(&f.Admitted.Spec, flow.Options{Channel: want, FlowName: f.Object.Name})
		if len(errs) > 0 {
			return fmt.Errorf("flow %s is not valid on %s: %v", f.Object.Name, want, errs.ToAggregate())
		}
		prog, ch = p, want
	}
	if ch == "" {
		return fmt.Errorf("flow %s is Manual and the file binds no channel to it: say which with --channel (WhatsApp, Messenger, Instagram or Viber)", f.Object.Name)
	}
	acct := chat.Account{Channel: ch, ID: "local-account", SenderName: f.Object.Name, Manual: manual}
	for _, b := range r.Bindings {
		if b.Admitted != nil && b.Admitted.Spec.FlowRef.Name == f.Object.Name && message.Channel(b.Admitted.Spec.Channel) == ch {
			a := b.Admitted.Spec.Account
			acct.ID, acct.Phone, acct.SenderName = a.ID, a.PhoneNumber, a.Name
			if acct.SenderName == "" {
				acct.SenderName = a.ID
			}
		}
	}
	if s := []rune(acct.SenderName); len(s) > viber.MaxSenderNameLen {
		acct.SenderName = string(s[:viber.MaxSenderNameLen])
	}
	stubs, err := localStubs(o.local)
	if err != nil {
		return err
	}
	lc := chat.LocalConfig{
		Program: prog, Name: f.Object.Name, Account: acct, ContactID: o.contact, ContactName: o.name,
		In: cmd.InOrStdin(), Out: cmd.OutOrStdout(), Echo: !isTerminal(cmd.InOrStdin()),
	}
	if stubs != nil {
		lc.Stubs = stubs
	}
	if manual {
		lc.Inputs = map[string]any{}
		for _, kv := range o.inputs {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("--input %q: use NAME=VALUE", kv)
			}
			lc.Inputs[k] = v
		}
	} else if len(o.inputs) > 0 {
		return fmt.Errorf("--input is for Manual flows; %s is triggered by %s", f.Object.Name, f.Admitted.Spec.Trigger.Type)
	}
	return chat.StartLocal(cmd.Context(), lc)
}

// localStubs reads the http: stubs of the test file, when there is one.
func localStubs(o localChatOptions) (*transcript.Stubs, error) {
	path, explicit := o.tests, o.tests != ""
	if !explicit {
		path = transcript.TestsFileFor(o.file)
	}
	src, err := manifest.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	tf, err := transcript.Parse(src.Name, src.Data)
	if err != nil {
		return nil, err
	}
	return tf.FileStubs(), nil
}
