package expr

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The seeds live in testdata/fuzz/<FuzzName>/.

func FuzzTemplate(f *testing.F) {
	s := testScope()
	f.Fuzz(func(t *testing.T, src string) {
		defer hangGuard(src).Stop()
		tpl, err := Default().CompileTemplate(src)
		if err != nil {
			checkCompileError(t, src, err)
			return
		}
		out, err := tpl.Render(s)
		if err != nil {
			var ee *EvalError
			if !errors.As(err, &ee) {
				t.Fatalf("Render(%q) error %T %v, want *EvalError", src, err, err)
			}
			return
		}
		if !strings.Contains(src, "{{") && (!tpl.IsStatic() || out != src) {
			t.Fatalf("text without {{ is not static and verbatim: %q -> %q", src, out)
		}
	})
}

func FuzzExpr(f *testing.F) {
	s := testScope()
	f.Fuzz(func(t *testing.T, src string) {
		defer hangGuard(src).Stop()
		p, err := Default().Compile(src)
		if err != nil {
			checkCompileError(t, src, err)
			return
		}
		v, err := p.Eval(s)
		if err != nil {
			var ee *EvalError
			if !errors.As(err, &ee) {
				t.Fatalf("Eval(%q) error %T %v, want *EvalError", src, err, err)
			}
			return
		}
		if !isPlain(v) {
			t.Fatalf("Eval(%q) = %#v (%T), not plain Go", src, v, v)
		}
	})
}

// hangGuard crashes the fuzz worker when one input runs far too long, so
// that the fuzzer records it: a hang is a bug here, and t.Fatal cannot be
// called from the timer's goroutine.
func hangGuard(src string) *time.Timer {
	return time.AfterFunc(10*time.Second, func() { panic("input ran over 10s: " + strconv.Quote(src)) })
}

func checkCompileError(t *testing.T, src string, err error) {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("compile(%q) error %T %v, want *Error", src, err, err)
	}
	if ce.Column < 1 || ce.Column > utf8.RuneCountInString(src)+1 {
		t.Fatalf("compile(%q): column %d outside the source (%s)", src, ce.Column, ce.Message)
	}
}

func isPlain(v any) bool {
	switch v := v.(type) {
	case nil, string, int64, uint64, float64, bool, []byte, time.Time, time.Duration:
		return true
	case []any:
		for _, e := range v {
			if !isPlain(e) {
				return false
			}
		}
		return true
	case map[string]any:
		for _, e := range v {
			if !isPlain(e) {
				return false
			}
		}
		return true
	}
	return false
}
