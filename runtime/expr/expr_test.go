package expr

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func testScope() *Scope {
	return &Scope{
		Vars: map[string]any{
			"count": int64(4),
			"price": 2.5,
			"name":  "Ann",
			"ok":    true,
			"none":  nil,
			"tags":  []any{"vip", "new"},
			"order": map[string]any{"body": map[string]any{
				"status": "shipped",
				"items":  []any{map[string]any{"sku": "a-1", "qty": 2.0}},
			}},
		},
		Contact: Contact{ID: "15550001111", Name: "Bob", Channel: "WhatsApp"},
		Message: Message{
			Text: "  Yes please ", Type: "button", ButtonID: "b1", Payload: "p1",
			Media: &Media{Kind: "image", URL: "https://cdn.example/y.png", ID: "m1", MIMEType: "image/png", Caption: "cap", Filename: "y.png"},
		},
		Trigger: map[string]any{"orderId": "42"},
		Flow:    FlowInfo{Name: "order-status", Revision: "5f1c2a9e"},
		Now:     time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
	}
}

func TestEval(t *testing.T) {
	s := testScope()
	for _, tc := range []struct {
		src  string
		want any
	}{
		// Every scope.
		{`vars.count`, int64(4)},
		{`vars.price`, 2.5},
		{`vars.name`, "Ann"},
		{`vars.ok`, true},
		{`vars.none`, nil},
		{`vars.tags`, []any{"vip", "new"}},
		{`vars.order.body.status`, "shipped"},
		{`vars.order.body.items[0].qty`, 2.0},
		{`contact.id + contact.name + contact.channel`, "15550001111BobWhatsApp"},
		{`contact`, map[string]any{"id": "15550001111", "name": "Bob", "channel": "WhatsApp"}},
		{`[message.text, message.type, message.buttonId, message.payload]`, []any{"  Yes please ", "button", "b1", "p1"}},
		{`message.media`, map[string]any{"kind": "image", "url": "https://cdn.example/y.png", "id": "m1", "mimeType": "image/png", "caption": "cap", "filename": "y.png"}},
		{`message.media.mimeType`, "image/png"},
		{`trigger.orderId`, "42"},
		{`flow.name + "@" + flow.revision`, "order-status@5f1c2a9e"},
		{`now`, time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)},
		{`now.getFullYear()`, int64(2025)},
		{`now + duration("1h") > now`, true},
		// Numbers from JSON are doubles, and still compare with ints.
		{`vars.price > 2`, true},
		{`vars.count == 4.0`, true},
		{`int(vars.order.body.items[0].qty) + 1`, int64(3)},
		// String extensions and regex.
		{`message.text.trim().lowerAscii()`, "yes please"},
		{`contact.name.upperAscii()`, "BOB"},
		{`"a,b,c".split(",")`, []any{"a", "b", "c"}},
		{`vars.tags.join("+")`, "vip+new"},
		{`"a-b-c".replace("-", "")`, "abc"},
		{`"hello".substring(1, 3) + string("hello".indexOf("l"))`, "el2"},
		{`"%s has %d".format([contact.name, vars.count])`, "Bob has 4"},
		{`message.text.matches("(?i)^\\s*yes")`, true},
		{`contact.id.matches("^[0-9]+$")`, true},
		// Presence and optionals.
		{`has(vars.order)`, true},
		{`has(vars.missing)`, false},
		{`has(vars.order.body.status)`, true},
		{`has(message.media.url)`, true},
		{`vars.?missing.orValue("none")`, "none"},
		{`vars.?order.?body.?status.orValue("")`, "shipped"},
		{`vars.?missing`, nil},
		{`optional.of(1)`, int64(1)},
		// Other extensions and result types.
		{`base64.encode(b"hi")`, "aGk="},
		{`base64.decode("aGk=")`, []byte("hi")},
		{`math.greatest(1, 5, 3)`, int64(5)},
		{`3u`, uint64(3)},
		{`null`, nil},
		{`duration("90s")`, 90 * time.Second},
		{`{1: "one", true: [1.5]}`, map[string]any{"1": "one", "true": []any{1.5}}},
		{`type(1)`, "int"},
	} {
		p, err := Default().Compile(tc.src)
		if err != nil {
			t.Errorf("Compile(%s): %v", tc.src, err)
			continue
		}
		got, err := p.Eval(s)
		if err != nil {
			t.Errorf("Eval(%s): %v", tc.src, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Eval(%s) = %#v, want %#v", tc.src, got, tc.want)
		}
		if p.Source() != tc.src {
			t.Errorf("Source() = %q, want %q", p.Source(), tc.src)
		}
	}
}

// A message without media, and a nil scope, are empty rather than errors.
func TestEvalEmptyScope(t *testing.T) {
	for _, s := range []*Scope{nil, {}, {Message: Message{Text: "hi", Type: "text"}}} {
		for src, want := range map[string]any{
			`message.media`:          map[string]any{},
			`has(message.media.url)`: false,
			`message.media.size()`:   int64(0),
			`has(vars.x)`:            false,
			`contact.name == ""`:     true,
			`size(trigger)`:          int64(0),
		} {
			p, err := Default().Compile(src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Eval(s)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("Eval(%s) on %+v = %#v, %v; want %#v", src, s, got, err, want)
			}
		}
	}
}

func TestEvalErrors(t *testing.T) {
	s := testScope()
	for _, tc := range []struct{ src, want string }{
		{`vars.order.body.missing`, "no such key: missing"},
		{`vars.absent.status == "x"`, "no such key: absent"},
		{`vars.name + 1`, "JSON numbers are doubles"},
		{`vars.price + 1`, "no such overload"},
		{`int(vars.name)`, "type conversion error"},
		{`vars.count / 0`, "division by zero"},
		{`contact[vars.name]`, "no such key: Ann"},
	} {
		p, err := Default().Compile(tc.src)
		if err != nil {
			t.Errorf("Compile(%s): %v", tc.src, err)
			continue
		}
		_, err = p.Eval(s)
		var ee *EvalError
		if !errors.As(err, &ee) || !strings.Contains(ee.Error(), tc.want) {
			t.Errorf("Eval(%s) error = %v, want an *EvalError containing %q", tc.src, err, tc.want)
		}
	}
}

func TestEvalBool(t *testing.T) {
	s := testScope()
	for src, want := range map[string]bool{
		`message.text.trim().lowerAscii() == "yes please" || vars.count > 3`: true,
		`vars.ok`:                          true,
		`vars.order.body.status == "late"`: false,
		`"vip" in vars.tags`:               true,
	} {
		p, err := Default().CompileBool(src)
		if err != nil {
			t.Fatalf("CompileBool(%s): %v", src, err)
		}
		if got, err := p.EvalBool(s); err != nil || got != want {
			t.Errorf("EvalBool(%s) = %v, %v; want %v", src, got, err, want)
		}
	}
	// dyn compiles; a non-bool value is an error at run time, not false.
	p, err := Default().CompileBool(`vars.name`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.EvalBool(s)
	var ee *EvalError
	if !errors.As(err, &ee) || !strings.Contains(ee.Message, "string, not a bool") {
		t.Errorf("EvalBool(vars.name) error = %v", err)
	}
}

func TestCompileBoolRejectsStaticNonBool(t *testing.T) {
	for _, tc := range []struct {
		src    string
		column int
		typ    string
	}{
		{`1 + 2`, 1, "int"},
		{`"a"`, 1, "string"},
		{`  contact.name`, 3, "string"},
		{`[true]`, 1, "list(bool)"},
		{`vars.?x`, 1, "optional_type(dyn)"},
	} {
		_, err := Default().CompileBool(tc.src)
		var ce *Error
		if !errors.As(err, &ce) || ce.Column != tc.column || !strings.Contains(ce.Message, "must be a bool, but this is a "+tc.typ) {
			t.Errorf("CompileBool(%s) error = %v, want column %d and type %s", tc.src, err, tc.column, tc.typ)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		src    string
		column int
		want   string
	}{
		{`foo == 1`, 1, "undeclared reference to 'foo' (scopes are vars, contact, message, trigger, flow, now; a flow variable is vars.foo)"},
		{`vars.count == bar`, 15, "undeclared reference to 'bar'"},
		{`mesage.text == "x"`, 1, "did you mean message?"},
		{`len(vars.x) > 1`, 1, "unknown function 'len'"},
		{`1 + "a"`, 3, "found no matching overload for '_+_' applied to '(int, string)' (convert a side"},
		{`vars.a ==`, 10, "ends too early"},
		{"vars.a ==\n  foo", 13, "undeclared reference to 'foo'"},
		{`"é" == foo`, 8, "undeclared reference to 'foo'"},
		{`{{ vars.x }}`, 11, "drop the {{ }}"},
		{"vars.x = 1", 8, "(compare with ==)"},
		{`contact.nme == "Bob"`, 9, "contact has no field 'nme' (its fields are id, name, channel)"},
		{`message.type == "media" && message.media.uri != ""`, 42, "message.media has no field 'uri'"},
		{`flow.rev`, 6, "flow has no field 'rev'"},
		{``, 1, "empty"},
		{strings.Repeat("1+", MaxExpressionLength) + "1", 1, "limit is 2048"},
	} {
		_, err := Default().Compile(tc.src)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("Compile(%q) error = %v, want an *Error", tc.src, err)
			continue
		}
		if ce.Column != tc.column || !strings.Contains(ce.Message, tc.want) {
			t.Errorf("Compile(%q) = %q, want column %d and %q", tc.src, ce.Error(), tc.column, tc.want)
		}
	}
	// A comprehension variable may shadow a scope; its fields are unknown.
	if _, err := Default().Compile(`[{"nme": 1}].map(contact, contact.nme)`); err != nil {
		t.Errorf("shadowed scope: %v", err)
	}
	_, err := Default().Compile(`foo`)
	if got, want := err.Error(), "column 1: undeclared reference to 'foo' (scopes are vars, contact, message, trigger, flow, now; a flow variable is vars.foo)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// Runaway expressions end with an error, quickly.
func TestCostLimit(t *testing.T) {
	list := "[" + strings.TrimSuffix(strings.Repeat("1,", 100), ",") + "]"
	big := strings.Repeat("x", 64<<10)
	words := make([]any, 200)
	for i := range words {
		words[i] = "w"
	}
	s := &Scope{Vars: map[string]any{"big": big, "words": words}, Message: Message{Text: big}}
	for _, tc := range []struct{ src, want string }{
		{list + ".map(x, " + list + ".map(y, " + list + ".map(z, x * y * z)))", "cost limit"},
		{list + ".map(x, " + list + ".map(y, vars.big + message.text)).size() > 0", "cost limit"},
		{list + ".all(x, " + list + ".all(y, " + list + ".exists(z, message.text.contains(string(z)))))", "cost limit"},
		{`message.text.replace("", message.text)`, "replace()"},
		{`vars.words.join(vars.big)`, "join()"},
	} {
		p, err := Default().Compile(tc.src)
		if err != nil {
			t.Fatalf("Compile(%.40s...): %v", tc.src, err)
		}
		start := time.Now()
		_, err = p.Eval(s)
		if took := time.Since(start); took > time.Second {
			t.Errorf("Eval(%.40s...) took %v", tc.src, took)
		}
		var ee *EvalError
		if !errors.As(err, &ee) || !strings.Contains(ee.Message, tc.want) {
			t.Errorf("Eval(%.40s...) error = %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestNeedsCostTracking(t *testing.T) {
	for src, want := range map[string]bool{
		`vars.count + 1`: false,
		`message.text.lowerAscii() == "yes" || vars.count > 3`: false,
		`has(vars.x) && vars.?y.orValue(1) > 0`:                false,
		`contact.name + " " + vars.last`:                       false,
		`[1, 2].map(x, x * 2)`:                                 true,
		`vars.tags.exists(t, t == "vip")`:                      true,
		`vars.a + vars.b + vars.c + vars.d + vars.e + vars.f`:  true,
		`"x".replace("x", "y").replace("y", "z").replace("z", "a").replace("a", "b").replace("b", "c")`: true,
		strings.Repeat("size(vars.x) + ", 70) + "1":                                                     true,
	} {
		a, iss := Default().cel.Compile(src)
		if iss.Err() != nil {
			t.Fatal(iss.Err())
		}
		if got := needsCostTracking(a.NativeRep()); got != want {
			t.Errorf("needsCostTracking(%.60s) = %v, want %v", src, got, want)
		}
	}
}

func TestConcurrentEval(t *testing.T) {
	p, err := Default().CompileBool(`vars.n % 2 == 0 && contact.name.startsWith("c")`)
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := Default().CompileTemplate(`{{ contact.name }}:{{ vars.n }}`)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				n := int64(g*1000 + i)
				s := &Scope{Vars: map[string]any{"n": n}, Contact: Contact{Name: "c" + string(rune('a'+g))}}
				got, err := p.EvalBool(s)
				if err != nil || got != (n%2 == 0) {
					t.Errorf("EvalBool(n=%d) = %v, %v", n, got, err)
					return
				}
				out, err := tpl.Render(s)
				if want := s.Contact.Name + ":" + strconv.FormatInt(n, 10); err != nil || out != want {
					t.Errorf("Render = %q, %v; want %q", out, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestDefaultIsShared(t *testing.T) {
	if Default() != Default() {
		t.Error("Default() built two environments")
	}
}

// The hot path must stay cheap; the bounds leave room for cel-go changes
// but catch a program planned with cost tracking or a per-call activation.
func TestEvalAllocations(t *testing.T) {
	s := benchScope()
	cond, _ := Default().CompileBool(`message.text.lowerAscii() == "yes" || vars.count > 3`)
	set, _ := Default().Compile(`vars.count + 1`)
	tpl, _ := Default().CompileTemplate("Hi {{ contact.name }}, your order {{ vars.orderNumber }} is {{ vars.status }}")
	static, _ := Default().CompileTemplate("Shipped!")
	for name, tc := range map[string]struct {
		f   func()
		max float64
	}{
		"condition": {func() { _, _ = cond.EvalBool(s) }, 4},
		"expr":      {func() { _, _ = set.Eval(s) }, 1},
		"template":  {func() { _, _ = tpl.Render(s) }, 5},
		"static":    {func() { _, _ = static.Render(s) }, 0},
	} {
		if got := testing.AllocsPerRun(100, tc.f); got > tc.max {
			t.Errorf("%s: %v allocations per run, want at most %v", name, got, tc.max)
		}
	}
}
