package expr

import "testing"

func TestReadsNamesTheScopesATemplateReads(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want Scopes
	}{
		{`static text`, 0},
		{`Hi {{ contact.name }}!`, ReadsContact},
		{`{{ contact.name }} on {{ flow.name }}`, ReadsContact | ReadsFlow},
		{`{{ vars.greeting }}, {{ contact.name.upperAscii() }}`, ReadsVars | ReadsContact},
		{`{{ message.text }}`, ReadsMessage},
		{`{{ has(message.media.url) ? "media" : "text" }}`, ReadsMessage},
		{`{{ now }}`, ReadsNow},
		{`{{ trigger.?when.orValue("soon") }}`, ReadsTrigger},
		{`{{ "contact.name" }} {{ 'vars.x' }}`, 0},
		// A comprehension variable named like a scope counts as reading
		// it: over, never under.
		{`{{ [1, 2].map(vars, vars + 1) }}`, ReadsVars},
		{`{{ [contact.id].exists(x, x == message.text) }}`, ReadsContact | ReadsMessage},
	} {
		tmpl, err := Default().CompileTemplate(tc.src)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		if got := tmpl.Reads(); got != tc.want {
			t.Errorf("%s: reads %06b, want %06b", tc.src, got, tc.want)
		}
	}
	p, err := Default().CompileBool(`vars.count > 3 && now > timestamp("2025-01-01T00:00:00Z")`)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Reads(); got != ReadsVars|ReadsNow {
		t.Errorf("condition reads %06b, want vars and now", got)
	}
	if !(ReadsContact | ReadsFlow).Only(ReadsContact | ReadsFlow | ReadsVars) {
		t.Error("Only: a subset is not within the allowed set")
	}
	if (ReadsContact | ReadsMessage).Only(ReadsContact) {
		t.Error("Only: message is not within contact")
	}
}
