package flow

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Values holds variables: nil, bool, int64, float64, string, []any and
// map[string]any, nothing else. Its JSON form keeps int64 and float64
// apart (a float always has a '.' or an exponent), so a session read back
// from the store evaluates exactly as before it was stored: vars.count + 1
// stays an int.
type Values map[string]any

// MarshalJSON writes the values with keys sorted and floats marked.
func (v Values) MarshalJSON() ([]byte, error) {
	if v == nil {
		return []byte("null"), nil
	}
	var b bytes.Buffer
	if err := writeValue(&b, map[string]any(v)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// UnmarshalJSON reads values written by MarshalJSON (or any JSON object):
// numbers without '.' or exponent that fit an int64 become int64, other
// numbers float64.
func (v *Values) UnmarshalJSON(b []byte) error {
	x, err := decodeJSON(b)
	if err != nil {
		return err
	}
	if x == nil {
		*v = nil
		return nil
	}
	m, ok := x.(map[string]any)
	if !ok {
		return fmt.Errorf("flow: values must be a JSON object")
	}
	*v = m
	return nil
}

// decodeJSON decodes one JSON value with the number rule of Values.
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("flow: trailing data after JSON value")
	}
	return numbers(x), nil
}

// numbers replaces json.Numbers in a decoded value, in place.
func numbers(x any) any {
	switch t := x.(type) {
	case json.Number:
		return number(string(t))
	case []any:
		for i := range t {
			t[i] = numbers(t[i])
		}
	case map[string]any:
		for k, e := range t {
			t[k] = numbers(e)
		}
	}
	return x
}

// number is a JSON number as a value: an int64 when it has no '.' or
// exponent and fits, else a float64; one beyond float64 (1e400, which an
// API may well send) stays its decimal text, since an infinity could not
// be stored.
func number(s string) any {
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
	}
	f, _ := strconv.ParseFloat(s, 64)
	if math.IsInf(f, 0) {
		return s
	}
	return f
}

func writeValue(b *bytes.Buffer, x any) error {
	switch t := x.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case int64:
		b.WriteString(strconv.FormatInt(t, 10))
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return fmt.Errorf("flow: %v cannot be stored", t)
		}
		s := strconv.FormatFloat(t, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0"
		}
		b.WriteString(s)
	case string:
		s, _ := json.Marshal(t)
		b.Write(s)
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeValue(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			s, _ := json.Marshal(k)
			b.Write(s)
			b.WriteByte(':')
			if err := writeValue(b, t[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		// Not a normalized value (a caller filled Vars by hand): store what
		// normalize makes of it.
		n, err := normalize(x)
		if err != nil {
			return err
		}
		if reflect.TypeOf(n) == reflect.TypeOf(x) {
			return fmt.Errorf("flow: cannot store a %T", x)
		}
		return writeValue(b, n)
	}
	return nil
}

// normalize turns an expression result or a caller-supplied value into the
// types Values holds. Integers become int64 (unsigned ones too, or float64
// when they do not fit), bytes base64 text, times RFC 3339 text, durations
// their Go spelling; NaN and infinities cannot be stored as JSON and are an
// error.
func normalize(x any) (any, error) {
	switch t := x.(type) {
	case nil, bool, int64, string:
		return t, nil
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return nil, fmt.Errorf("the value %v cannot be stored in a variable", t)
		}
		return t, nil
	case int:
		return int64(t), nil
	case int32:
		return int64(t), nil
	case uint64:
		if t <= math.MaxInt64 {
			return int64(t), nil
		}
		return float64(t), nil
	case float32:
		return normalize(float64(t))
	case json.Number:
		return number(string(t)), nil
	case []byte:
		return base64.StdEncoding.EncodeToString(t), nil
	case time.Time:
		return t.UTC().Format(time.RFC3339Nano), nil
	case time.Duration:
		return t.String(), nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			v, err := normalize(e)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			v, err := normalize(e)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case map[string]string:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = e
		}
		return out, nil
	}
	// Other slices and maps with string keys, via reflection; anything
	// else is stored as its JSON text.
	rv := reflect.ValueOf(x)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			v, err := normalize(rv.Index(i).Interface())
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case reflect.Map:
		if rv.Type().Key().Kind() == reflect.String {
			out := make(map[string]any, rv.Len())
			it := rv.MapRange()
			for it.Next() {
				v, err := normalize(it.Value().Interface())
				if err != nil {
					return nil, err
				}
				out[it.Key().String()] = v
			}
			return out, nil
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return normalize(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return normalize(rv.Float())
	case reflect.String:
		return rv.String(), nil
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil, nil
		}
		return normalize(rv.Elem().Interface())
	}
	b, err := json.Marshal(x)
	if err != nil {
		return nil, fmt.Errorf("a %T cannot be stored in a variable", x)
	}
	return decodeJSON(b)
}
