package expr

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	"k8s.io/utils/lru"
)

const (
	// MaxExpressionLength bounds one expression, in bytes. Flow expressions
	// are conditions and small computations; anything longer is a mistake
	// or an attack on the parser.
	MaxExpressionLength = 2048
	// MaxTemplateLength bounds one template, in bytes: a message text with
	// room to spare.
	MaxTemplateLength = 65536
	// CostLimit bounds the work of one evaluation, in CEL cost units (about
	// one per visited node, more for each byte or element traversed). It
	// stops comprehensions over big lists and growing strings well before
	// they take a millisecond.
	CostLimit = 100000
	// maxFormatPrecision keeps "%.Nf" in format() from building huge strings.
	maxFormatPrecision = 64
	// maxCompiled bounds the expressions an Env remembers having compiled.
	maxCompiled = 2048
)

// Env compiles expressions and templates for chat flows. It is safe for
// concurrent use; build it once.
type Env struct {
	cel *cel.Env
	// fast plans expressions whose work is linear in their inputs; tracked
	// ones run under CostLimit (see budget.go).
	fast, tracked []cel.ProgramOption
	// compiled remembers what compiling a source gave (a Program, or an
	// Error): the same source in the same Env always compiles the same,
	// and linting a flow after an edit (the studio does, at every edit)
	// compiles the expressions of every unchanged node again. Nil in an
	// Uncached Env.
	compiled *lru.Cache // compileKey → compiled; safe for concurrent use
}

type compileKey struct {
	src      string
	wantBool bool
}

type compiled struct {
	prg *Program
	err *Error
}

// NewEnv builds the CEL environment: the scopes, the string, encoder and
// math extensions, optional syntax (`vars.?x`, `has(vars.x)`) and the
// evaluation limits.
func NewEnv() (*Env, error) {
	env, err := cel.NewEnv(
		cel.Variable("vars", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("contact", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("message", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("trigger", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("flow", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("now", cel.TimestampType),
		cel.OptionalTypes(),
		// JSON numbers arrive as doubles: `vars.count > 3` must still work.
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		ext.Strings(ext.StringsMaxPrecision(maxFormatPrecision)),
		ext.Encoders(),
		ext.Math(),
		guardedStrings(),
		cel.Lib(rawLib{}),
	)
	if err != nil {
		return nil, fmt.Errorf("expr: building the CEL environment: %w", err)
	}
	return &Env{
		cel:      env,
		fast:     []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)},
		tracked:  []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize), cel.CostLimit(CostLimit), cel.CostTracking(concatCost{})},
		compiled: lru.New(maxCompiled),
	}, nil
}

// Uncached returns an Env like e that compiles every source afresh, for
// the tests that hold remembered compilations to fresh ones.
func (e *Env) Uncached() *Env {
	u := *e
	u.compiled = nil
	return &u
}

// Default returns a process-wide Env, built on first use.
func Default() *Env { return defaultEnv() }

var defaultEnv = sync.OnceValue(func() *Env {
	e, err := NewEnv()
	if err != nil {
		panic(err)
	}
	return e
})

// Compile compiles an expression of any result type.
func (e *Env) Compile(src string) (*Program, error) { return e.compile(src, false) }

// CompileBool compiles a condition. Its static type must be bool, or dyn
// (e.g. `vars.flag`), which EvalBool then checks at run time.
func (e *Env) CompileBool(src string) (*Program, error) { return e.compile(src, true) }

func (e *Env) compile(src string, wantBool bool) (*Program, error) {
	if e.compiled == nil {
		prg, err := e.compileAfresh(src, wantBool)
		return compiled{prg, err}.result()
	}
	key := compileKey{src, wantBool}
	if v, ok := e.compiled.Get(key); ok {
		return v.(compiled).result()
	}
	prg, err := e.compileAfresh(src, wantBool)
	c := compiled{prg, err}
	e.compiled.Add(key, c)
	return c.result()
}

// result hands out a copy of a remembered error: a Program is immutable,
// but an Error is a struct its receiver may change.
func (c compiled) result() (*Program, error) {
	if c.err != nil {
		err := *c.err
		return nil, &err
	}
	return c.prg, nil
}

func (e *Env) compileAfresh(src string, wantBool bool) (*Program, *Error) {
	if len(src) > MaxExpressionLength {
		return nil, &Error{Column: 1, Message: fmt.Sprintf(
			"the expression is %d bytes long, the limit is %d: split it over several SetVariables", len(src), MaxExpressionLength)}
	}
	if strings.TrimSpace(src) == "" {
		return nil, &Error{Column: 1, Message: "the expression is empty"}
	}
	ast, iss := e.cel.Compile(src)
	if iss.Err() != nil {
		return nil, issueError(src, iss.Errors())
	}
	if err := checkFields(ast.NativeRep()); err != nil {
		return nil, err
	}
	if wantBool {
		if t := ast.OutputType(); t.Kind() != types.BoolKind && t.Kind() != types.DynKind {
			return nil, &Error{Column: firstColumn(src), Message: fmt.Sprintf(
				"a condition must be a bool, but this is a %s (compare it, e.g. x == \"yes\" or x > 3)", t)}
		}
	}
	opts := e.fast
	if needsCostTracking(ast.NativeRep()) {
		opts = e.tracked
	}
	prg, err := e.cel.Program(ast, opts...)
	if err != nil {
		return nil, &Error{Column: 1, Message: err.Error()}
	}
	return &Program{src: src, prg: prg, reads: readsOf(ast.NativeRep()), raw: isRawCall(ast.NativeRep())}, nil
}

// firstColumn is where the first non-blank character of src is.
func firstColumn(src string) int {
	trimmed := strings.TrimLeft(src, " \t\r\n")
	return utf8.RuneCountInString(src[:len(src)-len(trimmed)]) + 1
}
