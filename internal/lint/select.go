package lint

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Flow returns the ChatFlow of the input named name, or the only one when
// name is empty.
func (r *Result) Flow(name string) (*Flow, error) {
	var names []string
	for _, f := range r.Flows {
		if name == "" || f.Object.Name == name {
			if name != "" {
				return f, nil
			}
		}
		names = append(names, f.Object.Name)
	}
	switch {
	case len(names) == 0:
		return nil, fmt.Errorf("the input has no ChatFlow")
	case name != "":
		return nil, fmt.Errorf("the input has no ChatFlow named %q; it has %s", name, strings.Join(names, ", "))
	case len(names) > 1:
		return nil, fmt.Errorf("the input has %d ChatFlows (%s): say which with --name", len(names), strings.Join(names, ", "))
	}
	return r.Flows[0], nil
}

// Valid returns the flow named name (see Flow) when it has no problems, or
// an error that lists them.
func (r *Result) Valid(name string) (*Flow, error) {
	f, err := r.Flow(name)
	if err != nil {
		return nil, err
	}
	if len(f.Problems) == 0 && f.Program != nil {
		return f, nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the ChatFlow %q is not valid (see chatflow lint):", f.Object.Name)
	probs := slices.Clone(f.Problems)
	slices.SortStableFunc(probs, func(a, b Problem) int { return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column)) })
	for _, p := range probs {
		b.WriteString("\n  " + p.String())
	}
	return nil, fmt.Errorf("%s", b.String())
}
