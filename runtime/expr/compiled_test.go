package expr

import (
	"fmt"
	"reflect"
	"testing"
)

// An Env remembers what compiling a source gave. What it hands out again
// must be what compiling afresh gives: the same error, or a program that
// reads the same scopes and evaluates the same.

var compileSeeds = []string{
	`message.text.lowerAscii() == "yes" || vars.count > 3`,
	`vars.count + 1`, `vars.price * 2.0`, `contact.name`, `raw(vars.name)`, `vars.tags.exists(t, t == "vip")`,
	`vars.order.body.items.map(i, i.qty)`, `"a" + 1`, `vars.x +`, `mesage.text`, `undefinedFn(1)`, ``, `   `,
	`vars.name.size()`, `vars.?missing.orValue("d")`, `now - duration("1h")`, `{{ vars.x }}`, `x = 1`, `1`, `"s"`,
}

func sameCompilation(t *testing.T, src string, wantBool bool, got *Program, gotErr error, want *Program, wantErr error) {
	t.Helper()
	if !reflect.DeepEqual(gotErr, wantErr) {
		t.Fatalf("compile(%q, bool=%v): remembered error %#v, afresh %#v", src, wantBool, gotErr, wantErr)
	}
	if (got == nil) != (want == nil) {
		t.Fatalf("compile(%q, bool=%v): remembered program %v, afresh %v", src, wantBool, got, want)
	}
	if got == nil {
		return
	}
	if got.Source() != want.Source() || got.Reads() != want.Reads() || got.raw != want.raw {
		t.Fatalf("compile(%q, bool=%v): remembered program reads %v, afresh %v", src, wantBool, got.Reads(), want.Reads())
	}
	gv, gerr := got.Eval(testScope())
	wv, werr := want.Eval(testScope())
	if !reflect.DeepEqual(gv, wv) || fmt.Sprint(gerr) != fmt.Sprint(werr) {
		t.Fatalf("compile(%q): remembered program evaluates to %v (%v), afresh to %v (%v)", src, gv, gerr, wv, werr)
	}
}

func FuzzCompileRemembered(f *testing.F) {
	for _, s := range compileSeeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	env := Default()
	afresh := env.Uncached()
	f.Fuzz(func(t *testing.T, src string, wantBool bool) {
		defer hangGuard(src).Stop()
		want, wantErr := afresh.compile(src, wantBool)
		for range 2 { // the first may compile, the second remembers
			got, gotErr := env.compile(src, wantBool)
			sameCompilation(t, src, wantBool, got, gotErr, want, wantErr)
		}
	})
}

func TestCompileRemembersOnce(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := env.Compile(`vars.count + 1`)
	b, _ := env.Compile(`vars.count + 1`)
	if a != b {
		t.Error("the same source compiled twice")
	}
	if c, _ := env.CompileBool(`vars.count + 1`); c != nil {
		t.Error("a condition was taken from a compilation of the same source as an expression")
	}
	u := env.Uncached()
	if x, _ := u.Compile(`vars.count + 1`); x == a {
		t.Error("an Uncached Env handed out a remembered program")
	}
	// A remembered error is handed out as a copy: a caller may change it.
	_, e1 := env.Compile(`vars.x +`)
	e1.(*Error).Message = "changed"
	if _, e2 := env.Compile(`vars.x +`); e2.(*Error).Message == "changed" {
		t.Error("a remembered error was shared with a caller")
	}
}

func TestCompileRemembersABoundedNumber(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxCompiled + 50 {
		if _, err := env.Compile(fmt.Sprintf("vars.count + %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := env.compiled.Len(); n != maxCompiled {
		t.Errorf("the Env remembers %d compilations, want at most %d", n, maxCompiled)
	}
	// The oldest went first; the newest are still there.
	first, _ := env.Compile(fmt.Sprintf("vars.count + %d", maxCompiled+49))
	again, _ := env.Compile(fmt.Sprintf("vars.count + %d", maxCompiled+49))
	if first != again {
		t.Error("the newest compilation was forgotten")
	}
}
