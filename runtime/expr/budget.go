package expr

import (
	"math"
	"strings"

	"github.com/google/cel-go/common"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// cel-go's runtime cost tracking costs about six allocations and a few
// hundred nanoseconds per call in an expression, which would be most of a
// turn's budget. It is only needed where work can grow faster than the
// inputs: comprehensions (map, filter, all, exists, ...), or many calls
// that build larger values. Everything else is planned without tracking: it
// makes at most maxUntrackedCalls calls, at most maxUntrackedGrowth of which
// can return more than their largest input (and by a bounded amount, see
// guard.go), so its work is linear in the size of the scope it reads.
const (
	maxUntrackedCalls  = 64
	maxUntrackedGrowth = 4
)

// needsCostTracking reports whether a checked expression must run under the
// cost limit.
func needsCostTracking(a *celast.AST) bool {
	calls, growing, loops := 0, 0, false
	celast.PreOrderVisit(a.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.ComprehensionKind:
			loops = true
		case celast.CallKind:
			calls++
			if grows(e.AsCall().FunctionName(), a.GetType(e.ID())) {
				growing++
			}
		}
	}))
	return loops || calls > maxUntrackedCalls || growing > maxUntrackedGrowth
}

// grows reports whether a call may return a value larger than its largest
// argument. Unknown functions count as growing: a wrong guess here costs
// speed, never safety.
func grows(fn string, result *types.Type) bool {
	if fn == operators.Add {
		switch result.Kind() {
		case types.IntKind, types.UintKind, types.DoubleKind, types.DurationKind, types.TimestampKind:
			return false
		}
		return true
	}
	return !bounded[fn] && !strings.HasPrefix(fn, "math.")
}

// bounded are the functions whose result is no larger than their largest
// argument (or is a scalar).
var bounded = map[string]bool{}

func init() {
	for _, fn := range []string{
		operators.Conditional, operators.LogicalAnd, operators.LogicalOr, operators.LogicalNot,
		operators.Equals, operators.NotEquals, operators.Less, operators.LessEquals,
		operators.Greater, operators.GreaterEquals, operators.Subtract, operators.Multiply,
		operators.Divide, operators.Modulo, operators.Negate, operators.Index, operators.OptIndex,
		operators.OptSelect, operators.In, operators.NotStrictlyFalse,
		"size", "matches", "contains", "startsWith", "endsWith", "lowerAscii", "upperAscii",
		"trim", "substring", "charAt", "indexOf", "lastIndexOf", "split", "reverse",
		"int", "uint", "double", "bool", "bytes", "string", "timestamp", "duration", "dyn", "type",
		"getFullYear", "getMonth", "getDayOfYear", "getDayOfMonth", "getDate", "getDayOfWeek",
		"getHours", "getMinutes", "getSeconds", "getMilliseconds",
		"optional.of", "optional.ofNonZeroValue", "optional.none", "orValue", "value", "hasValue", "or",
		"base64.decode",
	} {
		bounded[fn] = true
	}
}

// concatCost charges string and bytes concatenation by size when cel-go
// dispatches "_+_" on dyn operands (every flow variable is dyn): it then has
// no overload id to price and would charge 1, letting a loop build
// megabytes under the limit.
type concatCost struct{}

func (concatCost) CallCost(function, _ string, args []ref.Val, result ref.Val) *uint64 {
	if function != operators.Add || len(args) != 2 {
		return nil
	}
	switch result.(type) {
	case types.String, types.Bytes:
		cost := uint64(math.Ceil(float64(sizeOf(args[0])+sizeOf(args[1])) * common.StringTraversalCostFactor))
		return &cost
	}
	return nil
}

func sizeOf(v ref.Val) int64 {
	if s, ok := v.(traits.Sizer); ok {
		if n, ok := s.Size().(types.Int); ok {
			return int64(n)
		}
	}
	return 1
}
