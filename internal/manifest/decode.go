package manifest

import (
	"cmp"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	kjson "sigs.k8s.io/json"
)

// UnknownFieldDetail is what is said of a field the type does not have.
const UnknownFieldDetail = "unknown field: check its spelling and indentation, or remove it"

// DecodeError is an object that does not decode into its Go type: the
// fields the type does not have and the values of the wrong type, each
// with its field path and place.
type DecodeError struct {
	Object  Object
	Unknown []string
	Invalid field.ErrorList
}

func (e *DecodeError) Error() string {
	type line struct {
		at  Pos
		msg string
	}
	var lines []line
	for _, u := range e.Unknown {
		lines = append(lines, line{e.Object.Pos.at(u), u + ": " + UnknownFieldDetail})
	}
	for _, fe := range e.Invalid {
		lines = append(lines, line{e.Object.Pos.at(fe.Field), fe.Field + ": " + fe.ErrorBody()})
	}
	slices.SortStableFunc(lines, func(a, b line) int { return cmp.Compare(a.at.Line, b.at.Line) })
	msgs := make([]string, len(lines))
	for i, l := range lines {
		msgs[i] = fmt.Sprintf("%s:%d: %s", e.Object.Source, l.at.Line, l.msg)
	}
	return strings.Join(msgs, "\n")
}

// Decode decodes the object into into (a pointer to its Go type)
// strictly, as the API server decodes a request with strict field
// validation: field names are case-sensitive, an unknown field is an
// error, and a value of the wrong JSON type is an error at its field path
// with TypeMismatch's advice, rather than a string made of a boolean the
// way a YAML decoder that knows the target type would. On error into is
// left unchanged and the error is a *DecodeError.
//
// It checks the Go type, not the CRD's schema: enums, lengths, patterns
// and CEL rules are the API server's (and `chatflow lint`'s) to check.
func (o Object) Decode(into any) error {
	unknown, invalid := o.check(o.Value, reflect.TypeOf(into))
	if len(unknown) > 0 || len(invalid) > 0 {
		return &DecodeError{Object: o, Unknown: unknown, Invalid: invalid}
	}
	b, err := json.Marshal(o.Value)
	if err == nil {
		err = kjson.UnmarshalCaseSensitivePreserveInts(b, into)
	}
	if err != nil {
		return &DecodeError{Object: o, Invalid: field.ErrorList{field.InternalError(nil, err)}}
	}
	return nil
}

// DecodeValue is Decode of a value that is not (or no longer) as written,
// such as an object the schema pruned and defaulted.
func DecodeValue(v map[string]any, into any) error {
	return Object{Value: v, Pos: newIndex(Pos{})}.Decode(into)
}

// check walks a value and a Go type together.
func (o Object) check(v map[string]any, t reflect.Type) (unknown []string, invalid field.ErrorList) {
	c := checker{o: o}
	c.value(v, t, "")
	return c.unknown, c.invalid
}

type checker struct {
	o       Object
	unknown []string
	invalid field.ErrorList
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func (c *checker) mismatch(path string, v any, want ...string) {
	c.invalid = append(c.invalid, c.o.TypeMismatch(path, JSONType(v), want...))
}

func (c *checker) value(v any, t reflect.Type, path string) {
	if v == nil {
		return // null leaves the zero value, as the API server drops it
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		c.custom(v, t, path)
		return
	}
	switch t.Kind() {
	case reflect.Interface:
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			c.mismatch(path, v, "object")
			return
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(m) {
			p := joinPath(path, k)
			ft, ok := fields[k]
			if !ok {
				c.unknown = append(c.unknown, p)
				continue
			}
			c.value(m[k], ft, p)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			c.mismatch(path, v, "object")
			return
		}
		for _, k := range sortedKeys(m) {
			c.value(m[k], t.Elem(), path+"["+k+"]")
		}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			if _, ok := v.(string); !ok {
				c.mismatch(path, v, "string") // []byte is base64 text
			}
			return
		}
		s, ok := v.([]any)
		if !ok {
			c.mismatch(path, v, "array")
			return
		}
		for i, x := range s {
			c.value(x, t.Elem(), path+"["+strconv.Itoa(i)+"]")
		}
	case reflect.String:
		if _, ok := v.(string); !ok && !reflect.PointerTo(t).Implements(textUnmarshaler) {
			c.mismatch(path, v, "string")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			c.mismatch(path, v, "boolean")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, ok := v.(int64)
		if !ok {
			c.mismatch(path, v, "integer")
			return
		}
		if reflect.Zero(t).OverflowInt(i) {
			bits := t.Bits()
			c.invalid = append(c.invalid, field.Invalid(field.NewPath(path), i, fmt.Sprintf("must be between %d and %d", -(int64(1)<<(bits-1)), int64(1)<<(bits-1)-1)))
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, ok := v.(int64)
		if !ok {
			c.mismatch(path, v, "integer")
			return
		}
		if i < 0 || reflect.Zero(t).OverflowUint(uint64(i)) {
			c.invalid = append(c.invalid, field.Invalid(field.NewPath(path), i, fmt.Sprintf("must be between 0 and %d", uint64(math.MaxUint64)>>(64-t.Bits()))))
		}
	case reflect.Float32, reflect.Float64:
		switch v.(type) {
		case int64, float64:
		default:
			c.mismatch(path, v, "number")
		}
	default:
		c.invalid = append(c.invalid, field.Invalid(field.NewPath(path), JSONType(v), "has a type that cannot be read from a manifest"))
	}
}

// custom checks a value of a type that decodes itself (durations,
// quantities, int-or-strings, times, raw JSON) with its own decoder.
func (c *checker) custom(v any, t reflect.Type, path string) {
	b, err := json.Marshal(v)
	if err == nil {
		err = reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(b)
	}
	if err == nil {
		return
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if want := jsonTypeOf(te.Type); want != "" {
			c.mismatch(path, v, want)
			return
		}
	}
	c.invalid = append(c.invalid, field.Invalid(field.NewPath(path), v, err.Error()))
}

// jsonTypeOf is the JSON type a Go type decodes from, when it is a plain one.
func jsonTypeOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	}
	return ""
}

// jsonFields maps the JSON names of a struct's fields to their types,
// with the fields of embedded structs without a name promoted, as
// encoding/json does (TypeMeta is such an embedded struct).
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	var walk func(t reflect.Type, depth int)
	walk = func(t reflect.Type, depth int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			ft := f.Type
			if f.Anonymous && name == "" {
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct && depth < 8 {
					walk(ft, depth+1)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if _, dup := out[name]; !dup || depth == 0 {
				out[name] = f.Type
			}
		}
	}
	walk(t, 0)
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
