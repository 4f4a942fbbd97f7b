package executorcmd

import (
	"fmt"
	"strings"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/manifest"
)

// loadSubflows reads the ChatFlows of --subflows (the operator writes them
// into the revision's ConfigMap as subflows.yaml), decoded strictly like
// --flow. No file, no subflows.
func loadSubflows(path string) ([]*v1alpha1.ChatFlow, error) {
	if path == "" {
		return nil, nil
	}
	src, err := manifest.ReadFile(path)
	if err != nil {
		return nil, err
	}
	objs, err := manifest.Parse(src)
	if err != nil {
		return nil, err
	}
	var out []*v1alpha1.ChatFlow
	for _, o := range objs {
		if o.Kind != "ChatFlow" || !strings.HasPrefix(o.APIVersion, "chatflow.dev/") {
			continue
		}
		if o.Name == "" {
			return nil, fmt.Errorf("%s:%d: a ChatFlow without metadata.name", src.Name, o.Start().Line)
		}
		f := &v1alpha1.ChatFlow{}
		if err := o.Decode(f); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}
