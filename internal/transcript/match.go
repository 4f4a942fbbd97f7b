package transcript

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// match compares what a test wants with what happened: maps on the keys
// the test gives, lists element by element, numbers by value. It returns
// one line per difference, "path: want X, got Y".
func match(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %s", label(path), show(got))}
		}
		var out []string
		for _, k := range slices.Sorted(maps.Keys(w)) {
			out = append(out, match(join(path, k), w[k], g[k])...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok {
			if got == nil && len(w) == 0 {
				return nil
			}
			return []string{fmt.Sprintf("%s: want a list, got %s", label(path), show(got))}
		}
		if len(g) != len(w) {
			return []string{fmt.Sprintf("%s: want %d items, got %d: %s", label(path), len(w), len(g), show(got))}
		}
		var out []string
		for i := range w {
			out = append(out, match(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return out
	case nil:
		if got == nil {
			return nil
		}
	case int64, float64:
		if got == nil && (w == int64(0) || w == float64(0)) {
			return nil // omitted as empty when serialised
		}
		if gf, ok := number(got); ok {
			wf, _ := number(w)
			if gf == wf {
				return nil
			}
		}
	default:
		if want == got || got == nil && (want == "" || want == false) {
			return nil
		}
	}
	return []string{fmt.Sprintf("%s: want %s, got %s", label(path), show(want), show(got))}
}

func number(v any) (float64, bool) {
	switch t := v.(type) {
	case int64:
		return float64(t), true
	case float64:
		return t, true
	}
	return 0, false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func label(path string) string {
	if path == "" {
		return "value"
	}
	return path
}

// show prints a value as compact JSON; absent values as "nothing".
func show(v any) string {
	if v == nil {
		return "nothing"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
