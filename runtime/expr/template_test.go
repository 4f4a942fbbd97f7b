package expr

import (
	"errors"
	"strings"
	"testing"
)

func TestRenderValues(t *testing.T) {
	s := testScope()
	s.Vars["html"] = []any{"<a&b>", `q"t`, "tab\there"}
	s.Vars["mixed"] = map[string]any{"b": []any{true, nil}, "a": 1.0}
	for _, tc := range []struct{ src, want string }{
		{`Hi {{ contact.name }}!`, "Hi Bob!"},
		{`{{ vars.count }} {{ -7 }} {{ 3u }}`, "4 -7 3"},
		{`{{ vars.price }} {{ 2.0 }} {{ 1e21 }} {{ 0.0000001 }} {{ -0.5 }}`, "2.5 2 1e+21 1e-07 -0.5"},
		{`{{ vars.ok }}/{{ !vars.ok }}`, "true/false"},
		{`[{{ vars.none }}][{{ null }}]`, "[][]"},
		{`{{ vars.tags }}`, `["vip","new"]`},
		{`{{ vars.mixed }}`, `{"a":1,"b":[true,null]}`},
		{`{{ vars.html }}`, `["<a&b>","q\"t","tab\there"]`},
		{`{{ vars.order.body }}`, `{"items":[{"qty":2,"sku":"a-1"}],"status":"shipped"}`},
		{`{{ {1: 2} }} {{ [1.5, "x"] }} {{ [] }} {{ {} }}`, `{"1":2} [1.5,"x"] [] {}`},
		{`{{ [double("NaN"), now] }}`, `[null,"2025-03-04T05:06:07Z"]`},
		{`{{ now }}`, "2025-03-04T05:06:07Z"},
		{`{{ duration("90s") }}`, "1m30s"},
		{`{{ b"hi" }}`, "hi"},
		{`{{ vars.?missing }}|{{ vars.?name }}`, "|Ann"},
		{`{{ message.media }}`, `{"caption":"cap","filename":"y.png","id":"m1","kind":"image","mimeType":"image/png","url":"https://cdn.example/y.png"}`},
		{`{{ contact }}`, `{"channel":"WhatsApp","id":"15550001111","name":"Bob"}`},
		{`{{ type(1) }}`, "int"},
	} {
		tpl, err := Default().CompileTemplate(tc.src)
		if err != nil {
			t.Errorf("CompileTemplate(%s): %v", tc.src, err)
			continue
		}
		got, err := tpl.Render(s)
		if err != nil || got != tc.want {
			t.Errorf("Render(%s) = %q, %v; want %q", tc.src, got, err, tc.want)
		}
	}
}

func TestTemplateSyntax(t *testing.T) {
	s := testScope()
	for _, tc := range []struct {
		src, want string
		static    bool
	}{
		{"plain text", "plain text", true},
		{"", "", true},
		{`literal \{{ braces }}`, "literal {{ braces }}", true},
		{`a }} b \ c {`, `a }} b \ c {`, true},
		{`{{ "}}" }}`, "}}", false},
		{`{{ '{{' + "x" }}`, "{{x", false},
		{`{{ {"a": {"b": 1}}.a.b }}`, "1", false},
		{`{{ {"a":1}}}`, `{"a":1}`, false},
		{`{{ r"\" }}`, `\`, false},
		{`{{ "a\"}}" }}`, `a"}}`, false},
		{`{{ """x}}y""" }}`, "x}}y", false},
		{"{{\n  contact.name\n}}-{{vars.name}}", "Bob-Ann", false},
		{`\{{ {{ contact.name }} }}`, "{{ Bob }}", false},
		{"Olá {{ contact.name }} ✓", "Olá Bob ✓", false},
	} {
		tpl, err := Default().CompileTemplate(tc.src)
		if err != nil {
			t.Errorf("CompileTemplate(%q): %v", tc.src, err)
			continue
		}
		if tpl.IsStatic() != tc.static {
			t.Errorf("IsStatic(%q) = %v, want %v", tc.src, tpl.IsStatic(), tc.static)
		}
		if tpl.Source() != tc.src {
			t.Errorf("Source() = %q, want %q", tpl.Source(), tc.src)
		}
		got, err := tpl.Render(s)
		if err != nil || got != tc.want {
			t.Errorf("Render(%q) = %q, %v; want %q", tc.src, got, err, tc.want)
		}
	}
}

func TestTemplateCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		src    string
		column int
		want   string
	}{
		{"Hi {{ contact.name", 4, `unclosed "{{"`},
		{"a {{ b }} {{ c", 6, "undeclared reference to 'b'"},
		{"a {{ 1 }} {{ c", 11, `unclosed "{{"`},
		{"x {{ }}", 3, `empty "{{ }}"`},
		{"Hi {{ foo }}", 7, "undeclared reference to 'foo'"},
		{"Olá {{ foo }}", 8, "undeclared reference to 'foo'"},
		{"line1\n{{ foo }}", 10, "undeclared reference to 'foo'"},
		{"Hi {{ contact.name }}, {{ vars.x + }}", 36, "ends too early"},
		{"Hi {{ 1 + \"a\" }}", 9, "no matching overload"},
		{`{{ "unterminated }}`, 4, "Syntax error"},
		{`{{ {"a": 1 }}`, 12, "ends too early"},
		{"{{ " + strings.Repeat("1+", MaxExpressionLength) + "1 }}", 3, "limit is 2048"},
		{strings.Repeat("x", MaxTemplateLength+1), 1, "limit is 65536"},
	} {
		_, err := Default().CompileTemplate(tc.src)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("CompileTemplate(%.40q) error = %v, want an *Error", tc.src, err)
			continue
		}
		if ce.Column != tc.column || !strings.Contains(ce.Message, tc.want) {
			t.Errorf("CompileTemplate(%.40q) = %q, want column %d and %q", tc.src, ce.Error(), tc.column, tc.want)
		}
	}
}

// A missing key is an error naming the placeholder, never an empty hole.
func TestRenderErrors(t *testing.T) {
	tpl, err := Default().CompileTemplate("Status: {{ vars.order.body.status }}")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tpl.Render(&Scope{Vars: map[string]any{}})
	var ee *EvalError
	if !errors.As(err, &ee) || ee.Message != "{{ vars.order.body.status }}: no such key: order" {
		t.Errorf("Render error = %v", err)
	}
	if out, err := tpl.Render(testScope()); err != nil || out != "Status: shipped" {
		t.Errorf("Render = %q, %v", out, err)
	}
}
