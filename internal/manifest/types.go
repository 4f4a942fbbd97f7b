package manifest

import (
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// JSONType names the JSON type of a value as the API server's validation
// does: boolean, integer, number, string, object, array or null.
func JSONType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case int64, int:
		return "integer"
	case float64:
		return "number"
	case string:
		return "string"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return "unknown"
}

// TypeMismatch is the error of a value of the wrong JSON type at path, as
// the API server reports it (Invalid value: "boolean", the type it got)
// but with a message that says what the field takes and, where YAML
// guessed the type of what was written, how to write it instead:
//
//	spec.variables[0].name: Invalid value: "boolean": must be a string (quote it: "n")
//
// want lists the JSON types the field accepts (string; integer,string for
// an int-or-string).
func (o Object) TypeMismatch(path, got string, want ...string) *field.Error {
	detail := "must be " + typeNames(want)
	text, plain, written := o.Pos.Written(path)
	switch {
	case !written:
	case plain && len(want) == 1 && want[0] == "string" && (got == "boolean" || got == "integer" || got == "number"):
		detail += " (quote it: " + strconv.Quote(text) + ")"
	case !plain && got == "string" && len(want) == 1 && unquotedIs(text, want[0]):
		detail += " (remove the quotes: " + text + ")"
	case len(want) == 1 && want[0] == "boolean":
		detail += ": true or false"
	}
	return &field.Error{Type: field.ErrorTypeTypeInvalid, Field: path, BadValue: got, Detail: detail}
}

func unquotedIs(text, want string) bool {
	switch want {
	case "integer":
		_, err := strconv.ParseInt(text, 10, 64)
		return err == nil
	case "number":
		_, err := strconv.ParseFloat(text, 64)
		return err == nil
	case "boolean":
		return text == "true" || text == "false"
	}
	return false
}

func typeNames(want []string) string {
	names := make([]string, len(want))
	for i, w := range want {
		switch w {
		case "string":
			names[i] = "a string"
		case "integer":
			names[i] = "an integer"
		case "number":
			names[i] = "a number"
		case "boolean":
			names[i] = "a boolean"
		case "object":
			names[i] = "an object (a mapping of fields)"
		case "array":
			names[i] = "a list"
		default:
			names[i] = w
		}
	}
	return strings.Join(names, " or ")
}

var schemaTypeDetail = regexp.MustCompile(` must be of type ([a-z]+(?:,[a-z]+)*)(?:: |$)`)

// Explain rewrites a type error of the API server's schema validation
// (`spec.x in body must be of type string: "boolean"`) into TypeMismatch's
// words. Other errors are returned as they are.
func (o Object) Explain(e *field.Error) *field.Error {
	if e == nil || e.Type != field.ErrorTypeTypeInvalid {
		return e
	}
	m := schemaTypeDetail.FindStringSubmatch(e.Detail)
	got, ok := e.BadValue.(string)
	if m == nil || !ok {
		return e
	}
	return o.TypeMismatch(e.Field, got, strings.Split(m[1], ",")...)
}
