package expr

import (
	"encoding/base64"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// plain converts a CEL value to the plain Go the interpreter stores in
// variables and logs: no cel-go type leaks out of this package.
func plain(v ref.Val) (any, error) {
	switch v := v.(type) {
	case types.String:
		return string(v), nil
	case types.Int:
		return int64(v), nil
	case types.Uint:
		return uint64(v), nil
	case types.Double:
		return float64(v), nil
	case types.Bool:
		return bool(v), nil
	case types.Null:
		return nil, nil
	case types.Bytes:
		return []byte(v), nil
	case types.Timestamp:
		return v.Time, nil
	case types.Duration:
		return v.Duration, nil
	case *types.Optional:
		if !v.HasValue() {
			return nil, nil
		}
		return plain(v.GetValue())
	case *types.Type:
		return v.TypeName(), nil
	case traits.Mapper:
		m := make(map[string]any, int(v.Size().(types.Int)))
		for it := v.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			e, err := plain(v.Get(k))
			if err != nil {
				return nil, err
			}
			m[keyString(k)] = e
		}
		return m, nil
	case traits.Lister:
		n := int(v.Size().(types.Int))
		l := make([]any, n)
		for i := range n {
			e, err := plain(v.Get(types.Int(i)))
			if err != nil {
				return nil, err
			}
			l[i] = e
		}
		return l, nil
	case *types.Err:
		return nil, &EvalError{Message: v.Error()}
	}
	return nil, &EvalError{Message: "the result is a " + typeName(v) + ", which has no plain value"}
}

// keyString spells a CEL map key (string, int, uint or bool) as a JSON
// object key.
func keyString(k ref.Val) string {
	switch k := k.(type) {
	case types.String:
		return string(k)
	case types.Int:
		return strconv.FormatInt(int64(k), 10)
	case types.Uint:
		return strconv.FormatUint(uint64(k), 10)
	case types.Bool:
		return strconv.FormatBool(bool(k))
	}
	return typeName(k)
}

func typeName(v ref.Val) string { return v.Type().TypeName() }

// writeText renders a value into a template: scalars as people read them,
// null as nothing, lists and maps as compact JSON. Scalars are written
// straight from the CEL value, without boxing them as plain Go first.
func writeText(b *strings.Builder, v ref.Val) error {
	var scratch [64]byte
	switch v := v.(type) {
	case types.String:
		b.WriteString(string(v))
	case types.Int:
		b.Write(strconv.AppendInt(scratch[:0], int64(v), 10))
	case types.Uint:
		b.Write(strconv.AppendUint(scratch[:0], uint64(v), 10))
	case types.Double:
		b.Write(appendFloat(scratch[:0], float64(v)))
	case types.Bool:
		b.Write(strconv.AppendBool(scratch[:0], bool(v)))
	case types.Null:
	case types.Bytes:
		b.Write(v)
	case types.Timestamp:
		b.Write(v.Time.AppendFormat(scratch[:0], time.RFC3339Nano))
	case types.Duration:
		b.WriteString(v.Duration.String())
	case *types.Type:
		b.WriteString(v.TypeName())
	case *types.Optional:
		if v.HasValue() {
			return writeText(b, v.GetValue())
		}
	default:
		p, err := plain(v)
		if err != nil {
			return err
		}
		b.Write(appendJSON(nil, p))
	}
	return nil
}

// appendFloat writes the shortest form that reads back as f (2 for 2.0,
// 1.5 for 1.5), switching to an exponent where JSON does.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(b, f, format, -1, 64)
}

// appendJSON writes a plain value as compact JSON. Unlike encoding/json it
// leaves <, > and & alone (the text goes to a person, not into HTML), spells
// timestamps and durations as in text, and writes NaN and infinities as
// null instead of failing.
func appendJSON(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, v)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case uint64:
		return strconv.AppendUint(b, v, 10)
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return append(b, "null"...)
		}
		return appendFloat(b, v)
	case string:
		return appendQuoted(b, v)
	case []byte:
		return appendQuoted(b, base64.StdEncoding.EncodeToString(v))
	case time.Time:
		return appendQuoted(b, v.Format(time.RFC3339Nano))
	case time.Duration:
		return appendQuoted(b, v.String())
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendQuoted(b, k)
			b = append(b, ':')
			b = appendJSON(b, v[k])
		}
		return append(b, '}')
	}
	// plain returns nothing else.
	panic("expr: appendJSON of unexpected type")
}

const hex = "0123456789abcdef"

// appendQuoted writes s as a JSON string, replacing invalid UTF-8.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
