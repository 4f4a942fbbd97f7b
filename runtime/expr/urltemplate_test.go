package expr

import (
	"strings"
	"testing"
)

func TestURLTemplateEscapesForThePart(t *testing.T) {
	s := testScope()
	s.Vars["id"] = "1/../admin?x=y&z#f g+h"
	s.Vars["base"] = "https://api.example.com/v2"
	s.Vars["n"] = int64(42)
	for _, tc := range []struct{ src, want string }{
		{`https://x.example/orders/{{ vars.id }}`, "https://x.example/orders/1%2F..%2Fadmin%3Fx=y&z%23f%20g+h"},
		{`https://x.example/search?q={{ vars.id }}&n={{ vars.n }}`, "https://x.example/search?q=1%2F..%2Fadmin%3Fx%3Dy%26z%23f+g%2Bh&n=42"},
		{`https://x.example?q={{ vars.id }}`, "https://x.example?q=1%2F..%2Fadmin%3Fx%3Dy%26z%23f+g%2Bh"},
		{`https://x.example/a/{{ vars.n }}/b?c={{ vars.n }}#{{ vars.id }}`, "https://x.example/a/42/b?c=42#1%2F..%2Fadmin%3Fx=y&z%23f%20g+h"},
		{`{{ raw(vars.base) }}/orders/{{ vars.id }}`, "https://api.example.com/v2/orders/1%2F..%2Fadmin%3Fx=y&z%23f%20g+h"},
		{`https://x.example/{{ raw(vars.id) }}`, "https://x.example/1/../admin?x=y&z#f g+h"},
		{`https://x.example/{{ raw(vars.id) }}x{{ vars.n }}`, "https://x.example/1/../admin?x=y&z#f g+hx42"},
		{`https://{{ raw("api.example.com") }}/{{ contact.name }}`, "https://api.example.com/Bob"},
	} {
		tpl, err := Default().CompileURLTemplate(tc.src)
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		got, err := tpl.Render(s)
		if err != nil || got != tc.want {
			t.Errorf("%s:\n got %q, %v\nwant %q", tc.src, got, err, tc.want)
		}
	}
}

func TestURLTemplateRefusesAPlaceholderInTheHost(t *testing.T) {
	for _, tc := range []struct {
		src    string
		column int
	}{
		{`{{ vars.base }}/orders`, 1},
		{`https://{{ vars.host }}/orders`, 9},
		{`https://api.{{ vars.domain }}/orders`, 13},
		{`https://api.example.com:{{ vars.port }}/x`, 25},
		{`{{ raw(vars.base) }}{{ vars.id }}`, 21},
		{`https://x.example@{{ vars.id }}/`, 19},
		{`{{ raw(vars.a) + "x" }}/orders`, 1}, // only raw() as a whole is raw
	} {
		_, err := Default().CompileURLTemplate(tc.src)
		var ee *Error
		if err == nil || !strings.Contains(err.Error(), "in the scheme or host of a URL decides where the request goes") {
			t.Errorf("%s: %v, want a refusal", tc.src, err)
			continue
		}
		if e, ok := err.(*Error); ok {
			ee = e
		}
		if ee == nil || ee.Column != tc.column {
			t.Errorf("%s: column %v, want %d", tc.src, ee, tc.column)
		}
	}
}

func TestRawElsewhereIsTheValue(t *testing.T) {
	tpl, err := Default().CompileTemplate(`{{ raw(contact.name) }} & {{ raw(1 + 1) }}`)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tpl.Render(testScope()); err != nil || got != "Bob & 2" {
		t.Errorf("%q, %v", got, err)
	}
}
