package flow

import (
	"regexp"
	"strings"
	"testing"
)

const canonA = `
displayName: Order status
remark: one
state: Published
logging: {enabled: true}
trigger:
  type: Manual
  inputs:
  - {name: orderId, required: true, description: the order}
  - {name: lang}
variables:
- {name: greeting, value: Hi}
- {name: bye, value: Bye}
nodes:
- {id: start, type: Start, next: ask}
- id: ask
  type: SendMessage
  sendMessage: {text: "{{ vars.greeting }}"}
  next: wait
- id: wait
  type: WaitForReply
  waitForReply: {saveAs: answer}
  next: call
- id: call
  type: HTTPRequest
  httpRequest: {url: "https://api.example.com/x"}
  next: loop
  onError: end
- id: loop
  type: Jump
  jump: {target: ask}
  next: agent
- id: agent
  type: Handoff
  handoff: {}
  next: end
- {id: end, type: End}
executor: {replicas: 3}
`

// canonB is canonA with other formatting, key order, node and variable
// order, defaults spelled out (in other units), and other non-graph fields.
const canonB = `
nodes:
-   type: End
    id: end
-   next: end
    type: Handoff
    id: agent
    handoff:
      timeout: 1440m
-   id: loop
    jump:
      maxJumps: 3
      target: ask
    next: agent
    type: Jump
-   id: call
    onError: end
    next: loop
    type: HTTPRequest
    httpRequest:
      timeout: 10000ms
      url: "https://api.example.com/x"
      method: GET
-   id: wait
    next: call
    waitForReply:
      timeout: 600s
      saveAs: answer
    type: WaitForReply
-   id: ask
    next: wait
    sendMessage:
      text: "{{ vars.greeting }}"
    type: SendMessage
-   {next: ask, type: Start, id: start}
variables:
-   value: Bye
    name: bye
-   name: greeting
    value: Hi
trigger:
    inputs:
    -   name: lang
    -   required: true
        name: orderId
        description: something else
    type: Manual
state: Unpublished
displayName: Another name
`

func TestRevisionIgnoresFormatting(t *testing.T) {
	a, b := parseSpec(t, canonA), parseSpec(t, canonB)
	ra, err := Revision(a)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := Revision(b)
	if ra != rb {
		ca, _ := Canonical(a)
		cb, _ := Canonical(b)
		t.Fatalf("revisions differ: %s vs %s\n%s\n%s", ra, rb, ca, cb)
	}
	if !regexp.MustCompile(`^[0-9a-f]{10}$`).MatchString(ra) {
		t.Errorf("revision %q is not 10 hex digits", ra)
	}
	// The Program reports the same revision and canonical form.
	p, errs := Compile(a, Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	ca, _ := Canonical(b)
	if p.Revision() != ra || string(p.Canonical()) != string(ca) {
		t.Errorf("program revision %s, canonical %s", p.Revision(), p.Canonical())
	}
}

func TestCanonicalAppliesDefaults(t *testing.T) {
	c, err := Canonical(parseSpec(t, canonA))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"method":"GET"`, `"timeout":"10s"`, `"timeout":"10m0s"`, `"timeout":"24h0m0s"`, `"maxJumps":3`,
		`"inputs":[{"name":"lang"},{"name":"orderId","required":true}]`,
	} {
		if !strings.Contains(string(c), want) {
			t.Errorf("canonical form lacks %s:\n%s", want, c)
		}
	}
	for _, absent := range []string{"displayName", "remark", "state", "logging", "executor", "replicas", "description", "Published"} {
		if strings.Contains(string(c), absent) {
			t.Errorf("canonical form has %s:\n%s", absent, c)
		}
	}
	if _, err := Canonical(nil); err == nil {
		t.Error("Canonical(nil) succeeded")
	}
}

func TestRevisionChangesWithTheGraph(t *testing.T) {
	base, _ := Revision(parseSpec(t, canonA))
	for name, edit := range map[string][2]string{
		"text":        {`text: "{{ vars.greeting }}"`, `text: "{{ vars.greeting }}!"`},
		"link":        {"next: loop\n  onError: end", "next: loop\n  onError: agent"},
		"default":     {"jump: {target: ask}", "jump: {target: ask, maxJumps: 4}"},
		"variable":    {"{name: bye, value: Bye}", "{name: bye, value: Ciao}"},
		"trigger":     {"type: Manual", "type: WhatsApp"},
		"input":       {"{name: lang}", "{name: lang, required: true}"},
		"branch type": {"type: End}", "type: End}\n- {id: extra, type: End}"},
	} {
		src := strings.Replace(canonA, edit[0], edit[1], 1)
		if src == canonA {
			t.Fatalf("%s: edit did not apply", name)
		}
		if r, _ := Revision(parseSpec(t, src)); r == base {
			t.Errorf("%s: revision unchanged", name)
		}
	}
	// Inputs do not count for channel triggers: the executor drops them.
	wa1 := strings.Replace(canonA, "type: Manual", "type: WhatsApp", 1)
	wa2 := strings.Replace(wa1, "{name: lang}", "{name: other}", 1)
	r1, _ := Revision(parseSpec(t, wa1))
	r2, _ := Revision(parseSpec(t, wa2))
	if r1 != r2 {
		t.Error("inputs of a WhatsApp flow changed its revision")
	}
}
