package webhooks

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/chatflow-dev/chatflow/controllers/secretrefs"
)

// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Authorizer says whether a user may do something.
type Authorizer interface {
	Allowed(ctx context.Context, user authenticationv1.UserInfo, attrs authorizationv1.ResourceAttributes) (bool, error)
}

// SubjectAccessReviews is the API server's Authorizer: it creates a
// SubjectAccessReview for the user, groups, uid and extra of the request.
type SubjectAccessReviews struct {
	Client client.Client
}

// Allowed asks the API server whether user may do attrs.
func (s SubjectAccessReviews) Allowed(ctx context.Context, user authenticationv1.UserInfo, attrs authorizationv1.ResourceAttributes) (bool, error) {
	extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra, ResourceAttributes: &attrs,
	}}
	if err := s.Client.Create(ctx, sar); err != nil {
		return false, fmt.Errorf("asking the API server whether %s may %s %s %s: %w", user.Username, attrs.Verb, attrs.Resource, attrs.Name, err)
	}
	return sar.Status.Allowed && !sar.Status.Denied, nil
}

// SecretAccess checks that whoever creates or changes a Chatflow object may
// read every Secret it references. The executor reads those Secrets with the
// operator's rights and sends their content where the object says (an
// HTTPRequest header to the URL of the node, binding credentials to the
// channel's API), so without this check anyone allowed to edit flows could
// read any Secret of the namespace.
type SecretAccess struct {
	Authorizer Authorizer
}

// maxParallelReviews bounds the SubjectAccessReviews one admission request
// runs at once.
const maxParallelReviews = 4

// Check returns one Forbidden error for every reference of obj (see
// secretrefs.Of) to a Secret the requesting user may not get. The user is
// the admission request's, from ctx; without one (a call outside admission)
// an object that references Secrets is refused.
func (a *SecretAccess) Check(ctx context.Context, obj client.Object) (field.ErrorList, error) {
	refs := secretrefs.Of(obj)
	if len(refs) == 0 {
		return nil, nil
	}
	if a == nil || a.Authorizer == nil {
		return nil, apierrors.NewInternalError(errors.New("checking access to the referenced Secrets: no authorizer configured"))
	}
	req, err := admission.RequestFromContext(ctx)
	if err != nil {
		return nil, apierrors.NewInternalError(errors.New("checking access to the referenced Secrets: no admission request"))
	}
	user, ns := req.UserInfo, obj.GetNamespace()
	denied := map[string]bool{}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(maxParallelReviews)
	for _, name := range secretrefs.Names(refs) {
		g.Go(func() error {
			ok, err := a.Authorizer.Allowed(ctx, user, authorizationv1.ResourceAttributes{
				Namespace: ns, Verb: "get", Resource: "secrets", Name: name,
			})
			if err != nil {
				return err
			}
			mu.Lock()
			denied[name] = !ok
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	var errs field.ErrorList
	for _, r := range refs {
		if denied[r.Name] {
			errs = append(errs, field.Forbidden(r.Path, fmt.Sprintf(
				"%s may not get Secret %s in namespace %s, and a Chatflow object that references a Secret sends its content where the object says: "+
					"ask for get on secrets/%s in %s (the namespace's edit role has it), or reference a Secret you may read",
				user.Username, r.Name, ns, r.Name, ns)))
		}
	}
	return errs, nil
}
