package testenv

import (
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func TestFirstGrant(t *testing.T) {
	var objs []*unstructured.Unstructured
	for _, doc := range []string{`
kind: Role
metadata: {name: watcher, namespace: shop}
rules:
- nonResourceURLs: [/healthz]
  verbs: [get]
- apiGroups: [chatflow.dev]
  resources: [channelbindings, chatflows]
  verbs: [watch, list]`, `
kind: ClusterRole
metadata: {name: logs}
rules:
- apiGroups: [""]
  resources: [pods/log]
  resourceNames: [one]
  verbs: [get]`, `
kind: RoleBinding
metadata: {name: watcher, namespace: shop}
roleRef: {kind: Role, name: watcher}`, `
kind: RoleBinding
metadata: {name: watcher, namespace: other}
roleRef: {kind: Role, name: watcher}`, `
kind: ClusterRoleBinding
metadata: {name: logs}
roleRef: {kind: ClusterRole, name: logs}`, `
kind: RoleBinding
metadata: {name: view, namespace: shop}
roleRef: {kind: ClusterRole, name: view}`} {
		o := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &o.Object); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o)
	}
	for _, tt := range []struct {
		binding int
		want    *authorizationv1.ResourceAttributes
	}{
		{2, &authorizationv1.ResourceAttributes{Namespace: "shop", Verb: "watch", Group: "chatflow.dev", Resource: "channelbindings"}},
		// A Role of another namespace is not the one bound.
		{3, nil},
		{4, &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods", Subresource: "log", Name: "one"}},
		// A role the rendering does not hold (a built-in) is not awaited.
		{5, nil},
	} {
		got, ok := firstGrant(objs, objs[tt.binding])
		if ok != (tt.want != nil) || (ok && *got != *tt.want) {
			t.Errorf("%s %s/%s: %+v %v, want %+v", objs[tt.binding].GetKind(), objs[tt.binding].GetNamespace(), objs[tt.binding].GetName(), got, ok, tt.want)
		}
	}
}
