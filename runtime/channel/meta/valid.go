package meta

// validJSON reports what json.Valid reports, several times faster: the
// gateway checks every webhook body before its scan (scan.go) walks it,
// and encoding/json's scanner calls a function per byte. FuzzValidJSON
// holds the two to the same answer, the nesting limit included.
func validJSON(b []byte) bool {
	v := validator{b: b}
	if !v.value(0) {
		return false
	}
	v.ws()
	return v.i == len(b)
}

// maxNesting is encoding/json's limit of nested objects and arrays.
const maxNesting = 10000

type validator struct {
	b []byte
	i int
}

func (v *validator) ws() {
	for v.i < len(v.b) {
		switch v.b[v.i] {
		case ' ', '\t', '\n', '\r':
			v.i++
		default:
			return
		}
	}
}

// next is the byte at v.i after white space, or 0 at the end.
func (v *validator) next() byte {
	v.ws()
	if v.i < len(v.b) {
		return v.b[v.i]
	}
	return 0
}

// value reads one value inside depth open objects and arrays.
func (v *validator) value(depth int) bool {
	switch c := v.next(); {
	case c == '{':
		if depth >= maxNesting {
			return false
		}
		v.i++
		if v.next() == '}' {
			v.i++
			return true
		}
		for {
			if v.next() != '"' || !v.str() || v.next() != ':' {
				return false
			}
			v.i++
			if !v.value(depth + 1) {
				return false
			}
			switch v.next() {
			case ',':
				v.i++
			case '}':
				v.i++
				return true
			default:
				return false
			}
		}
	case c == '[':
		if depth >= maxNesting {
			return false
		}
		v.i++
		if v.next() == ']' {
			v.i++
			return true
		}
		for {
			if !v.value(depth + 1) {
				return false
			}
			switch v.next() {
			case ',':
				v.i++
			case ']':
				v.i++
				return true
			default:
				return false
			}
		}
	case c == '"':
		return v.str()
	case c == 't':
		return v.literal("true")
	case c == 'f':
		return v.literal("false")
	case c == 'n':
		return v.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return v.number()
	}
	return false
}

func (v *validator) literal(word string) bool {
	if len(v.b)-v.i < len(word) || string(v.b[v.i:v.i+len(word)]) != word {
		return false
	}
	v.i += len(word)
	return true
}

// str reads a string from its opening quote at v.i.
func (v *validator) str() bool {
	for v.i++; v.i < len(v.b); v.i++ {
		switch c := v.b[v.i]; {
		case c == '"':
			v.i++
			return true
		case c == '\\':
			v.i++
			if v.i >= len(v.b) {
				return false
			}
			switch v.b[v.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(v.b)-v.i < 5 {
					return false
				}
				for _, h := range v.b[v.i+1 : v.i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false
					}
				}
				v.i += 4
			default:
				return false
			}
		case c < 0x20:
			return false
		}
	}
	return false
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (v *validator) number() bool {
	if v.b[v.i] == '-' {
		v.i++
	}
	switch {
	case v.i < len(v.b) && v.b[v.i] == '0':
		v.i++
	case v.digits() == 0:
		return false
	}
	if v.i < len(v.b) && v.b[v.i] == '.' {
		v.i++
		if v.digits() == 0 {
			return false
		}
	}
	if v.i < len(v.b) && (v.b[v.i] == 'e' || v.b[v.i] == 'E') {
		v.i++
		if v.i < len(v.b) && (v.b[v.i] == '+' || v.b[v.i] == '-') {
			v.i++
		}
		if v.digits() == 0 {
			return false
		}
	}
	return true
}

func (v *validator) digits() int {
	start := v.i
	for v.i < len(v.b) && '0' <= v.b[v.i] && v.b[v.i] <= '9' {
		v.i++
	}
	return v.i - start
}
