package expr

import "testing"

// The benchmarks mirror one interpreter turn: a Condition, a SetVariables
// expression and a text template.

func BenchmarkEvalBool(b *testing.B) {
	p, err := Default().CompileBool(`message.text.lowerAscii() == "yes" || vars.count > 3`)
	if err != nil {
		b.Fatal(err)
	}
	s := benchScope()
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := p.EvalBool(s); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkEvalExpr(b *testing.B) {
	p, err := Default().Compile(`vars.count + 1`)
	if err != nil {
		b.Fatal(err)
	}
	s := benchScope()
	b.ReportAllocs()
	for b.Loop() {
		if v, err := p.Eval(s); err != nil || v != int64(3) {
			b.Fatal(v, err)
		}
	}
}

func BenchmarkRenderTemplate(b *testing.B) {
	t, err := Default().CompileTemplate("Hi {{ contact.name }}, your order {{ vars.orderNumber }} is {{ vars.status }}")
	if err != nil {
		b.Fatal(err)
	}
	s := benchScope()
	b.ReportAllocs()
	for b.Loop() {
		if out, err := t.Render(s); err != nil || out != "Hi Ann, your order A-1042 is shipped" {
			b.Fatal(out, err)
		}
	}
}

func benchScope() *Scope {
	return &Scope{
		Vars:    map[string]any{"count": int64(2), "orderNumber": "A-1042", "status": "shipped"},
		Contact: Contact{ID: "15550001111", Name: "Ann", Channel: "WhatsApp"},
		Message: Message{Text: "Yes", Type: "text"},
		Flow:    FlowInfo{Name: "order-status", Revision: "5f1c2a9e"},
	}
}
