package chatflow

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/builders"
	"github.com/chatflow-dev/chatflow/controllers/index"
	"github.com/chatflow-dev/chatflow/controllers/policy"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// reconcileBinding finds the bindings that name the flow and the one in
// effect (policy.InEffect; the others are in conflict and the binding
// controller says so on them).
func (r *Reconciler) reconcileBinding(ctx context.Context, s *scope) (ctrl.Result, error) {
	var list v1alpha1.ChannelBindingList
	if err := r.Client.List(ctx, &list, client.InNamespace(s.flow.Namespace),
		client.MatchingFields{index.BindingFlowName: s.flow.Name}); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the bindings of the flow: %w", err)
	}
	s.bindings = list.Items
	s.binding = policy.InEffect(list.Items)
	s.checked.Binding = true
	return ctrl.Result{}, nil
}

// reconcileGraph validates the graph against the channel it sends on (the
// trigger, or the binding's channel for a Manual flow) and computes its
// revision.
func (r *Reconciler) reconcileGraph(_ context.Context, s *scope) (ctrl.Result, error) {
	ch := flow.ChannelOf(&s.flow.Spec)
	if s.flow.Spec.Trigger.Type == v1alpha1.TriggerManual && s.binding != nil {
		ch = message.Channel(s.binding.Spec.Channel)
	}
	s.channel = ch
	s.program, s.graphErrs = flow.Compile(&s.flow.Spec, flow.Options{Channel: ch, FlowName: s.flow.Name})
	rev, err := flow.Revision(&s.flow.Spec)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("computing the revision: %w", err)
	}
	s.revision = rev
	s.checked.Graph = true
	return ctrl.Result{}, nil
}

// reconcileKeys makes sure a Published flow has its keys Secret
// (builders.KeysSecret): created with a fresh item key the first time,
// never regenerated (queued items sealed under it must still verify, also
// after an unpublish and publish), and its contact hash key brought up to
// date when the installation's changed — judged by an annotation, so the
// operator never reads Secret data. A Secret of that name that the flow
// does not own is left alone and reported.
func (r *Reconciler) reconcileKeys(ctx context.Context, s *scope) (ctrl.Result, error) {
	if s.flow.Spec.State != v1alpha1.StatePublished {
		return ctrl.Result{}, nil
	}
	name := builders.KeysSecretName(s.flow.Name)
	contactKey := builders.ContactHashKey(r.ContactHashKey, s.flow.Namespace)
	m, err := r.secretMeta(ctx, types.NamespacedName{Namespace: s.flow.Namespace, Name: name})
	switch {
	case apierrors.IsNotFound(err):
		item := make([]byte, 32)
		_, _ = rand.Read(item) // never fails (crypto/rand documents it)
		desired := builders.KeysSecret(s.flow, hex.EncodeToString(item), contactKey)
		err := r.Client.Create(ctx, desired, client.FieldOwner(FieldOwner))
		if apierrors.IsAlreadyExists(err) {
			// Created meanwhile: look again then.
			return ctrl.Result{}, fmt.Errorf("Secret %s was created meanwhile: reading it again", name)
		}
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("creating Secret %s: %w", name, err)
		}
		logf.FromContext(ctx).Info("generated the flow's keys", "secret", name)
		s.keys = &desired.ObjectMeta
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("reading Secret %s: %w", name, err)
	case !metav1.IsControlledBy(m, s.flow):
		return ctrl.Result{}, fmt.Errorf("Secret %s exists and is not ChatFlow %s's: the operator keeps the flow's keys there; delete or rename that Secret", name, s.flow.Name)
	case m.Annotations[builders.AnnotationContactHashKey] != builders.KeyFingerprint(contactKey):
		return ctrl.Result{}, r.patchContactKey(ctx, s, name, contactKey)
	default:
		s.keys = &m.ObjectMeta
	}
	return ctrl.Result{}, nil
}

// patchContactKey sets the contact hash key of the flow's keys Secret,
// leaving its item key alone.
func (r *Reconciler) patchContactKey(ctx context.Context, s *scope, name, contactKey string) error {
	var value any // null removes the key
	if contactKey != "" {
		value = base64.StdEncoding.EncodeToString([]byte(contactKey))
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{builders.AnnotationContactHashKey: builders.KeyFingerprint(contactKey)}},
		"data":     map[string]any{builders.KeyContactHash: value},
	})
	if err != nil {
		return err
	}
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	m.SetNamespace(s.flow.Namespace)
	m.SetName(name)
	if err := r.Client.Patch(ctx, m, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(FieldOwner)); err != nil {
		return fmt.Errorf("updating the contact hash key of Secret %s: %w", name, err)
	}
	logf.FromContext(ctx).Info("updated the contact hash key of the flow's keys", "secret", name)
	s.keys = &m.ObjectMeta
	return nil
}

// reconcileModels finds the LanguageModels the AI nodes of the flow and
// of the flows it forwards to (reconcileSubflows) name, in the cache: those that exist go to the executor (their settings in the
// ConfigMap, their keys mounted); a missing one or one that is not Ready
// holds the rollout back (modelsGate).
func (r *Reconciler) reconcileModels(ctx context.Context, s *scope) (ctrl.Result, error) {
	refs := index.ModelRefs(&s.flow.Spec)
	// The flows it forwards to run in its executor, their models too.
	for _, sf := range s.subflows.Flows {
		for _, ref := range index.ModelRefs(&sf.Spec) {
			ref.Flow = sf.Name
			refs = append(refs, ref)
		}
	}
	for _, name := range index.ModelNames(refs) {
		m := &v1alpha1.LanguageModel{}
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: s.flow.Namespace, Name: name}, m)
		switch {
		case apierrors.IsNotFound(err):
			for _, ref := range refs {
				if ref.Name == name {
					s.missingModels = append(s.missingModels, ref)
					break
				}
			}
		case err != nil:
			return ctrl.Result{}, fmt.Errorf("reading LanguageModel %s: %w", name, err)
		default:
			s.models = append(s.models, *m)
			if !modelReady(m) {
				s.notReadyModels = append(s.notReadyModels, *m)
			}
		}
	}
	return ctrl.Result{}, nil
}

// modelReady says a model's status is current and Ready.
func modelReady(m *v1alpha1.LanguageModel) bool {
	return m.Status.ObservedGeneration == m.Generation && meta.IsStatusConditionTrue(m.Status.Conditions, v1alpha1.ConditionReady)
}

// reconcileSecrets finds the Secrets the executor will mount (the
// credentials: the binding's, or an unbound Manual flow's
// spec.trigger.credentialsRef; and those HTTPRequest headers read), as
// metadata: their versions drive restarts, a missing header Secret blocks
// the rollout. Secret data is never read here.
func (r *Reconciler) reconcileSecrets(ctx context.Context, s *scope) (ctrl.Result, error) {
	s.headerSecrets = index.HeaderSecrets(&s.flow.Spec)
	for _, sf := range s.subflows.Flows {
		// The flows it forwards to run in its executor, their headers too.
		for _, name := range index.HeaderSecrets(&sf.Spec) {
			if !slices.Contains(s.headerSecrets, name) {
				s.headerSecrets = append(s.headerSecrets, name)
			}
		}
	}
	names := slices.Clone(s.headerSecrets)
	if creds := builders.CredentialsSecret(s.flow, s.binding); creds != "" {
		names = append([]string{creds}, names...)
	}
	// The models' key Secrets are judged by the models (Ready), but their
	// versions roll the pods as the others' do.
	judged := len(names)
	names = append(names, builders.ModelKeySecrets(s.models)...)
	var found []metav1.ObjectMeta
	defer func() { s.secretMetas = found }()
	for i, name := range names {
		m, err := r.secretMeta(ctx, types.NamespacedName{Namespace: s.flow.Namespace, Name: name})
		switch {
		case apierrors.IsNotFound(err):
			// The binding's own Secret is judged by the binding, a model's
			// by the model.
			if (s.binding == nil || i > 0) && i < judged {
				s.missingSecrets = append(s.missingSecrets, name)
			}
		case err != nil:
			return ctrl.Result{}, fmt.Errorf("reading Secret %s: %w", name, err)
		default:
			found = append(found, m.ObjectMeta)
		}
	}
	if s.keys != nil {
		// A new contact hash key rolls the pods too.
		found = append(found, *s.keys)
	}
	s.secretsVersion = builders.SecretsVersion(found)
	return ctrl.Result{}, nil
}

// secretMeta reads a Secret's metadata from the cache, which holds the
// Secrets labelled builders.LabelReferenced; one that is not labelled yet
// (controllers/secretlabels is on it) is read from the API server.
func (r *Reconciler) secretMeta(ctx context.Context, key types.NamespacedName) (*metav1.PartialObjectMetadata, error) {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	err := r.Client.Get(ctx, key, m)
	if apierrors.IsNotFound(err) && r.SecretReader != nil {
		err = r.SecretReader.Get(ctx, key, m)
	}
	return m, err
}

// reconcileExecutor rolls a Published flow out when it may (a valid graph,
// a ready binding, its Secrets present), leaves the last good executor
// alone when it may not, and removes the executor of an Unpublished flow.
func (r *Reconciler) reconcileExecutor(ctx context.Context, s *scope) (ctrl.Result, error) {
	var err error
	switch {
	case s.flow.Spec.State != v1alpha1.StatePublished:
		err = r.removeExecutor(ctx, s)
	case firstFailedGate(s.flow, s.observation(nil)) != nil:
		err = r.observeExecutor(ctx, s)
	default:
		err = r.rollOut(ctx, s)
	}
	s.checked.Executor = err == nil
	return ctrl.Result{}, err
}

// rollOut applies the revision's ConfigMap, the Deployment and the Service.
func (r *Reconciler) rollOut(ctx context.Context, s *scope) error {
	cm, err := builders.ConfigMap(s.flow, s.binding, s.revision, r.Config.GatewayPublicURL, s.subflows.Flows, s.models...)
	if err != nil {
		return err
	}
	if err := r.ensureConfigMap(ctx, cm); err != nil {
		return err
	}

	if err := r.reconcileStoreSecret(ctx, s); err != nil {
		return err
	}
	_, s.replicasCapped = builders.Replicas(s.flow, r.Config)
	desired := builders.Deployment(builders.ExecutorInput{
		Flow:           s.flow,
		Binding:        s.binding,
		Revision:       s.revision,
		ConfigMap:      cm.Name,
		HeaderSecrets:  s.headerSecrets,
		Models:         s.models,
		SecretsVersion: s.secretsVersion,
		Config:         r.Config,
		Subflows:       len(s.subflows.Flows) > 0,
	})
	live := &appsv1.Deployment{}
	if err := r.getOwned(ctx, s.flow.Namespace, desired.Name, live); err != nil {
		return err
	}
	if live.Name == "" || !upToDate(desired, live) {
		applied := &appsv1.Deployment{}
		if err := r.apply(ctx, desired, applied); err != nil {
			return fmt.Errorf("applying Deployment %s: %w", desired.Name, err)
		}
		live = applied
		s.deploymentApplied = true
	}
	s.executor = observeDeployment(live)

	svc := builders.Service(s.flow)
	liveSvc := &corev1.Service{}
	if err := r.getOwned(ctx, s.flow.Namespace, svc.Name, liveSvc); err != nil {
		return err
	}
	if liveSvc.Name == "" || !upToDate(svc, liveSvc) {
		if err := r.apply(ctx, svc, &corev1.Service{}); err != nil {
			return fmt.Errorf("applying Service %s: %w", svc.Name, err)
		}
	}
	s.service = svc.Name
	return nil
}

// reconcileStoreSecret keeps the flow's store Secret (the session store's
// password for its executor pods) in line with the manager's store, and
// counts its version among the Secrets that roll the pods. A Secret of that
// name that is not the flow's is left alone and fails the rollout.
func (r *Reconciler) reconcileStoreSecret(ctx context.Context, s *scope) error {
	desired := builders.StoreSecret(s.flow, r.Config)
	if desired == nil {
		return r.removeStoreSecret(ctx, s)
	}
	key := types.NamespacedName{Namespace: s.flow.Namespace, Name: desired.Name}
	live, err := r.secretMeta(ctx, key)
	switch {
	case apierrors.IsNotFound(err):
		// Create, not apply: a Secret of that name made meanwhile by
		// someone else must fail this, not be taken over.
		u, err := applyConfiguration(desired)
		if err == nil {
			err = r.Client.Create(ctx, u, client.FieldOwner(FieldOwner))
		}
		if err != nil {
			return fmt.Errorf("creating the store Secret %s: %w", desired.Name, err)
		}
		live = &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
			Name: u.GetName(), UID: u.GetUID(), ResourceVersion: u.GetResourceVersion(),
		}}
	case err != nil:
		return fmt.Errorf("reading the store Secret %s: %w", desired.Name, err)
	case !metav1.IsControlledBy(live, s.flow):
		return fmt.Errorf("the store Secret %s exists and is not this flow's: the executor's session store password goes in a Secret of that name; rename or delete that Secret", desired.Name)
	case !storeSecretUpToDate(desired, live):
		applied := &corev1.Secret{}
		if err := r.apply(ctx, desired, applied); err != nil {
			return fmt.Errorf("applying the store Secret %s: %w", desired.Name, err)
		}
		live = &metav1.PartialObjectMetadata{ObjectMeta: applied.ObjectMeta}
	}
	s.secretsVersion = builders.SecretsVersion(append(slices.Clone(s.secretMetas), live.ObjectMeta))
	return nil
}

// storeSecretUpToDate says whether the live store Secret (its metadata) is
// what applying desired makes: same applied hash, same labels.
func storeSecretUpToDate(desired *corev1.Secret, live *metav1.PartialObjectMetadata) bool {
	hash, err := appliedHash(desired)
	if err != nil || live.Annotations[AnnotationAppliedHash] != hash {
		return false
	}
	for k, v := range desired.Labels {
		if live.Labels[k] != v {
			return false
		}
	}
	return true
}

// removeStoreSecret deletes the flow's store Secret, if there is one.
func (r *Reconciler) removeStoreSecret(ctx context.Context, s *scope) error {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	name := builders.StoreSecretName(s.flow.Name)
	if err := r.getOwned(ctx, s.flow.Namespace, name, m); err != nil || m.Name == "" || !metav1.IsControlledBy(m, s.flow) {
		return err
	}
	if err := r.Client.Delete(ctx, m, client.Preconditions{UID: ptrTo(m.UID)}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting the store Secret %s: %w", name, err)
	}
	return nil
}

// observeExecutor records the executor as it is, without changing it.
func (r *Reconciler) observeExecutor(ctx context.Context, s *scope) error {
	name := builders.ExecutorName(s.flow.Name)
	d := &appsv1.Deployment{}
	if err := r.getOwned(ctx, s.flow.Namespace, name, d); err != nil {
		return err
	}
	if d.Name != "" {
		s.executor = observeDeployment(d)
		svc := &corev1.Service{}
		if err := r.getOwned(ctx, s.flow.Namespace, name, svc); err != nil {
			return err
		}
		s.service = svc.Name
	}
	return nil
}

// removeExecutor deletes the Deployment and the Service of an Unpublished
// flow. Sessions live in the store and are not touched; the ConfigMaps go
// once no ReplicaSet uses them (reconcileConfigMaps).
func (r *Reconciler) removeExecutor(ctx context.Context, s *scope) error {
	name := builders.ExecutorName(s.flow.Name)
	for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}} {
		if err := r.getOwned(ctx, s.flow.Namespace, name, obj); err != nil {
			return err
		}
		if obj.GetName() == "" {
			continue
		}
		if err := r.Client.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground),
			client.Preconditions{UID: ptrTo(obj.GetUID())}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting %T %s: %w", obj, name, err)
		}
		logf.FromContext(ctx).Info("removed the executor object of the Unpublished flow", "kind", fmt.Sprintf("%T", obj), "name", name)
	}
	return r.removeStoreSecret(ctx, s)
}

// reconcileConfigMaps deletes the flow's revision ConfigMaps that nothing
// uses any more: not the current template's, and not mounted by a
// ReplicaSet that still has pods (an old revision draining during a
// rollout keeps its ConfigMap until its pods are gone).
func (r *Reconciler) reconcileConfigMaps(ctx context.Context, s *scope) (ctrl.Result, error) {
	selector := client.MatchingLabels{builders.LabelFlow: builders.LabelValue(s.flow.Name), builders.LabelManagedBy: builders.ManagedBy}
	var cms corev1.ConfigMapList
	if err := r.Client.List(ctx, &cms, client.InNamespace(s.flow.Namespace), selector); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the flow's ConfigMaps: %w", err)
	}
	if len(cms.Items) == 0 {
		return ctrl.Result{}, nil
	}
	var rss appsv1.ReplicaSetList
	if err := r.Client.List(ctx, &rss, client.InNamespace(s.flow.Namespace), selector); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the executor's ReplicaSets: %w", err)
	}
	for _, cm := range unusedConfigMaps(s.flow, cms.Items, rss.Items, s.executor) {
		if err := r.Client.Delete(ctx, &cm, client.Preconditions{UID: ptrTo(cm.UID)}); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, fmt.Errorf("deleting ConfigMap %s: %w", cm.Name, err)
		}
		logf.FromContext(ctx).Info("deleted an unused revision ConfigMap", "configMap", cm.Name)
	}
	return ctrl.Result{}, nil
}

// unusedConfigMaps picks the flow's ConfigMaps that may go: owned by the
// flow, not mounted by the current template, and not mounted by a
// ReplicaSet of the executor that still wants or has pods.
func unusedConfigMaps(f *v1alpha1.ChatFlow, cms []corev1.ConfigMap, rss []appsv1.ReplicaSet, ex *executorState) []corev1.ConfigMap {
	inUse := map[string]bool{}
	if ex != nil && !ex.Deleting {
		inUse[ex.ConfigMap] = true
	}
	for _, rs := range rss {
		if rs.Spec.Replicas != nil && *rs.Spec.Replicas == 0 && rs.Status.Replicas == 0 {
			continue
		}
		for _, v := range rs.Spec.Template.Spec.Volumes {
			if v.ConfigMap != nil {
				inUse[v.ConfigMap.Name] = true
			}
		}
	}
	var unused []corev1.ConfigMap
	for _, cm := range cms {
		if !inUse[cm.Name] && metav1.IsControlledBy(&cm, f) && cm.DeletionTimestamp.IsZero() {
			unused = append(unused, cm)
		}
	}
	return unused
}

// ensureConfigMap creates a revision's ConfigMap unless it exists. It is
// immutable and named by its content, so an existing one is right.
func (r *Reconciler) ensureConfigMap(ctx context.Context, cm *corev1.ConfigMap) error {
	live := &corev1.ConfigMap{}
	if err := r.getOwned(ctx, cm.Namespace, cm.Name, live); err != nil {
		return err
	}
	if live.Name != "" {
		return nil
	}
	if err := r.Client.Create(ctx, cm, client.FieldOwner(FieldOwner)); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating ConfigMap %s: %w", cm.Name, err)
	}
	return nil
}

func ptrTo[T any](v T) *T { return &v }
