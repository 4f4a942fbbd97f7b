package graph

import (
	"testing"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// Every node type has its own shape and colours: a new type is not drawn
// as the fallback box.
func TestEveryNodeTypeHasAStyle(t *testing.T) {
	for _, nt := range v1alpha1.NodeTypes {
		if _, ok := styles[nt]; !ok {
			t.Errorf("%s has no style", nt)
		}
	}
}
