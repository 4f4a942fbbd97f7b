package campaign

import (
	"context"
	"fmt"

	"github.com/chatflow-dev/chatflow/controllers/builders"
)

// ClusterResolver reaches an executor through its Service's cluster DNS
// name: what the manager does in a cluster. In `chatflow dev` the manager
// uses the gateway's resolver of the dev state file instead (--dev-state).
func ClusterResolver(_ context.Context, namespace, service string) (string, error) {
	return fmt.Sprintf("http://%s.%s.svc:%d", service, namespace, builders.ServicePort), nil
}
