package campaign

import (
	"context"
	"fmt"

	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/internal/dev/statefile"
)

// ClusterResolver reaches an executor through its Service's cluster DNS
// name: what the manager does in a cluster.
func ClusterResolver(_ context.Context, namespace, service string) (string, error) {
	return fmt.Sprintf("http://%s.%s.svc:%d", service, namespace, builders.ServicePort), nil
}

// DevResolver reaches executors at the local processes of the `chatflow
// dev` running in dir: there is no cluster network there, and the dev
// runner lists each executor Deployment (named like its Service) with the
// addresses of its processes in its state file, read again at each call.
//
// The gateway (branch gateway) brings the same resolver for its routes;
// once both are on main, one of them should serve both.
func DevResolver(dir string) Resolver {
	return func(_ context.Context, namespace, service string) (string, error) {
		st, err := statefile.LoadState(dir)
		if err != nil {
			return "", err
		}
		e, ok := st.Executors[namespace+"/"+service]
		if !ok {
			return "", fmt.Errorf("chatflow dev runs no executor %s/%s", namespace, service)
		}
		url, ok := e.URL()
		if !ok {
			return "", fmt.Errorf("no process of executor %s/%s is ready in chatflow dev", namespace, service)
		}
		return url, nil
	}
}
