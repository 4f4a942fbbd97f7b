package manifest

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Unstructured decodes every object of a multi-document YAML (or JSON)
// file, for callers that send the objects to an API server as they are
// (the dev installer, the integration suites) rather than lint them. The
// items of a List are objects of their own.
func Unstructured(path string) ([]*unstructured.Unstructured, error) {
	src, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	objs, err := Parse(src)
	if err != nil {
		return nil, err
	}
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = &unstructured.Unstructured{Object: o.Value}
	}
	return out, nil
}
