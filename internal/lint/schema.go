package lint

import (
	"context"
	"embed"
	"fmt"
	"sync"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	schemacel "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// The CRDs as `make manifests` generates them into config/crd/bases. Go
// cannot embed files outside the package, so they are copied here by
// go generate, and TestEmbeddedCRDsAreCurrent fails when the copy is stale.
//
//go:generate cp ../../config/crd/bases/chatflow.dev_chatflows.yaml ../../config/crd/bases/chatflow.dev_channelbindings.yaml ../../config/crd/bases/chatflow.dev_languagemodels.yaml ../../config/crd/bases/chatflow.dev_campaigns.yaml crds/
//go:embed crds/*.yaml
var crdFiles embed.FS

// schema is the validation the API server runs for one kind before any
// admission webhook sees an object: pruning of unknown fields, defaulting,
// the OpenAPI schema, list-type uniqueness and the x-kubernetes-validations
// CEL rules.
type schema struct {
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaCreateValidator
	cel        *schemacel.Validator
	// memo remembers the validation of list items (memo.go); nil for a
	// kind without such a list.
	memo *memo
}

var schemas = sync.OnceValues(loadSchemas)

// loadSchemas builds the validators of the embedded CRDs, by kind.
func loadSchemas() (map[string]*schema, error) {
	out := map[string]*schema{}
	for _, name := range []string{"crds/chatflow.dev_chatflows.yaml", "crds/chatflow.dev_channelbindings.yaml", "crds/chatflow.dev_languagemodels.yaml", "crds/chatflow.dev_campaigns.yaml"} {
		b, err := crdFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(b, &crd); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, v := range crd.Spec.Versions {
			if v.Name != "v1alpha1" || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			var internal apiextensionsinternal.JSONSchemaProps
			if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			st, err := structuralschema.NewStructural(&internal)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			val, openAPI, err := apiservervalidation.NewSchemaValidator(&internal)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			rules := schemacel.NewValidator(st, true, celconfig.PerCallLimit)
			out[crd.Spec.Names.Kind] = &schema{
				structural: st,
				validator:  val,
				cel:        rules,
				memo:       newMemo(openAPI, rules, memoLists[crd.Spec.Names.Kind]),
			}
		}
	}
	return out, nil
}

// validate runs the API server's checks on obj, which it prunes and
// defaults in place; metaErrs are the problems already found in its
// metadata. unknown lists the paths of unknown fields. memo lets what the
// validators said about list items be remembered (memo.go): the errors
// are the same.
func (s *schema) validate(ctx context.Context, obj map[string]any, metaErrs field.ErrorList, memo bool) (unknown []string, errs field.ErrorList) {
	unknown = pruning.PruneWithOptions(obj, s.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	defaulting.Default(obj, s.structural)
	validator := s.validator
	if memo && s.memo != nil {
		validator = s.memo.openAPI
	}
	errs = append(errs, apiservervalidation.ValidateCustomResource(nil, obj, validator)...)
	errs = append(errs, listtype.ValidateListSetsAndMaps(nil, s.structural, obj)...)
	// As the API server does, the CEL rules run only on an object that
	// passed the OpenAPI checks: otherwise they fail to evaluate on the
	// very fields already reported.
	if s.cel != nil && !blocksCEL(append(metaErrs, errs...)) {
		var celErrs field.ErrorList
		remembered := false
		if memo && s.memo != nil {
			celErrs, remembered = s.memo.validateCEL(ctx, obj)
		}
		if !remembered {
			celErrs, _ = s.cel.Validate(ctx, nil, s.structural, obj, nil, celconfig.RuntimeCELCostBudget)
		}
		errs = append(errs, celErrs...)
	}
	return unknown, errs
}

// blocksCEL is the API server's rule (hasBlockingErr in
// k8s.io/apiextensions-apiserver/pkg/registry/customresource, which is
// not exported): an enum, required, length, size or type violation stops
// the CEL rules from running.
func blocksCEL(errs field.ErrorList) bool {
	for _, e := range errs {
		switch e.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			return true
		}
	}
	return false
}

// prune drops unknown fields, as the API server stores objects.
func (s *schema) prune(obj map[string]any) { pruning.Prune(obj, s.structural, true) }

// CRDManifest returns the CRD of a kind ("ChatFlow", "ChannelBinding" or "Campaign")
// that lint validates against, for tools that show its schema (the
// studio's property panels), so that they and lint read the same one.
func CRDManifest(kind string) ([]byte, error) {
	switch kind {
	case "ChatFlow":
		return crdFiles.ReadFile("crds/chatflow.dev_chatflows.yaml")
	case "ChannelBinding":
		return crdFiles.ReadFile("crds/chatflow.dev_channelbindings.yaml")
	case "Campaign":
		return crdFiles.ReadFile("crds/chatflow.dev_campaigns.yaml")
	}
	return nil, fmt.Errorf("lint knows no CRD of kind %q", kind)
}
