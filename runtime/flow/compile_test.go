package flow

import (
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// parseSpec parses a ChatFlowSpec from YAML, failing the test on error.
func parseSpec(t testing.TB, src string) *v1alpha1.ChatFlowSpec {
	t.Helper()
	var spec v1alpha1.ChatFlowSpec
	if err := yaml.UnmarshalStrict([]byte(src), &spec); err != nil {
		t.Fatalf("parsing spec: %v\n%s", err, src)
	}
	return &spec
}

func errStrings(errs field.ErrorList) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Error()
	}
	return out
}

// flowOf wraps nodes (YAML list items) in a WhatsApp flow.
func flowOf(nodes string) string {
	return "trigger: {type: WhatsApp}\nnodes:\n" + nodes
}

const okNodes = `
- {id: start, type: Start, next: hello}
- {id: hello, type: SendMessage, sendMessage: {text: "Hi"}, next: end}
- {id: end, type: End}
`

type compileCase struct {
	name    string
	spec    string
	channel message.Channel
	want    []string // exact errors; empty: must compile
}

func runCompileCases(t *testing.T, cases []compileCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := parseSpec(t, tc.spec)
			p, errs := Compile(spec, Options{Channel: tc.channel})
			got := errStrings(errs)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", quoteAll(got), quoteAll(tc.want))
			}
			if (p == nil) != (len(tc.want) > 0) {
				t.Errorf("program = %v with %d errors", p != nil, len(errs))
			}
		})
	}
}

func quoteAll(ss []string) string {
	var b strings.Builder
	for _, s := range ss {
		b.WriteString("\t")
		b.WriteString(strings.ReplaceAll(s, "\n", "\\n"))
		b.WriteString("\n")
	}
	return b.String()
}

const unreachable = "no path leads to this node from the Start node: link it from another node (next, a branch, default, onError, onTimeout or a jump target), or remove it"
const badName = "must start with a letter or '_' and contain only letters, digits and '_' (at most 64), so that vars.<name> works in expressions, e.g. orderNumber"

func TestCompileGraphRules(t *testing.T) {
	runCompileCases(t, []compileCase{
		{name: "valid minimal flow", spec: flowOf(okNodes)},
		{name: "ids unique", spec: flowOf(okNodes + "- {id: hello, type: End}\n"), want: []string{
			`spec.nodes[3].id: Duplicate value: "hello": spec.nodes[1] already has this id; node ids must be unique`,
		}},
		{name: "ids are DNS labels and required", spec: flowOf(`
- {id: Start_1, type: Start, next: hello}
- {id: hello, type: SendMessage, sendMessage: {text: "Hi"}, next: end}
- {id: end, type: End}
- {type: End}
`), want: []string{
			`spec.nodes[0].id: Invalid value: "Start_1": must be lower-case letters, digits and '-', start and end with a letter or digit, and be at most 63 characters (like a DNS label), e.g. start-1`,
			`spec.nodes[3].id: Required value: every node needs an id, e.g. ask-name`,
		}},
		{name: "references resolve, with a suggestion", spec: flowOf(`
- {id: start, type: Start, next: hello}
- {id: hello, type: SendMessage, sendMessage: {text: "Hi"}, next: shiped}
- {id: shipped, type: End}
- {id: x, type: Delay, delay: {duration: 1s}, next: nowhere-at-all}
`), want: []string{
			`spec.nodes[1].next: Not found: "shiped": no node has id "shiped"; did you mean "shipped"?`,
			`spec.nodes[3].next: Not found: "nowhere-at-all": no node has id "nowhere-at-all": must name the id of an existing node`,
		}},
		{name: "every reference kind resolves", spec: flowOf(`
- {id: start, type: Start, next: s}
- {id: s, type: SendMessage, sendMessage: {text: "Hi"}, next: w, onError: eror}
- {id: w, type: WaitForReply, waitForReply: {}, next: c, onTimeout: tmeout}
- {id: c, type: Condition, condition: {branches: [{when: "true", next: ned}], default: dflt}}
- {id: j, type: Jump, jump: {target: strat}, next: end}
- {id: end, type: End}
`), want: []string{
			`spec.nodes[1].onError: Not found: "eror": no node has id "eror": must name the id of an existing node`,
			`spec.nodes[2].onTimeout: Not found: "tmeout": no node has id "tmeout": must name the id of an existing node`,
			`spec.nodes[3].condition.branches[0].next: Not found: "ned": no node has id "ned": must name the id of an existing node`,
			`spec.nodes[3].condition.default: Not found: "dflt": no node has id "dflt": must name the id of an existing node`,
			`spec.nodes[4].jump.target: Not found: "strat": no node has id "strat"; did you mean "start"?`,
		}},
		{name: "exactly one Start and at least one End", spec: flowOf(`
- {id: hello, type: SendMessage, sendMessage: {text: "Hi"}, next: hello2}
- {id: hello2, type: Delay, delay: {duration: 1s}, next: hello}
`), want: []string{
			`spec.nodes: Required value: a flow needs exactly one Start node, e.g. {id: start, type: Start, next: <first node>}`,
			`spec.nodes: Required value: a flow needs at least one End node, e.g. {id: end, type: End}`,
		}},
		{name: "only one Start", spec: flowOf(okNodes + "- {id: start2, type: Start, next: end}\n"), want: []string{
			`spec.nodes[3].type: Invalid value: "Start": a flow has exactly one Start node and "start" (spec.nodes[0]) is already one: change this node's type or remove it`,
		}},
		{name: "no nodes", spec: "trigger: {type: WhatsApp}\nnodes: []\n", want: []string{
			`spec.nodes: Required value: a flow needs nodes: exactly one Start, at least one End, and the components between them`,
		}},
		{name: "links per type", spec: flowOf(`
- {id: start, type: Start, next: c}
- {id: c, type: Condition, next: end, condition: {branches: [{when: "true", next: end}]}}
- {id: s, type: SendMessage, sendMessage: {text: "x"}, onTimeout: end}
- {id: d, type: Delay, delay: {duration: 1s}, next: end, onError: end}
- {id: end, type: End, next: start}
`), want: []string{
			`spec.nodes[1].next: Forbidden: a Condition node continues on its branches and default, not next: remove next (or make it the default)`,
			`spec.nodes[1].condition.default: Required value: a Condition node needs default: the id of the node that runs when no branch matches`,
			`spec.nodes[2].next: Required value: a SendMessage node needs next: the id of the node that runs after it`,
			`spec.nodes[2].onTimeout: Forbidden: onTimeout applies only to WaitForReply and Handoff nodes; remove it from this SendMessage node`,
			`spec.nodes[3].onError: Forbidden: onError applies only to SendMessage, HTTPRequest and AI nodes; a Delay node cannot fail: remove it`,
			`spec.nodes[4].next: Forbidden: an End node closes the session and has no next: remove it`,
		}},
		{name: "member matches type", spec: flowOf(`
- {id: start, type: Start, next: s, sendMessage: {text: hi}}
- {id: s, type: SendMessage, waitForReply: {}, next: end}
- {id: w, type: Wait, next: end}
- {id: end, type: End}
`), want: []string{
			`spec.nodes[0].sendMessage: Forbidden: only SendMessage nodes may have sendMessage; this node is a Start: remove sendMessage or set type: SendMessage`,
			`spec.nodes[1].sendMessage: Required value: a SendMessage node needs its settings in sendMessage`,
			`spec.nodes[1].waitForReply: Forbidden: only WaitForReply nodes may have waitForReply; this node is a SendMessage: remove waitForReply or set type: WaitForReply`,
			`spec.nodes[2].type: Unsupported value: "Wait": supported values: "Start", "End", "SendMessage", "WaitForReply", "Condition", "SetVariables", "HTTPRequest", "Delay", "Jump", "Handoff", "AIReply", "AIClassify", "AIExtract", "ForwardToFlow"`,
		}},
		{name: "every node reachable from Start", spec: flowOf(`
- {id: start, type: Start, next: end}
- {id: island, type: SendMessage, sendMessage: {text: "x"}, next: end}
- {id: ask, type: SendMessage, sendMessage: {text: "x"}, next: wait}
- {id: wait, type: WaitForReply, waitForReply: {}, next: ask}
- {id: end, type: End}
`), want: []string{
			`spec.nodes[1].id: Invalid value: "island": ` + unreachable,
			`spec.nodes[2].id: Invalid value: "ask": ` + unreachable,
			`spec.nodes[3].id: Invalid value: "wait": ` + unreachable,
		}},
		{name: "an End reachable from every node", spec: flowOf(`
- {id: start, type: Start, next: ask}
- {id: ask, type: SendMessage, sendMessage: {text: "x"}, next: wait}
- {id: wait, type: WaitForReply, waitForReply: {}, next: ask}
- {id: end, type: End}
`), want: []string{
			`spec.nodes[3].id: Invalid value: "end": ` + unreachable,
			`spec.nodes[0]: Invalid value: "start": no End node can be reached from this node: every path from it loops forever; give the loop an exit that leads to an End (a Condition default, a WaitForReply onTimeout, a Jump next)`,
			`spec.nodes[1]: Invalid value: "ask": no End node can be reached from this node: every path from it loops forever; give the loop an exit that leads to an End (a Condition default, a WaitForReply onTimeout, a Jump next)`,
			`spec.nodes[2]: Invalid value: "wait": no End node can be reached from this node: every path from it loops forever; give the loop an exit that leads to an End (a Condition default, a WaitForReply onTimeout, a Jump next)`,
		}},
		{name: "no cycle that never waits", spec: flowOf(`
- {id: start, type: Start, next: a}
- {id: a, type: SetVariables, setVariables: {variables: [{name: n, expr: "1"}]}, next: b}
- {id: b, type: Condition, condition: {branches: [{when: "vars.n > 3", next: end}], default: a}}
- {id: c, type: Condition, condition: {branches: [{when: "true", next: c}], default: end}}
- {id: end, type: End}
`), want: []string{
			`spec.nodes[3].id: Invalid value: "c": ` + unreachable,
			`spec.nodes[1]: Invalid value: "a": the nodes a → b → a form a loop that never waits: add a WaitForReply or Delay to it, or close it with a Jump (its maxJumps bounds the loop)`,
			`spec.nodes[3]: Invalid value: "c": the nodes c → c form a loop that never waits: add a WaitForReply or Delay to it, or close it with a Jump (its maxJumps bounds the loop)`,
		}},
		{name: "a Jump's next does not bound a loop", spec: flowOf(`
- {id: start, type: Start, next: j}
- {id: j, type: Jump, jump: {target: end}, next: s}
- {id: s, type: SendMessage, sendMessage: {text: "again"}, next: j}
- {id: end, type: End}
`), want: []string{
			`spec.nodes[1]: Invalid value: "j": the nodes j → s → j form a loop that never waits: add a WaitForReply or Delay to it, or close it with a Jump (its maxJumps bounds the loop)`,
		}},
		{name: "a cycle closed by a Jump is bounded", spec: flowOf(`
- {id: start, type: Start, next: try}
- {id: try, type: HTTPRequest, httpRequest: {url: "https://api.example.com/x"}, next: end, onError: again}
- {id: again, type: Jump, jump: {target: try, maxJumps: 2}, next: end}
- {id: end, type: End}
`)},
		{name: "a cycle through a WaitForReply, Delay or Handoff is bounded", spec: flowOf(`
- {id: start, type: Start, next: ask}
- {id: ask, type: SendMessage, sendMessage: {text: "Number?"}, next: wait}
- {id: wait, type: WaitForReply, waitForReply: {}, next: check, onTimeout: end}
- {id: check, type: Condition, condition: {branches: [{when: 'message.text.matches("^[0-9]+$")', next: end}, {when: 'message.text == "later"', next: pause}, {when: 'message.text == "human"', next: agent}], default: ask}}
- {id: pause, type: Delay, delay: {duration: 1m}, next: ask}
- {id: agent, type: Handoff, handoff: {}, next: ask}
- {id: end, type: End}
`)},
		{name: "jump needs a target and a sane maxJumps", spec: flowOf(`
- {id: start, type: Start, next: j}
- {id: j, type: Jump, jump: {maxJumps: 101}, next: end}
- {id: end, type: End}
`), want: []string{
			`spec.nodes[1].jump.target: Required value: a Jump node needs target: the id of the node to jump to`,
			`spec.nodes[1].jump.maxJumps: Invalid value: 101: must be between 1 and 100 (default 3): how many times the jump is taken before the flow goes on to next`,
		}},
		{name: "a nil member does not panic", spec: flowOf(`
- {id: start, type: Start, next: s}
- {id: s, type: SendMessage, next: c}
- {id: c, type: Condition}
- {id: h, type: HTTPRequest, next: end}
- {id: end, type: End}
`), want: []string{
			`spec.nodes[1].sendMessage: Required value: a SendMessage node needs its settings in sendMessage`,
			`spec.nodes[2].condition: Required value: a Condition node needs its settings in condition`,
			`spec.nodes[3].httpRequest: Required value: an HTTPRequest node needs its settings in httpRequest`,
		}},
	})
}

func TestCompileValues(t *testing.T) {
	runCompileCases(t, []compileCase{
		{name: "durations in range", spec: flowOf(`
- {id: start, type: Start, next: w}
- {id: w, type: WaitForReply, waitForReply: {timeout: 192h}, next: w2}
- {id: w2, type: WaitForReply, waitForReply: {timeout: 500ms}, next: d}
- {id: d, type: Delay, delay: {duration: 0s}, next: d2}
- {id: d2, type: Delay, delay: {duration: 200h}, next: h}
- {id: h, type: Handoff, handoff: {timeout: 30s}, next: r}
- {id: r, type: HTTPRequest, httpRequest: {url: "https://x.example", timeout: 31s}, next: r2}
- {id: r2, type: HTTPRequest, httpRequest: {url: "https://x.example", timeout: -1s}, next: end}
- {id: end, type: End}
`), want: []string{
			`spec.nodes[1].waitForReply.timeout: Invalid value: "192h0m0s": must be between 1s and 7 days (168h), e.g. 10m`,
			`spec.nodes[2].waitForReply.timeout: Invalid value: "500ms": must be between 1s and 7 days (168h), e.g. 10m`,
			`spec.nodes[3].delay.duration: Required value: set how long to pause, between 1s and 7 days (168h), e.g. 30s`,
			`spec.nodes[4].delay.duration: Invalid value: "200h0m0s": must be between 1s and 7 days (168h), e.g. 30s`,
			`spec.nodes[5].handoff.timeout: Invalid value: "30s": must be between 1m and 7 days (168h), e.g. 24h`,
			`spec.nodes[6].httpRequest.timeout: Invalid value: "31s": must be more than 0 and at most 30s (default 10s)`,
			`spec.nodes[7].httpRequest.timeout: Invalid value: "-1s": must be more than 0 and at most 30s (default 10s)`,
		}},
		{name: "durations at the bounds", spec: flowOf(`
- {id: start, type: Start, next: w}
- {id: w, type: WaitForReply, waitForReply: {timeout: 1s}, next: w2}
- {id: w2, type: WaitForReply, waitForReply: {timeout: 168h}, next: d}
- {id: d, type: Delay, delay: {duration: 1s}, next: h}
- {id: h, type: Handoff, handoff: {timeout: 1m}, next: r}
- {id: r, type: HTTPRequest, httpRequest: {url: "https://x.example", timeout: 30s}, next: end}
- {id: end, type: End}
`)},
		{name: "variable names", spec: `
trigger: {type: Manual, inputs: [{name: order-id}, {name: a}, {name: a}]}
variables: [{name: 1x}, {name: ok}, {name: ok}]
nodes:
- {id: start, type: Start, next: w}
- {id: w, type: WaitForReply, waitForReply: {saveAs: "my var"}, next: s}
- {id: s, type: SetVariables, setVariables: {variables: [{name: x.y, value: "1"}, {name: z, value: "1", expr: "1"}, {name: q}]}, next: h}
- {id: h, type: HTTPRequest, httpRequest: {url: "https://x.example", saveAs: "9"}, next: end}
- {id: end, type: End}
`, want: []string{
			`spec.trigger.inputs[0].name: Invalid value: "order-id": ` + badName,
			`spec.trigger.inputs[2].name: Duplicate value: "a": spec.trigger.inputs[1] has the same name; input names must be unique`,
			`spec.variables[0].name: Invalid value: "1x": ` + badName,
			`spec.variables[2].name: Duplicate value: "ok": spec.variables[1] has the same name; variable names must be unique`,
			`spec.nodes[1].waitForReply.saveAs: Invalid value: "my var": ` + badName,
			`spec.nodes[2].setVariables.variables[0].name: Invalid value: "x.y": ` + badName,
			`spec.nodes[2].setVariables.variables[1]: Forbidden: set exactly one of value (a template, gives a string) and expr (a CEL expression, gives any type)`,
			`spec.nodes[2].setVariables.variables[2]: Required value: set value (a template, gives a string) or expr (a CEL expression, gives any type)`,
			`spec.nodes[3].httpRequest.saveAs: Invalid value: "9": ` + badName,
		}},
		{name: "trigger inputs of channel flows are ignored", spec: `
trigger: {type: WhatsApp, inputs: [{name: "not valid"}, {name: "not valid"}]}
nodes:
` + okNodes},
		{name: "http request", spec: flowOf(`
- {id: start, type: Start, next: a}
- {id: a, type: HTTPRequest, httpRequest: {method: FETCH, url: "ftp://x.example/a"}, next: b}
- {id: b, type: HTTPRequest, httpRequest: {url: "/relative", body: "x", headers: [{name: "Bad Header", value: "1"}, {name: X, value: "1", valueFrom: {secretKeyRef: {name: s, key: k}}}, {name: Y}, {name: Z, valueFrom: {secretKeyRef: {name: "", key: ""}}}]}, next: c}
- {id: c, type: HTTPRequest, httpRequest: {method: POST, url: "https://x.example/{{ vars.id ", query: [{name: q, value: "{{ 1 + }}"}, {value: x}]}, next: d}
- {id: d, type: HTTPRequest, httpRequest: {url: "https://"}, next: end}
- {id: end, type: End}
`), want: []string{
			`spec.nodes[1].httpRequest.method: Unsupported value: "FETCH": supported values: "GET", "POST", "PUT", "PATCH", "DELETE"`,
			`spec.nodes[1].httpRequest.url: Invalid value: "ftp://x.example/a": must be an absolute http or https URL, e.g. https://api.example.com/orders`,
			`spec.nodes[2].httpRequest.url: Invalid value: "/relative": must be an absolute http or https URL, e.g. https://api.example.com/orders`,
			`spec.nodes[2].httpRequest.headers[0].name: Invalid value: "Bad Header": must be an HTTP header name: letters, digits and !#$%&'*+.^_|~- only`,
			`spec.nodes[2].httpRequest.headers[1]: Forbidden: set exactly one of value and valueFrom`,
			`spec.nodes[2].httpRequest.headers[2]: Required value: set value (a template) or valueFrom.secretKeyRef {name, key}`,
			`spec.nodes[2].httpRequest.headers[3].valueFrom.secretKeyRef.name: Required value: name the Secret in the flow's namespace`,
			`spec.nodes[2].httpRequest.headers[3].valueFrom.secretKeyRef.key: Required value: name the key of the Secret`,
			`spec.nodes[2].httpRequest.body: Forbidden: a GET request has no body: use query, or set method: POST`,
			`spec.nodes[3].httpRequest.url: Invalid value: "https://x.example/{{ vars.id ": the template does not compile: column 19: unclosed "{{": end the expression with "}}", or write \{{ for literal braces`,
			`spec.nodes[3].httpRequest.query[0].value: Invalid value: "{{ 1 + }}": the template does not compile: column 8: syntax error: the expression ends too early (an operand or a closing bracket is missing)`,
			`spec.nodes[3].httpRequest.query[1].name: Required value: the query parameter needs a name`,
			`spec.nodes[4].httpRequest.url: Invalid value: "https://": must name a host, e.g. https://api.example.com/orders`,
		}},
		{name: "http request with templates", spec: flowOf(`
- {id: start, type: Start, next: a}
- {id: a, type: HTTPRequest, httpRequest: {method: POST, url: "{{ raw(vars.base) }}/orders", body: '{"id": "{{ vars.id }}"}', headers: [{name: X-Id, value: "{{ contact.id }}"}], query: [{name: q, value: "{{ message.text }}"}]}, next: end}
- {id: end, type: End}
`)},
		{name: "expressions and templates compile", spec: flowOf(`
- {id: start, type: Start, next: c}
- {id: c, type: Condition, condition: {branches: [{when: "vars.x ==", next: end}, {when: "1 + 2", next: end}, {when: "varz.x == 1", next: end}, {when: "", next: end}], default: s}}
- {id: s, type: SetVariables, setVariables: {variables: [{name: n, expr: "vars.a +"}, {name: m, value: "{{ }}"}]}, next: m}
- {id: m, type: SendMessage, sendMessage: {text: "Hi {{ contact.name ", media: {type: Image, url: "https://x.example/{{ 1 +}}.png", caption: "{{ vars.( }}"}}, next: h}
- {id: h, type: Handoff, handoff: {notifyURL: "{{ nope }}"}, next: end}
- {id: end, type: End}
`), want: []string{
			`spec.nodes[1].condition.branches[0].when: Invalid value: "vars.x ==": the expression does not compile: column 10: syntax error: the expression ends too early (an operand or a closing bracket is missing)`,
			`spec.nodes[1].condition.branches[1].when: Invalid value: "1 + 2": the expression does not compile: column 1: a condition must be a bool, but this is a int (compare it, e.g. x == "yes" or x > 3)`,
			`spec.nodes[1].condition.branches[2].when: Invalid value: "varz.x == 1": the expression does not compile: column 1: undeclared reference to 'varz' (did you mean vars? scopes are vars, contact, message, trigger, flow, now)`,
			`spec.nodes[1].condition.branches[3].when: Required value: a branch needs when: a CEL condition, e.g. message.buttonId == "track"`,
			`spec.nodes[2].setVariables.variables[0].expr: Invalid value: "vars.a +": the expression does not compile: column 9: syntax error: the expression ends too early (an operand or a closing bracket is missing)`,
			`spec.nodes[2].setVariables.variables[1].value: Invalid value: "{{ }}": the template does not compile: column 1: empty "{{ }}": put an expression inside, e.g. {{ vars.name }}`,
			`spec.nodes[3].sendMessage.text: Invalid value: "Hi {{ contact.name ": the template does not compile: column 4: unclosed "{{": end the expression with "}}", or write \{{ for literal braces`,
			`spec.nodes[3].sendMessage.media.url: Invalid value: "https://x.example/{{ 1 +}}.png": the template does not compile: column 25: syntax error: the expression ends too early (an operand or a closing bracket is missing)`,
			`spec.nodes[3].sendMessage.media.caption: Invalid value: "{{ vars.( }}": the template does not compile: column 9: Syntax error: no viable alternative at input '.('`,
			`spec.nodes[4].handoff.notifyURL: Invalid value: "{{ nope }}": the template does not compile: column 4: undeclared reference to 'nope' (scopes are vars, contact, message, trigger, flow, now; a flow variable is vars.nope)`,
		}},
		{name: "send message shape", spec: flowOf(`
- {id: start, type: Start, next: a}
- {id: a, type: SendMessage, sendMessage: {}, next: b}
- {id: b, type: SendMessage, sendMessage: {text: x, template: {name: t, language: en}}, next: c}
- {id: c, type: SendMessage, sendMessage: {text: x, buttons: [{id: a, title: A}], quickReplies: [{id: a, title: A}]}, next: d}
- {id: d, type: SendMessage, sendMessage: {media: {type: Image, url: "https://x.example/a.png"}, list: {button: Go, sections: [{rows: [{id: r, title: R}]}]}}, next: e}
- {id: e, type: SendMessage, sendMessage: {text: x, buttons: [{id: a, title: A}, {id: a, title: ""}, {id: "", title: C}]}, next: f}
- {id: f, type: SendMessage, sendMessage: {media: {type: Gif, url: ""}, tag: URGENT}, next: g}
- {id: g, type: SendMessage, sendMessage: {template: {name: Bad-Name, language: e, components: [{type: footer}, {type: button}, {type: body, parameters: [{type: currency}, {type: text, text: "{{ 1 + }}"}]}]}}, next: end}
- {id: end, type: End}
`), want: []string{
			`spec.nodes[1].sendMessage: Required value: a message needs text, media or a template`,
			`spec.nodes[2].sendMessage.template: Forbidden: a WhatsApp template message carries nothing else: remove text, media, buttons, list and quickReplies`,
			`spec.nodes[3].sendMessage: Forbidden: use at most one of buttons, list and quickReplies`,
			`spec.nodes[4].sendMessage.text: Required value: a list message needs text for its body`,
			`spec.nodes[5].sendMessage.buttons[1].id: Duplicate value: "a": spec.nodes[5].sendMessage.buttons[0] has the same id; the reply could not tell them apart`,
			`spec.nodes[5].sendMessage.buttons[1].title: Required value: the button needs a title to show`,
			`spec.nodes[5].sendMessage.buttons[2].id: Required value: the button needs an id: it comes back as message.buttonId`,
			`spec.nodes[6].sendMessage.media.type: Unsupported value: "Gif": supported values: "Image", "Video", "Audio", "Document", "Sticker"`,
			`spec.nodes[6].sendMessage.media.url: Required value: set the URL the channel fetches the file from (https)`,
			`spec.nodes[6].sendMessage.tag: Unsupported value: "URGENT": supported values: "HUMAN_AGENT"`,
			`spec.nodes[7].sendMessage.template.name: Invalid value: "Bad-Name": template names are lower-case letters, digits and '_', e.g. order_update`,
			`spec.nodes[7].sendMessage.template.language: Invalid value: "e": set the template's language code, e.g. en_US`,
			`spec.nodes[7].sendMessage.template.components[0].type: Unsupported value: "footer": supported values: "header", "body", "button"`,
			`spec.nodes[7].sendMessage.template.components[1]: Required value: a button component needs subType (quick_reply or url) and index (from 0)`,
			`spec.nodes[7].sendMessage.template.components[2].parameters[0].type: Unsupported value: "currency": supported values: "text", "payload", "image", "video", "document"`,
			`spec.nodes[7].sendMessage.template.components[2].parameters[1].text: Invalid value: "{{ 1 + }}": the template does not compile: column 8: syntax error: the expression ends too early (an operand or a closing bracket is missing)`,
		}},
		{name: "trigger type", spec: "trigger: {type: SMS}\nnodes:\n" + okNodes, want: []string{
			`spec.trigger.type: Unsupported value: "SMS": supported values: "Manual", "WhatsApp", "Instagram", "Viber", "Messenger"`,
		}},
		{name: "trigger type required", spec: "trigger: {}\nnodes:\n" + okNodes, want: []string{
			`spec.trigger.type: Required value: set the trigger type: Manual, WhatsApp, Instagram, Viber or Messenger`,
		}},
		{name: "credentials of a Manual flow", spec: "trigger: {type: Manual, credentialsRef: {name: runs}}\nnodes:\n" + okNodes},
		{name: "credentials are for Manual flows", spec: "trigger: {type: WhatsApp, credentialsRef: {name: runs}}\nnodes:\n" + okNodes, want: []string{
			`spec.trigger.credentialsRef: Forbidden: is for Manual flows: a channel trigger takes its credentials from its ChannelBinding; remove it`,
		}},
		{name: "credentials name a Secret", spec: "trigger: {type: Manual, credentialsRef: {name: ''}}\nnodes:\n" + okNodes, want: []string{
			`spec.trigger.credentialsRef.name: Required value: name the Secret with the runToken, e.g. survey-credentials`,
		}},
	})
}

func TestCompileChannel(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	runCompileCases(t, []compileCase{
		{name: "whatsapp buttons, quick replies, tags, lists", channel: message.WhatsApp, spec: flowOf(`
- {id: start, type: Start, next: a}
- {id: a, type: SendMessage, sendMessage: {text: "Pick", buttons: [{id: a, title: "One"}, {id: b, title: "A title much longer than twenty"}, {id: c, title: "One"}, {id: d, title: "Four"}]}, next: b}
- {id: b, type: SendMessage, sendMessage: {text: "Hi", quickReplies: [{id: a, title: A}], tag: HUMAN_AGENT}, next: c}
- {id: c, type: SendMessage, sendMessage: {text: "Menu", list: {button: "A very long button label", sections: [{rows: [{id: r1, title: "A row title that is way too long", description: "` + long(73) + `"}]}, {title: "` + long(25) + `", rows: [{id: r2, title: b}, {id: r3, title: c}, {id: r4, title: d}, {id: r5, title: e}, {id: r6, title: f}, {id: r7, title: g}, {id: r8, title: h}, {id: r9, title: i}, {id: r10, title: j}]}]}}, next: end}
- {id: end, type: End}
`), want: []string{
			`spec.nodes[1].sendMessage.buttons: Too many: 4: WhatsApp allows at most 3 buttons (reply buttons): use a list message for more choices`,
			`spec.nodes[1].sendMessage.buttons[1].title: Too long: a button title is 31 characters; WhatsApp allows at most 20`,
			`spec.nodes[1].sendMessage.buttons[2].title: Duplicate value: "One": WhatsApp needs unique button titles; spec.nodes[1].sendMessage.buttons[0].title has the same`,
			`spec.nodes[2].sendMessage.quickReplies: Forbidden: WhatsApp has no quick replies: use buttons (up to 3) or a list instead`,
			`spec.nodes[2].sendMessage.tag: Forbidden: message tags are Messenger and Instagram only; remove tag for WhatsApp`,
			`spec.nodes[3].sendMessage.list.button: Too long: the list button label is 24 characters; WhatsApp allows at most 20`,
			`spec.nodes[3].sendMessage.list.sections[0].title: Required value: WhatsApp needs a title on every section when a list has several`,
			`spec.nodes[3].sendMessage.list.sections[0].rows[0].title: Too long: a row title is 32 characters; WhatsApp allows at most 24`,
			`spec.nodes[3].sendMessage.list.sections[0].rows[0].description: Too long: a row description is 73 characters; WhatsApp allows at most 72`,
			`spec.nodes[3].sendMessage.list.sections[1].title: Too long: a section title is 25 characters; WhatsApp allows at most 24`,
		}},
		{name: "whatsapp list rows in all sections", channel: message.WhatsApp, spec: flowOf(`
- {id: start, type: Start, next: c}
- {id: c, type: SendMessage, sendMessage: {text: "Menu", list: {button: Go, sections: [{title: A, rows: [{id: r1, title: a}, {id: r2, title: b}, {id: r3, title: c}, {id: r4, title: d}, {id: r5, title: e}, {id: r6, title: f}]}, {title: B, rows: [{id: r7, title: g}, {id: r8, title: h}, {id: r9, title: i}, {id: r10, title: j}, {id: r11, title: k}]}]}}, next: end}
- {id: end, type: End}
`), want: []string{
			`spec.nodes[1].sendMessage.list.sections: Too many: 11: WhatsApp allows at most 10 rows in all sections together: split the menu over two messages`,
		}},
		{name: "whatsapp text length, static only", channel: message.WhatsApp, spec: flowOf(`
- {id: start, type: Start, next: a}
- {id: a, type: SendMessage, sendMessage: {text: "` + long(4097) + `"}, next: b}
- {id: b, type: SendMessage, sendMessage: {text: "` + long(1025) + `", buttons: [{id: a, title: A}]}, next: c}
- {id: c, type: SendMessage, sendMessage: {text: "` + long(4090) + `{{ vars.x }}"}, next: end}
- {id: end, type: End}
`), want: []string{
			`spec.nodes[1].sendMessage.text: Too long: the text is 4097 characters; WhatsApp allows at most 4096: shorten it or split it over several messages`,
			`spec.nodes[2].sendMessage.text: Too long: the text is 1025 characters; WhatsApp allows at most 1024 with reply buttons: shorten it or split it over several messages`,
		}},
		{name: "whatsapp everything valid", channel: message.WhatsApp, spec: flowOf(`
- {id: start, type: Start, next: a}
- {id: a, type: SendMessage, sendMessage: {text: "Pick", buttons: [{id: a, title: "` + long(20) + `"}, {id: b, title: "{{ vars.a_rather_long_variable_name }}"}, {id: c, title: C}]}, next: b}
- {id: b, type: SendMessage, sendMessage: {media: {type: Sticker, url: "https://x.example/s.webp"}}, next: c}
- {id: c, type: SendMessage, sendMessage: {template: {name: order_update, language: en_US, components: [{type: body, parameters: [{type: text, text: "{{ vars.order }}"}]}, {type: button, subType: quick_reply, index: 0, parameters: [{type: payload, payload: yes}]}]}}, next: end}
- {id: end, type: End}
`)},
		{name: "messenger", channel: message.Messenger, spec: `
trigger: {type: Messenger}
nodes:
- {id: start, type: Start, next: a}
- {id: a, type: SendMessage, sendMessage: {text: "Menu", list: {button: Go, sections: [{rows: [{id: r1, title: x}]}]}}, next: b}
- {id: b, type: SendMessage, sendMessage: {template: {name: hello, language: en_US}}, next: c}
- {id: c, type: SendMessage, sendMessage: {text: "x", tag: ACCOUNT_UPDATE}, next: d}
- {id: d, type: SendMessage, sendMessage: {text: "x", quickReplies: [{id: a, title: A}, {id: b, title: B}, {id: c, title: C}, {id: d, title: D}, {id: e, title: E}, {id: f, title: F}, {id: g, title: G}, {id: h, title: H}, {id: i, title: I}, {id: j, title: J}, {id: k, title: K}, {id: l, title: L}, {id: m, title: M}, {id: n, title: "` + long(21) + `"}]}, next: e}
- {id: e, type: SendMessage, sendMessage: {media: {type: Sticker, url: "https://x.example/s.webp"}}, next: end}
- {id: end, type: End}
`, want: []string{
			`spec.nodes[1].sendMessage.list: Forbidden: list messages are WhatsApp only; Messenger cannot show them: use buttons (up to 3) or quickReplies (up to 13)`,
			`spec.nodes[2].sendMessage.template: Forbidden: message templates are WhatsApp only; send text, media or buttons on Messenger`,
			`spec.nodes[3].sendMessage.tag: Invalid value: "ACCOUNT_UPDATE": Messenger accepts only HUMAN_AGENT (the other tags are rejected with error 100)`,
			`spec.nodes[4].sendMessage.quickReplies: Too many: 14: Messenger allows at most 13 quick replies`,
			`spec.nodes[4].sendMessage.quickReplies[13].title: Too long: a quick reply title is 21 characters; Messenger allows at most 20`,
			`spec.nodes[5].sendMessage.media.type: Invalid value: "Sticker": Messenger cannot send sticker attachments; it sends image, video, audio, document`,
		}},
		{name: "messenger valid", channel: message.Messenger, spec: `
trigger: {type: Messenger}
nodes:
- {id: start, type: Start, next: a}
- {id: a, type: SendMessage, sendMessage: {text: "Pick", buttons: [{id: a, title: A}, {id: b, title: B}], tag: HUMAN_AGENT}, next: end}
- {id: end, type: End}
`},
		{name: "instagram", channel: message.Instagram, spec: `
trigger: {type: Instagram}
nodes:
- {id: start, type: Start, next: a}
- {id: a, type: SendMessage, sendMessage: {text: "x", buttons: [{id: a, title: A}]}, next: b}
- {id: b, type: SendMessage, sendMessage: {media: {type: Document, url: "https://x.example/a.pdf"}}, next: c}
- {id: c, type: SendMessage, sendMessage: {text: "` + long(1001) + `"}, next: end}
- {id: end, type: End}
`, want: []string{
			`spec.nodes[1].sendMessage.buttons: Forbidden: Instagram has no reply buttons: use quickReplies (up to 13) instead`,
			`spec.nodes[2].sendMessage.media.type: Invalid value: "Document": Instagram cannot send document attachments; it sends image, video, audio`,
			`spec.nodes[3].sendMessage.text: Too long: the text is 1001 characters; Instagram allows at most 999: shorten it or split it over several messages`,
		}},
		{name: "viber", channel: message.Viber, spec: `
trigger: {type: Viber}
nodes:
- {id: start, type: Start, next: a}
- {id: a, type: SendMessage, sendMessage: {text: "x", quickReplies: [{id: a, title: A}], tag: HUMAN_AGENT}, next: b}
- {id: b, type: SendMessage, sendMessage: {text: "x", buttons: [{id: a, title: "` + long(251) + `"}]}, next: c}
- {id: c, type: SendMessage, sendMessage: {media: {type: Audio, url: "https://x.example/a.mp3"}}, next: end}
- {id: end, type: End}
`, want: []string{
			`spec.nodes[1].sendMessage.quickReplies: Forbidden: Viber has no quick replies: use buttons (up to 24) instead`,
			`spec.nodes[1].sendMessage.tag: Forbidden: message tags are Messenger and Instagram only; remove tag for Viber`,
			`spec.nodes[2].sendMessage.buttons[0].title: Too long: a button title is 251 characters; Viber allows at most 250`,
			`spec.nodes[3].sendMessage.media.type: Invalid value: "Audio": Viber cannot send audio attachments; it sends image`,
		}},
		{name: "no channel: no capability checks", spec: `
trigger: {type: Manual}
nodes:
- {id: start, type: Start, next: a}
- {id: a, type: SendMessage, sendMessage: {template: {name: hello, language: en_US}}, next: b}
- {id: b, type: SendMessage, sendMessage: {text: "x", quickReplies: [{id: a, title: A}], tag: HUMAN_AGENT}, next: end}
- {id: end, type: End}
`},
		{name: "no channel: generic list limits", spec: flowOf(`
- {id: start, type: Start, next: a}
- {id: a, type: SendMessage, sendMessage: {text: "x", buttons: [` + strings.Repeat("{id: a, title: A},", 0) + `{id: z, title: Z}]}, next: end}
- {id: end, type: End}
`)},
	})
}

func TestCompileNeverTrustsInput(t *testing.T) {
	// Huge and degenerate inputs compile (with errors) without panicking.
	var b strings.Builder
	b.WriteString("trigger: {type: WhatsApp}\nnodes:\n- {id: start, type: Start, next: n0}\n")
	for i := 0; i < 1200; i++ {
		b.WriteString("- {id: n" + itoa(i) + ", type: SendMessage, sendMessage: {text: x}, next: n" + itoa(i+1) + "}\n")
	}
	b.WriteString("- {id: n1200, type: End}\n")
	_, errs := Compile(parseSpec(t, b.String()), Options{})
	if got := errStrings(errs); len(got) != 1 || got[0] != "spec.nodes: Too many: 1202: must have at most 1000 items" {
		t.Errorf("errors = %v", got)
	}
	if _, errs := Compile(nil, Options{}); len(errs) != 1 || errs[0].Error() != "spec: Required value: a flow needs a spec with a trigger and nodes" {
		t.Errorf("nil spec: %v", errs)
	}
	if _, errs := Compile(&v1alpha1.ChatFlowSpec{}, Options{Path: field.NewPath("x")}); len(errs) != 2 {
		t.Errorf("empty spec: %v", errs)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
