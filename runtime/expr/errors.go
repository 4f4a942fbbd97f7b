package expr

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/interpreter"
)

// Error is a compile error of an expression or template.
type Error struct {
	// Column is the 1-based position of the problem, in characters (Unicode
	// code points) from the start of the source, newlines included: for a
	// one-line source it is the column, for a template it counts from the
	// start of the whole template.
	Column int
	// Message says what is wrong and, when possible, how to fix it.
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("column %d: %s", e.Column, e.Message) }

// EvalError is an evaluation error: a missing key, a type mismatch, the cost
// limit. The caller decides whether it takes an error branch or a default.
type EvalError struct{ Message string }

func (e *EvalError) Error() string { return e.Message }

// scopeHint is appended to undeclared references: the fix is nearly always
// a missing scope prefix or a typo in one.
var scopeHint = "scopes are " + strings.Join(scopeNames, ", ")

// issueError turns the first of cel-go's issues into an Error whose column
// counts from the start of src.
func issueError(src string, errs []*cel.Error) *Error {
	first := errs[0]
	col := 1
	if off, ok := common.NewTextSource(src).LocationOffset(first.Location); ok && off >= 0 {
		col = int(off) + 1
	}
	col, msg := explain(src, col, first.Message)
	return &Error{Column: col, Message: msg}
}

// explain rewrites cel-go's messages into ones a flow author can act on,
// moving the column where cel-go's is not where the author should look.
func explain(src string, col int, msg string) (int, string) {
	if name, ok := strings.CutPrefix(msg, "undeclared reference to '"); ok {
		name, _, _ = strings.Cut(name, "'")
		// cel-go places an unknown function at its "(".
		if strings.HasPrefix(runesFrom(src, col-1), "(") {
			return max(1, col-utf8.RuneCountInString(name)), fmt.Sprintf("unknown function '%s'", name)
		}
		if near := nearScope(name); near != "" {
			return col, fmt.Sprintf("undeclared reference to '%s' (did you mean %s? %s)", name, near, scopeHint)
		}
		return col, fmt.Sprintf("undeclared reference to '%s' (%s; a flow variable is vars.%s)", name, scopeHint, name)
	}
	if strings.HasPrefix(msg, "found no matching overload") {
		return col, msg + " (convert a side, e.g. string(x), int(x) or double(x))"
	}
	if strings.Contains(msg, "token recognition error at: '=") {
		return col, msg + " (compare with ==)"
	}
	if strings.Contains(src, "{{") {
		return col, msg + " (an expression is plain CEL: drop the {{ }})"
	}
	if strings.Contains(msg, "mismatched input '<EOF>'") {
		return col, "syntax error: the expression ends too early (an operand or a closing bracket is missing)"
	}
	return col, msg
}

// runesFrom is src after its first n code points.
func runesFrom(src string, n int) string {
	for i := range src {
		if n == 0 {
			return src[i:]
		}
		n--
	}
	return ""
}

// nearScope is the scope name that name is a likely typo of, if any. Short
// names get less slack, or every three-letter word would look like "now".
func nearScope(name string) string {
	slack := 1
	if len(name) >= 6 {
		slack = 2
	}
	for _, s := range scopeNames {
		if editDistance(strings.ToLower(name), s) <= slack {
			return s
		}
	}
	return ""
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// evalError turns a cel-go evaluation error into an EvalError.
func evalError(err error) *EvalError {
	var cancelled interpreter.EvalCancelledError
	if errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded {
		return &EvalError{Message: fmt.Sprintf(
			"the expression exceeded its cost limit of %d: it iterates or builds strings too much", CostLimit)}
	}
	msg := err.Error()
	if msg == "no such overload" {
		msg += " (operand types do not fit: JSON numbers are doubles, so write 1.0 or convert with int(x), double(x), string(x))"
	}
	return &EvalError{Message: msg}
}
