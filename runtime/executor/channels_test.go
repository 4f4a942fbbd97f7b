package executor

import (
	"context"
	"errors"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

func TestContactOnly(t *testing.T) {
	for src, want := range map[string]bool{
		"Hello!":                               true,
		"Hello {{ contact.name }}":             true,
		"{{contact.id}}/{{ contact.channel }}": true,
		`literal \{{ vars.x }}`:                true,
		"{{ vars.name }}":                      false,
		"{{ message.text }}":                   false,
		"{{ contact.name + vars.x }}":          false,
		"{{\n message.text\n}}":                false,
		`{{ "}}" }}`:                           false,
	} {
		if got := contactOnly(src); got != want {
			t.Errorf("contactOnly(%q) = %v, want %v", src, got, want)
		}
	}
}

func spec(t *testing.T, y string) *v1alpha1.ChatFlowSpec {
	t.Helper()
	var s v1alpha1.ChatFlowSpec
	if err := yaml.UnmarshalStrict([]byte(y), &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func TestWelcomeFor(t *testing.T) {
	john := message.Contact{ID: "u1", Name: "John", Channel: message.Viber}
	w := welcomeFor(spec(t, `
trigger: {type: Viber}
nodes:
- {id: start, type: Start, next: hi}
- {id: hi, type: SendMessage, sendMessage: {text: "Hi {{ contact.name }}", media: {type: Image, url: "https://x/{{ contact.id }}.png"}, buttons: [{id: a, title: "A"}]}, next: end}
- {id: end, type: End}
`))
	if w == nil {
		t.Fatal("no welcome")
	}
	out, ok := w(john)
	if !ok || out.Text != "Hi John" || out.Media == nil || out.Media.URL != "https://x/u1.png" || out.Media.Kind != message.Image ||
		len(out.Buttons) != 1 || out.Buttons[0].ID != "a" || out.To != john {
		t.Fatalf("%+v %v", out, ok)
	}
	for name, y := range map[string]string{
		"state": `
trigger: {type: Viber}
nodes:
- {id: start, type: Start, next: hi}
- {id: hi, type: SendMessage, sendMessage: {text: "you said {{ message.text }}"}, next: end}
- {id: end, type: End}
`,
		"not a SendMessage first": `
trigger: {type: Viber}
nodes:
- {id: start, type: Start, next: wait}
- {id: wait, type: WaitForReply, waitForReply: {timeout: 1m}, next: end}
- {id: end, type: End}
`,
	} {
		if welcomeFor(spec(t, y)) != nil {
			t.Errorf("%s: a welcome message", name)
		}
	}
}

// runRegistration retries a failing set_webhook with backoff until it
// succeeds, and stops when its context ends.
func TestRunRegistration(t *testing.T) {
	calls := 0
	e := &Executor{flowName: "f", registerWebhook: func(context.Context) error {
		calls++
		if calls < 2 {
			return errors.New("the ingress is not ready")
		}
		return nil
	}}
	done := make(chan struct{})
	go func() { e.runRegistration(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no retry within 10s")
	}
	if calls != 2 {
		t.Fatalf("%d calls", calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.registerWebhook = func(context.Context) error { cancel(); return errors.New("down") }
	e.runRegistration(ctx) // returns once ctx is done
}
