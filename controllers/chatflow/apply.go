package chatflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// AnnotationAppliedHash on an executor Deployment or Service is the hash of
// what the operator last applied. A reconcile re-applies when the desired
// object hashes differently or the live one drifted in a field the
// operator sets; otherwise it skips the API call.
const AnnotationAppliedHash = "chatflow.dev/applied-hash"

// getOwned reads an object of the operator from the cache into obj; obj
// keeps an empty name when there is none.
func (r *Reconciler) getOwned(ctx context.Context, namespace, name string, obj client.Object) error {
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		obj.SetName("")
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %T %s: %w", obj, name, err)
	}
	return nil
}

// apply server-side applies desired under the operator's field owner,
// taking over fields others changed, and decodes the result into into.
func (r *Reconciler) apply(ctx context.Context, desired, into client.Object) error {
	u, err := applyConfiguration(desired)
	if err != nil {
		return err
	}
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return err
	}
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into)
}

// applyConfiguration turns a built object into the unstructured apply
// request: stamped with its hash, without status and without the zero
// timestamps typed objects carry.
func applyConfiguration(desired client.Object) (*unstructured.Unstructured, error) {
	obj := desired.DeepCopyObject().(client.Object)
	hash, err := appliedHash(obj)
	if err != nil {
		return nil, err
	}
	ann := maps.Clone(obj.GetAnnotations())
	if ann == nil {
		ann = map[string]string{}
	}
	ann[AnnotationAppliedHash] = hash
	obj.SetAnnotations(ann)
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("converting %T %s: %w", desired, desired.GetName(), err)
	}
	delete(content, "status")
	unstructured.RemoveNestedField(content, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(content, "spec", "template", "metadata", "creationTimestamp")
	return &unstructured.Unstructured{Object: content}, nil
}

// appliedHash is a stable hash of a built object.
func appliedHash(obj client.Object) (string, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return "", fmt.Errorf("hashing %T %s: %w", obj, obj.GetName(), err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:16], nil
}

// upToDate says whether live already is what applying desired would make
// it: it carries desired's hash, desired's labels and controller, and no
// field the operator sets has drifted (fields the API server defaults or
// others own are not compared).
func upToDate(desired, live client.Object) bool {
	hash, err := appliedHash(desired)
	if err != nil || live.GetAnnotations()[AnnotationAppliedHash] != hash {
		return false
	}
	for k, v := range desired.GetLabels() {
		if live.GetLabels()[k] != v {
			return false
		}
	}
	want, got := metav1.GetControllerOf(desired), metav1.GetControllerOf(live)
	if want == nil || got == nil || want.UID != got.UID {
		return false
	}
	switch d := desired.(type) {
	case *appsv1.Deployment:
		l, ok := live.(*appsv1.Deployment)
		return ok && equality.Semantic.DeepDerivative(d.Spec, l.Spec)
	case *corev1.Service:
		l, ok := live.(*corev1.Service)
		return ok && equality.Semantic.DeepDerivative(d.Spec, l.Spec)
	}
	return false
}
