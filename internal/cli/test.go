package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/internal/transcript"
)

func newTestCommand() *cobra.Command {
	var flowFile, testsFile, run string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "test -f FLOW -t TESTS",
		Short: "Run transcript tests of a flow: given these messages, expect these replies",
		Long: `test runs the transcript tests in TESTS against the ChatFlow in FLOW (a manifest
or an exported flow; it must lint clean), driving the flow engine directly: no
cluster, executor, network or clock. Either file may be left out when the other
follows the convention order-status.yaml / order-status.test.yaml.

A test file:

  flow: order-status            # the ChatFlow in FLOW (optional when it has one)
  contact: {id: "15550100100", name: Alex}
  http:                         # HTTP responses stubbed by node id
    lookup: {status: 200, json: {status: shipped, eta: Friday}}
  tests:
  - name: a shipped order
    transcript:
    - user: hi                  # inputs: user, tap, inbound, run, timer, resume
    - bot: Hi Alex! What is your order number?
    - user: "10452"
    - bot: {text: "Good news: ...", whatsapp: {type: text}}
    - vars: {orderNumber: "10452"}   # expectations: bot, call, handoff, vars,
    - ended: true                    # waiting, ended

Inputs: user: TEXT; tap: BUTTON-ID (or {id, title}, {payload} for WhatsApp
template quick replies); inbound: {kind, text, buttonId, payload, media};
run: {INPUT: VALUE} (Manual flows); timer: NODE (the WaitForReply, Delay or
Handoff timer at NODE fires); resume: NODE (an agent ends the hand-off).

Expectations: bot: TEXT or {text, matches, node, buttons, quickReplies, list,
media, template, tag, whatsapp (the rendered Cloud API body)}; call: {node,
method, url, body, headers}; handoff: {node, queue, url}; vars: {NAME: VALUE};
waiting: NODE; ended: true. Every message the flow sends must be expected, in
order; maps are compared on the keys given. HTTP stubs are {status, json, body,
headers, error} or a list answered in turn; sendErrors: {NODE: {code, message}}
makes the channel refuse a node's sends. Stubs and the contact can be set per
test too.

A failing test reports the line of the step, what differs and the conversation
so far. The exit status is 1 when a test fails.`,
		Example: `  chatflow test -f config/samples/order-status.yaml -t config/samples/order-status.test.yaml
  chatflow test -t config/samples/order-status.test.yaml --run shipped`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if testsFile == "" && flowFile != "" {
				testsFile = transcript.TestsFileFor(flowFile)
			}
			if flowFile == "" && testsFile != "" {
				flowFile = transcript.FlowFileFor(testsFile)
			}
			if flowFile == "" || testsFile == "" {
				return errors.New("name the flow with -f and its tests with -t")
			}
			filter, err := transcript.Filter(run)
			if err != nil {
				return fmt.Errorf("--run: %w", err)
			}
			srcs, err := manifest.Read([]string{flowFile}, cmd.InOrStdin())
			if err != nil {
				return err
			}
			tsrc, err := manifest.ReadFile(testsFile)
			if err != nil {
				return err
			}
			tf, prog, ch, err := transcript.Load(srcs[0], tsrc)
			if err != nil {
				return err
			}
			results := transcript.Run(tf, prog, ch, filter)
			if len(results) == 0 {
				return fmt.Errorf("no test matches --run %q", run)
			}
			if failed := transcript.Report(cmd.OutOrStdout(), results, !quiet); failed > 0 {
				return fmt.Errorf("%d of %d tests failed", failed, len(results))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&flowFile, "file", "f", "", "the flow: a manifest or an exported flow")
	fl.StringVarP(&testsFile, "tests", "t", "", "the transcript tests (default: the flow file's name with .test.yaml)")
	fl.StringVar(&run, "run", "", "run only the tests whose name matches this regular expression")
	fl.BoolVarP(&quiet, "quiet", "q", false, "print only failures and the summary")
	return cmd
}
