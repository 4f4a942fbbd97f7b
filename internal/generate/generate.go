// Package generate owns `chatflow generate`: it asks a language model for a
// ChatFlow and its transcript tests from a description, with the API
// reference (from the CRD) and the templates of `chatflow new` as
// examples; checks the answer with what `chatflow lint` checks
// (internal/lint) and runs its tests (internal/transcript); feeds the
// field-path problems or the failed tests back to the model and asks again,
// a bounded number of times. It never returns a flow that does not lint.
//
// It talks to the model through runtime/model and does no other I/O: the
// caller writes the files. It must not import internal/cli.
package generate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/internal/templates"
	"github.com/chatflow-dev/chatflow/internal/transcript"
	"github.com/chatflow-dev/chatflow/runtime/model"
)

// DefaultAttempts bounds the model's answers: the first and the repairs.
const DefaultAttempts = 3

// Request is what to generate.
type Request struct {
	// Description of the flow, in the user's words.
	Description string
	// Name of the ChatFlow (a DNS label) and its Trigger type.
	Name, Trigger string
	// Attempts bounds the answers asked for (DefaultAttempts when 0).
	Attempts int
}

// Result is what the model answered last that lints.
type Result struct {
	// Flow is the manifest (it lints), Tests its transcript tests
	// (empty when no answer held tests that parse).
	Flow, Tests []byte
	// Results are the tests' outcomes.
	Results []transcript.Result
	// Attempts is how many answers were asked for.
	Attempts int
}

// Passed says whether every test passed.
func (r *Result) Passed() bool {
	if len(r.Results) == 0 {
		return false
	}
	for _, t := range r.Results {
		if !t.Passed() {
			return false
		}
	}
	return true
}

// ErrNoValidFlow is returned when no answer held a flow that lints.
var ErrNoValidFlow = errors.New("the model gave no flow that lints")

// Run asks c for the flow, checks each answer and asks again with what is
// wrong, until the flow lints and its tests pass or the attempts are used
// up. progress gets a line per step. The Result is nil only with
// ErrNoValidFlow (or a failed call before any flow linted); a Result whose
// tests did not pass comes with an error saying so.
func Run(ctx context.Context, c *model.Client, req Request, progress io.Writer) (*Result, error) {
	if req.Attempts <= 0 {
		req.Attempts = DefaultAttempts
	}
	system, err := systemPrompt(req.Trigger)
	if err != nil {
		return nil, err
	}
	msgs := []model.Message{{Role: "system", Content: system}, {Role: "user", Content: userPrompt(req)}}
	var best *Result
	var lastProblem string
	for attempt := 1; attempt <= req.Attempts; attempt++ {
		fmt.Fprintf(progress, "asking %s (answer %d of at most %d)\n", c.Model(), attempt, req.Attempts)
		resp, err := c.Complete(ctx, model.Request{Messages: msgs})
		if err != nil {
			if best != nil {
				return best, fmt.Errorf("asking the model again failed: %w", err)
			}
			return nil, fmt.Errorf("asking the model: %w", err)
		}
		if resp.Refusal != "" {
			return best, fmt.Errorf("the model refused: %s", resp.Refusal)
		}
		msgs = append(msgs, model.Message{Role: "assistant", Content: resp.Content})
		res, feedback := check(req, resp.Content, progress)
		if res != nil {
			res.Attempts = attempt
			best = res
			if res.Passed() {
				return res, nil
			}
		}
		lastProblem = feedback
		if attempt < req.Attempts {
			fmt.Fprintln(progress, "  asking again with what is wrong")
			msgs = append(msgs, model.Message{Role: "user", Content: feedback})
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w after %d answers; the last one:\n%s", ErrNoValidFlow, req.Attempts, indent(lastProblem))
	}
	return best, fmt.Errorf("the flow lints, but its tests do not pass after %d answers: review them", req.Attempts)
}

var (
	yamlBlock = regexp.MustCompile("(?s)```(?:yaml|yml)?[ \\t]*\\n(.*?)```")
	testsKey  = regexp.MustCompile(`(?m)^tests:`)
)

// check reads an answer: the flow must lint (and be the requested one),
// then its tests run. It returns the result when the flow lints, and what
// to tell the model otherwise (or when tests fail).
func check(req Request, answer string, progress io.Writer) (*Result, string) {
	var flowDoc, testDoc string
	for _, m := range yamlBlock.FindAllStringSubmatch(answer, -1) {
		switch b := m[1]; {
		case flowDoc == "" && strings.Contains(b, "kind: ChatFlow"):
			flowDoc = b
		case testDoc == "" && testsKey.MatchString(b):
			testDoc = b
		}
	}
	if flowDoc == "" {
		fmt.Fprintln(progress, "  the answer has no ChatFlow manifest")
		return nil, "Your answer has no ```yaml block with the ChatFlow manifest (kind: ChatFlow). Answer with two ```yaml blocks: the manifest, then its transcript tests."
	}
	file := req.Name + ".yaml"
	src := manifest.Source{Name: file, Data: []byte(flowDoc)}
	r := lint.Lint([]manifest.Source{src})
	var problems []string
	for _, p := range r.Problems {
		problems = append(problems, fmt.Sprintf("line %d: %s", p.Line, strings.TrimPrefix(p.String(), fmt.Sprintf("%s:%d: ", p.File, p.Line))))
	}
	switch {
	case len(problems) > 0:
	case len(r.Flows) != 1:
		problems = append(problems, fmt.Sprintf("the manifest holds %d ChatFlows: give exactly one", len(r.Flows)))
	case r.Flows[0].Object.Name != req.Name:
		problems = append(problems, fmt.Sprintf("metadata.name is %q: name the flow %q", r.Flows[0].Object.Name, req.Name))
	case req.Trigger != "" && string(r.Flows[0].Admitted.Spec.Trigger.Type) != req.Trigger:
		problems = append(problems, fmt.Sprintf("spec.trigger.type is %s: the flow must be triggered by %s", r.Flows[0].Admitted.Spec.Trigger.Type, req.Trigger))
	}
	if len(problems) > 0 {
		fmt.Fprintf(progress, "  the flow does not lint (%s):\n%s", plural(len(problems), "problem"), indent(strings.Join(problems, "\n")))
		return nil, "The ChatFlow manifest is not valid. `chatflow lint` reports, with the line in your manifest and the field path:\n" +
			strings.Join(problems, "\n") + "\nFix every problem and answer again with both ```yaml blocks, complete."
	}
	f := r.Flows[0]
	fmt.Fprintf(progress, "  the flow lints: %s\n", plural(len(f.Admitted.Spec.Nodes), "node"))
	res := &Result{Flow: []byte(flowDoc)}
	if testDoc == "" {
		fmt.Fprintln(progress, "  the answer has no transcript tests")
		return res, "The flow lints. Your answer has no ```yaml block of transcript tests (a file with flow:, tests: and transcripts). Answer again with both blocks."
	}
	tf, prog, ch, err := transcript.Load(src, manifest.Source{Name: req.Name + ".test.yaml", Data: []byte(testDoc)})
	if err != nil {
		fmt.Fprintf(progress, "  the tests do not load: %v\n", err)
		return res, fmt.Sprintf("The flow lints. The transcript tests do not load: %v\nFix them and answer again with both blocks.", err)
	}
	res.Tests = []byte(testDoc)
	res.Results = transcript.Run(tf, prog, ch, nil)
	var failures []string
	for _, t := range res.Results {
		if !t.Passed() {
			failures = append(failures, t.Name+":\n"+t.Failure)
		}
	}
	fmt.Fprintf(progress, "  its tests: %d passed, %d failed\n", len(res.Results)-len(failures), len(failures))
	if len(res.Results) == 0 {
		return res, "The flow lints. The transcript file has no tests: write at least two. Answer again with both blocks."
	}
	if len(failures) > 0 {
		return res, "The flow lints. These transcript tests fail (`chatflow test`):\n" + strings.Join(failures, "\n\n") +
			"\nFix the tests (or the flow, if it does not do what was asked) and answer again with both blocks, complete."
	}
	return res, ""
}

// systemPrompt tells the model what Chatflow is, gives it the API
// reference and examples, and the form of the answer.
func systemPrompt(trigger string) (string, error) {
	ref, err := lint.Reference("ChatFlow", "spec.executor")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(`You write chat flows for Chatflow, a Kubernetes operator for messaging automation.
A flow is a ChatFlow manifest (apiVersion chatflow.dev/v1alpha1): a graph of nodes between one Start node and
End nodes, linked by node id (next, onError, onTimeout, Condition branches and default, AIClassify labels and
default, Jump target). Node ids are lower-case DNS labels, unique. Every node must be reachable from Start and
reach an End; a loop must go through a WaitForReply or Delay, or be closed by a Jump with maxJumps. Each node has
exactly the member of its type (type: SendMessage with sendMessage:, type: AIReply with aiReply:, ...).
Texts, URLs and AI prompts are templates: {{ <CEL> }} is replaced by its value; Condition "when" is CEL.
Scopes: vars (flow variables), contact (id, name, channel), message (text, buttonId, ...: the last inbound),
trigger (a Manual run's inputs), flow, now. AI nodes name a LanguageModel in "model": use support-llm.

Answer with exactly two fenced blocks, nothing else:
1. ` + "```yaml" + ` the ChatFlow manifest (state: Unpublished; like the examples, it may hold its ChannelBinding and LanguageModel)
2. ` + "```yaml" + ` its transcript tests, run by ` + "`chatflow test`" + `: top-level flow (the flow's name), ai (answers of AI
   nodes by node id: {text: ...} for AIReply, {label: ...} for AIClassify, {json: {...}} for AIExtract, or a list
   answered in turn), http (HTTP stubs by node id: {status, json}), tests: a list of {name, transcript}; steps are
   user: TEXT, tap: BUTTON_ID, bot: TEXT (or {text, buttons: [titles]}), vars: {NAME: VALUE}, timer: NODE_ID,
   waiting: NODE_ID, ended: true. Every message the flow sends must be expected with bot:, in order. No test calls
   a model: every AI node reached needs an ai: answer.

The API reference of ChatFlow, field by field:
`)
	b.WriteString(ref)
	b.WriteString("\nExamples (flows and their tests):\n")
	for _, name := range []string{"faq-menu", "order-status", "ai-support"} {
		t, err := templates.Find(name)
		if err != nil {
			return "", err
		}
		tr := trigger
		if tr == "" || !slices.Contains(t.Triggers, tr) {
			tr = t.Triggers[0]
		}
		flow, tests, err := t.Render(name, tr)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "\n```yaml\n%s```\n\n```yaml\n%s```\n", flow, tests)
	}
	return b.String(), nil
}

func userPrompt(req Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Write a chat flow named %s", req.Name)
	if req.Trigger != "" {
		fmt.Fprintf(&b, ", triggered by %s", req.Trigger)
	}
	fmt.Fprintf(&b, ", that does this:\n\n%s\n\nThen write transcript tests that cover its main paths.", strings.TrimSpace(req.Description))
	return b.String()
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n") + "\n"
}
