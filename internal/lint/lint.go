// Package lint validates ChatFlow, ChannelBinding, LanguageModel and
// Campaign manifests offline with the rules admission applies: the CRDs'
// OpenAPI schema and CEL rules (run by the API server's own validation code
// against the embedded CRDs), the LanguageModel webhook's rules
// (runtime/model), object metadata, the flow compiler (runtime/flow.Compile,
// the validating webhook's graph rules), the links between flows that
// forward to each other, and the cross-object rules of bindings and
// campaigns that can be
// judged from the input alone. Every problem carries the file and line it
// came from.
//
// Other commands (graph, test, export) take their flow from a Result
// (Result.Valid) so that they refuse exactly what `chatflow lint` refuses.
//
// Lint remembers, within bounds, what it found about each node of the flows
// it checked (memo.go) and the expressions it compiled, so that checking a
// flow again after an edit (the studio does, at every edit) redoes only
// what the edit changed. What it says is the same either way.
//
// It must not import internal/cli or anything that talks to a cluster.
package lint

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/flowjson"
	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/runtime/expr"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/message"
	"github.com/chatflow-dev/chatflow/runtime/model"
)

// Problem is one thing wrong with the input.
type Problem struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column,omitempty"`
	// Kind, Namespace and Name identify the object, when there is one.
	Kind      string `json:"kind,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	// Field is the path of the field, as in spec.nodes[3].next.
	Field string `json:"field,omitempty"`
	// Type is the field.ErrorType (FieldValueRequired, ...), or
	// FieldValueUnknown for an unknown field, or Syntax for input that is
	// not YAML or not an object.
	Type string `json:"type"`
	// Message says what is wrong and, mostly, how to fix it.
	Message string `json:"message"`
}

// Types of problems that are not field.ErrorTypes.
const (
	TypeUnknownField = "FieldValueUnknown"
	TypeSyntax       = "Syntax"
)

// String is the problem as `chatflow lint` prints it: file:line: field: message.
func (p Problem) String() string {
	loc := fmt.Sprintf("%s:%d: ", p.File, p.Line)
	if p.Field == "" {
		return loc + p.Message
	}
	return loc + p.Field + ": " + p.Message
}

// Flow is a ChatFlow of the input.
type Flow struct {
	Object manifest.Object
	// Written is the flow as written (unknown fields dropped), for export.
	Written *v1alpha1.ChatFlow
	// Admitted is the flow as the API server would hand it to admission:
	// pruned and defaulted. Nil when it does not decode.
	Admitted *v1alpha1.ChatFlow
	// Channel is the channel the flow was compiled for (Options.Channel).
	Channel message.Channel
	// Program is the compiled flow; nil when it has problems.
	Program *flow.Program
	// Problems of this flow (also in Result.Problems).
	Problems []Problem
}

// Model is a LanguageModel of the input.
type Model struct {
	Object   manifest.Object
	Admitted *v1alpha1.LanguageModel
	Problems []Problem
}

// Binding is a ChannelBinding of the input.
type Binding struct {
	Object   manifest.Object
	Admitted *v1alpha1.ChannelBinding
	Problems []Problem
}

// Result is what Lint found.
type Result struct {
	// Problems in input order: by source, then object, then line.
	Problems  []Problem
	Flows     []*Flow
	Bindings  []*Binding
	Models    []*Model
	Campaigns []*Campaign
	// Ignored counts the objects of other kinds.
	Ignored int
}

// Lint checks every ChatFlow, ChannelBinding and LanguageModel of the
// sources. Objects of other kinds are ignored; input that does not parse is
// a problem.
func Lint(sources []manifest.Source) *Result { return lint(sources, true) }

// lint is Lint; memo false runs every rule and compiles every expression
// afresh (memo.go, expr.Env), for the tests that hold the remembered
// results to fresh ones.
func lint(sources []manifest.Source, memo bool) *Result {
	r := &Result{}
	var objs []manifest.Object
	var syntax []Problem
	for _, src := range sources {
		got, err := manifest.Parse(src)
		objs = append(objs, got...)
		if err != nil {
			syntax = append(syntax, syntaxProblem(src.Name, err))
		}
	}
	l := linter{ctx: context.Background(), r: r, memo: memo}
	l.check(objs)
	// Syntax problems of a source come after the objects before them,
	// which is also where they are in the file.
	r.Problems = append(r.Problems, syntax...)
	order := map[string]int{}
	for i, s := range sources {
		if _, ok := order[s.Name]; !ok {
			order[s.Name] = i
		}
	}
	slices.SortStableFunc(r.Problems, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(order[a.File], order[b.File]), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return r
}

func syntaxProblem(src string, err error) Problem {
	if se, ok := err.(*manifest.SyntaxError); ok {
		return Problem{File: se.Source, Line: se.Pos.Line, Column: se.Pos.Column, Type: TypeSyntax, Message: se.Msg}
	}
	return Problem{File: src, Type: TypeSyntax, Message: err.Error()}
}

type linter struct {
	ctx  context.Context
	r    *Result
	memo bool
}

const group = "chatflow.dev"

// kinds are the kinds lint checks.
var kinds = []string{"ChatFlow", "ChannelBinding", "LanguageModel", "Campaign"}

func (l *linter) check(objs []manifest.Object) {
	var flows []*Flow
	var bindings []*Binding
	var models []*Model
	var campaigns []*Campaign
	for i := range objs {
		o := objs[i]
		if flowjson.IsPortable(o) {
			// An exported flow: lint the ChatFlow it stands for, at its own lines.
			m, unknown, err := flowjson.AsManifest(o)
			for _, u := range unknown {
				l.r.Problems = append(l.r.Problems, unknownField(o, u))
			}
			if err != nil {
				l.r.Problems = append(l.r.Problems, l.problem(o, field.Invalid(field.NewPath("format"), o.Value["format"], err.Error())))
				continue
			}
			o = m
		}
		g, version, _ := strings.Cut(o.APIVersion, "/")
		if !strings.Contains(o.APIVersion, "/") {
			g, version = "", o.APIVersion
		}
		if g != group {
			l.r.Ignored++
			continue
		}
		if version != "v1alpha1" {
			l.r.Problems = append(l.r.Problems, l.problem(o, field.NotSupported(field.NewPath("apiVersion"), o.APIVersion, []string{group + "/v1alpha1"})))
			continue
		}
		switch o.Kind {
		case "ChatFlow":
			flows = append(flows, l.flow(o))
		case "ChannelBinding":
			bindings = append(bindings, l.binding(o))
		case "LanguageModel":
			m := l.model(o)
			models = append(models, m)
			l.r.Problems = append(l.r.Problems, m.Problems...)
		case "Campaign":
			campaigns = append(campaigns, l.campaign(o))
		default:
			l.r.Problems = append(l.r.Problems, l.problem(o, field.NotSupported(field.NewPath("kind"), o.Kind, kinds)))
		}
	}
	l.crossChecks(flows, bindings)
	for _, f := range flows {
		l.compile(f, bindings)
	}
	l.link(flows)
	for _, f := range flows {
		l.r.Problems = append(l.r.Problems, f.Problems...)
	}
	for _, b := range bindings {
		l.r.Problems = append(l.r.Problems, b.Problems...)
	}
	for _, c := range campaigns {
		l.campaignChecks(c, flows, bindings)
		l.r.Problems = append(l.r.Problems, c.Problems...)
	}
	l.r.Flows, l.r.Bindings, l.r.Models, l.r.Campaigns = flows, bindings, models, campaigns
}

// problem places a field error of an object at the line of its field.
// A type error of the schema is said the way the manifest decoder says it
// (what was written, and how to write it).
func (l *linter) problem(o manifest.Object, e *field.Error) Problem {
	e = o.Explain(e)
	p, _ := o.Pos.Lookup(e.Field)
	return Problem{
		File: o.Source, Line: p.Line, Column: p.Column,
		Kind: o.Kind, Namespace: o.Namespace, Name: o.Name,
		Field: e.Field, Type: string(e.Type), Message: e.ErrorBody(),
	}
}

// Admission returns the problems the API server itself reports for a
// ChatFlow or ChannelBinding (not a portable flow) before any admission
// webhook runs: its metadata, unknown fields (kubectl's default strict
// field validation), and the CRD's OpenAPI schema and CEL rules. Lint
// reports them as well, less those the flow compiler says better.
func Admission(o manifest.Object) []Problem {
	l := linter{ctx: context.Background(), r: &Result{}, memo: true}
	_, probs := l.admission(o)
	return probs
}

// admission runs what the API server runs before admission and returns
// the pruned, defaulted object, or nil when the schema could not be loaded.
func (l *linter) admission(o manifest.Object) (map[string]any, []Problem) {
	schemas, err := schemas()
	if err != nil {
		return nil, []Problem{{File: o.Source, Line: o.Start().Line, Kind: o.Kind, Name: o.Name, Type: string(field.ErrorTypeInternal), Message: "loading the CRD schema: " + err.Error()}}
	}
	s, ok := schemas[o.Kind]
	if !ok {
		return nil, []Problem{l.problem(o, field.NotSupported(field.NewPath("kind"), o.Kind, kinds))}
	}
	obj := runtime.DeepCopyJSON(o.Value)
	var out []Problem

	// Metadata: the API server decodes it strictly and validates it as
	// for any namespaced object.
	meta, _, unknownMeta, err := objectmeta.GetObjectMetaWithOptions(obj, objectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	for _, u := range unknownMeta {
		out = append(out, unknownField(o, u))
	}
	var metaErrs field.ErrorList
	switch {
	case err != nil:
		metaErrs = field.ErrorList{field.Invalid(field.NewPath("metadata"), field.OmitValueType{}, "metadata does not decode: "+err.Error())}
	case meta == nil:
		metaErrs = field.ErrorList{field.Required(field.NewPath("metadata"), "set metadata.name")}
	default:
		metaErrs = apivalidation.ValidateObjectMeta(meta, meta.Namespace != "", apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	}
	for _, e := range metaErrs {
		out = append(out, l.problem(o, e))
	}

	unknown, errs := s.validate(l.ctx, obj, metaErrs, l.memo)
	for _, u := range unknown {
		out = append(out, unknownField(o, u))
	}
	for _, e := range errs {
		out = append(out, l.problem(o, e))
	}
	return obj, out
}

func unknownField(o manifest.Object, path string) Problem {
	p, _ := o.Pos.Lookup(path)
	return Problem{
		File: o.Source, Line: p.Line, Column: p.Column,
		Kind: o.Kind, Namespace: o.Namespace, Name: o.Name,
		Field: path, Type: TypeUnknownField,
		Message: manifest.UnknownFieldDetail,
	}
}

// decode turns an object the schema admitted into its Go type, with the
// strict decoder the executor uses on the same manifest.
func decode(v map[string]any, into any) error { return manifest.DecodeValue(v, into) }

func (l *linter) flow(o manifest.Object) *Flow {
	f := &Flow{Object: o}
	obj, probs := l.admission(o)
	f.Problems = probs
	if obj == nil {
		return f
	}
	var admitted v1alpha1.ChatFlow
	if err := l.decodeFlow(obj, &admitted); err != nil {
		if len(probs) == 0 {
			f.Problems = append(f.Problems, l.problem(o, field.Invalid(field.NewPath("spec"), field.OmitValueType{}, "does not decode: "+err.Error())))
		}
		return f
	}
	f.Admitted = &admitted
	var written v1alpha1.ChatFlow
	pruned := runtime.DeepCopyJSON(o.Value)
	if s, err := schemas(); err == nil {
		// Unknown fields are reported above; export must not carry them.
		s[o.Kind].prune(pruned)
	}
	if err := l.decodeFlow(pruned, &written); err == nil {
		f.Written = &written
	}
	return f
}

// decodeFlow is decode, from what earlier lints remembered of the nodes
// where it can (memo.go).
func (l *linter) decodeFlow(v map[string]any, into *v1alpha1.ChatFlow) error {
	if s, err := schemas(); err == nil && l.memo && s["ChatFlow"] != nil && s["ChatFlow"].memo != nil {
		return s["ChatFlow"].memo.decodeChatFlow(v, into)
	}
	return decode(v, into)
}

func (l *linter) binding(o manifest.Object) *Binding {
	b := &Binding{Object: o}
	b.Admitted, b.Problems = admit[v1alpha1.ChannelBinding](l, o)
	return b
}

// admit runs admission on o and decodes what it admitted; the object is
// nil when admission kept nothing or it does not decode (a problem then,
// unless admission already reported one).
func admit[T any](l *linter, o manifest.Object) (*T, []Problem) {
	obj, probs := l.admission(o)
	if obj == nil {
		return nil, probs
	}
	var admitted T
	if err := decode(obj, &admitted); err != nil {
		if len(probs) == 0 {
			probs = append(probs, l.problem(o, field.Invalid(field.NewPath("spec"), field.OmitValueType{}, "does not decode: "+err.Error())))
		}
		return nil, probs
	}
	return &admitted, probs
}

// model checks a LanguageModel: the schema, then the rules the webhook
// adds (runtime/model.ValidateSpec), whose problem wins where both report
// the same field.
func (l *linter) model(o manifest.Object) *Model {
	m := &Model{Object: o}
	m.Admitted, m.Problems = admit[v1alpha1.LanguageModel](l, o)
	if m.Admitted == nil {
		return m
	}
	errs := model.ValidateSpec(&m.Admitted.Spec, field.NewPath("spec"))
	kept := m.Problems[:0]
	for _, p := range m.Problems {
		if !slices.ContainsFunc(errs, func(e *field.Error) bool { return e.Field == p.Field }) {
			kept = append(kept, p)
		}
	}
	m.Problems = kept
	for _, e := range errs {
		m.Problems = append(m.Problems, l.problem(o, e))
	}
	return m
}

// sameNamespace matches namespaces the way applying the input would: an
// object without one lands in the namespace kubectl is told, which may be
// any other object's.
func sameNamespace(a, b string) bool { return a == b || a == "" || b == "" }

// bindingFor is the first binding of the input that refers to the flow.
func bindingFor(f *Flow, bindings []*Binding) *Binding {
	for _, b := range bindings {
		if b.Admitted != nil && b.Admitted.Spec.FlowRef.Name == f.Object.Name && sameNamespace(b.Object.Namespace, f.Object.Namespace) {
			return b
		}
	}
	return nil
}

// compile runs the flow compiler with the options the validating webhook
// uses. Where the compiler and the schema report the same field (or the
// same rule, in the schema's words, on a parent field), the compiler's
// problem is kept: its message says how to fix it, and saying it twice
// adds nothing.
func (l *linter) compile(f *Flow, bindings []*Binding) {
	if f.Admitted == nil {
		return
	}
	spec := &f.Admitted.Spec
	f.Channel = flow.ChannelOf(spec)
	if spec.Trigger.Type == v1alpha1.TriggerManual {
		if b := bindingFor(f, bindings); b != nil {
			f.Channel = message.Channel(b.Admitted.Spec.Channel)
		}
	}
	opts := flow.Options{Channel: f.Channel, FlowName: f.Object.Name}
	if !l.memo {
		opts.Env = expr.Default().Uncached()
	}
	prog, errs := flow.Compile(spec, opts)
	if len(errs) == 0 {
		if len(f.Problems) == 0 {
			f.Program = prog
		}
		return
	}
	covered := func(p Problem) bool {
		if p.Type == TypeUnknownField {
			return false
		}
		// A CEL rule that failed to evaluate (a field it reads is missing)
		// says nothing the compiler's problems do not say better.
		if strings.Contains(p.Message, "evaluating rule") {
			return true
		}
		for _, e := range errs {
			switch {
			case e.Field == p.Field:
				return true
			case e.Detail != "" && strings.HasSuffix(p.Message, e.Detail) && strings.HasPrefix(e.Field, p.Field):
				return true // the same rule, reported on the exact field
			case p.Type == string(field.ErrorTypeDuplicate) && e.Type == field.ErrorTypeDuplicate && strings.HasPrefix(e.Field, p.Field+"."):
				return true // a duplicate list-map key, reported on the key
			}
		}
		return false
	}
	kept := f.Problems[:0]
	for _, p := range f.Problems {
		if !covered(p) {
			kept = append(kept, p)
		}
	}
	f.Problems = kept
	for _, e := range errs {
		f.Problems = append(f.Problems, l.problem(f.Object, e))
	}
}

// crossChecks applies the binding rules that span objects: a binding's
// channel is its flow's trigger (unless the flow is Manual), a flow has at
// most one binding, and an account serves one flow.
func (l *linter) crossChecks(flows []*Flow, bindings []*Binding) {
	type account struct{ ns, channel, id string }
	byFlow := map[string]*Binding{}
	byAccount := map[account]*Binding{}
	for _, b := range bindings {
		if b.Admitted == nil {
			continue
		}
		spec := &b.Admitted.Spec
		if f := flowFor(b, flows); f != nil && f.Admitted != nil {
			t := f.Admitted.Spec.Trigger.Type
			if t != v1alpha1.TriggerManual && t != "" && string(t) != string(spec.Channel) && spec.Channel != "" {
				b.Problems = append(b.Problems, l.problem(b.Object, field.Invalid(field.NewPath("spec", "channel"), string(spec.Channel), fmt.Sprintf(
					"the ChatFlow %q is triggered by %s (%s): a binding's channel must equal its flow's trigger type; only a Manual flow takes a binding of any channel",
					f.Object.Name, t, where(f.Object)))))
			}
		}
		fk := b.Object.Namespace + "/" + spec.FlowRef.Name
		if prev, dup := byFlow[fk]; dup && spec.FlowRef.Name != "" {
			b.Problems = append(b.Problems, l.dup(b, "spec.flowRef.name", spec.FlowRef.Name, fmt.Sprintf(
				"the ChannelBinding %q (%s) already binds the flow %q: a flow has at most one binding", prev.Object.Name, where(prev.Object), spec.FlowRef.Name)))
			continue
		} else if !dup {
			byFlow[fk] = b
		}
		if spec.Account.ID == "" {
			continue
		}
		ak := account{b.Object.Namespace, string(spec.Channel), spec.Account.ID}
		if prev, dup := byAccount[ak]; dup {
			b.Problems = append(b.Problems, l.dup(b, "spec.account.id", spec.Account.ID, fmt.Sprintf(
				"the ChannelBinding %q (%s) binds this %s account to the flow %q: an account serves one flow at a time",
				prev.Object.Name, where(prev.Object), spec.Channel, prev.Admitted.Spec.FlowRef.Name)))
			continue
		}
		byAccount[ak] = b
	}
}

func (l *linter) dup(b *Binding, path, value, detail string) Problem {
	e := field.Duplicate(field.NewPath(path), value)
	e.Field = path
	e.Detail = detail
	return l.problem(b.Object, e)
}

func flowFor(b *Binding, flows []*Flow) *Flow {
	for _, f := range flows {
		if f.Object.Name == b.Admitted.Spec.FlowRef.Name && sameNamespace(f.Object.Namespace, b.Object.Namespace) {
			return f
		}
	}
	return nil
}

// where names an object's place for messages about another object.
func where(o manifest.Object) string {
	return fmt.Sprintf("%s:%d", o.Source, o.Start().Line)
}
