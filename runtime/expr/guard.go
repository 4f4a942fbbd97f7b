package expr

import (
	"strings"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// maxGrowth is the most that one replace() or join() may add to the size of
// its inputs, in bytes.
const maxGrowth = 1 << 20

// guardedStrings re-binds the two string-extension functions whose output
// can be far larger than their inputs: `s.replace("", s)` squares a length,
// `list.join(s)` multiplies one. The cost limit is charged only after a call
// returns, so without these guards one call on large variables could
// exhaust memory before any limit is looked at.
func guardedStrings() cel.EnvOption {
	return cel.Lib(guardedLib{})
}

type guardedLib struct{}

func (guardedLib) CompileOptions() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Function("replace",
			cel.MemberOverload("string_replace_string_string",
				[]*cel.Type{cel.StringType, cel.StringType, cel.StringType}, cel.StringType,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					return replace(args[0].(types.String), args[1].(types.String), args[2].(types.String), -1)
				})),
			cel.MemberOverload("string_replace_string_string_int",
				[]*cel.Type{cel.StringType, cel.StringType, cel.StringType, cel.IntType}, cel.StringType,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					return replace(args[0].(types.String), args[1].(types.String), args[2].(types.String), int64(args[3].(types.Int)))
				}))),
		cel.Function("join",
			cel.MemberOverload("list_join_string",
				[]*cel.Type{cel.ListType(cel.StringType), cel.StringType}, cel.StringType,
				cel.BinaryBinding(func(list, sep ref.Val) ref.Val {
					return join(list.(traits.Lister), sep.(types.String))
				}))),
	}
}

func (guardedLib) ProgramOptions() []cel.ProgramOption { return nil }

// replace is strings.Replace after checking the size of its result; n < 0
// means all occurrences.
func replace(s, old, repl types.String, n int64) ref.Val {
	if growth := len(repl) - len(old); growth > 0 {
		var count int
		if old == "" {
			count = utf8.RuneCountInString(string(s)) + 1
		} else {
			count = strings.Count(string(s), string(old))
		}
		if n >= 0 && int64(count) > n {
			count = int(n)
		}
		if count > 0 && growth > maxGrowth/count {
			return types.NewErr("replace() would add over %d bytes to its input", maxGrowth)
		}
	}
	if n < 0 {
		return types.String(strings.ReplaceAll(string(s), string(old), string(repl)))
	}
	return types.String(strings.Replace(string(s), string(old), string(repl), int(n)))
}

// join is the string extension's join after checking what the separators
// add.
func join(list traits.Lister, sep types.String) ref.Val {
	n := int(list.Size().(types.Int))
	if n > 1 && len(sep) > 0 && n-1 > maxGrowth/len(sep) {
		return types.NewErr("join() would add over %d bytes of separators", maxGrowth)
	}
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(string(sep))
		}
		e, ok := list.Get(types.Int(i)).(types.String)
		if !ok {
			return types.NewErr("join: element %d is not a string", i)
		}
		b.WriteString(string(e))
	}
	return types.String(b.String())
}
