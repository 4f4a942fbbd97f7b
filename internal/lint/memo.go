package lint

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"

	schemacel "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"k8s.io/utils/lru"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// Remembering what was found about list items: a ChatFlow's nodes.
//
// The API server validates the items of a list one by one: its OpenAPI
// validator builds a validator per item from the item's schema and path
// alone, and its CEL validator runs the item's rules with self bound to
// the item (CEL has no way up), carrying nothing from one item to the next
// but the cost budget. What it says about an item is a function of the
// item's value (and, for the OpenAPI messages, which name the path, of its
// index); so is the item's decoding into its Go type. After an edit of one
// node (the studio lints after each) only that node needs checking again;
// memo remembers the others.
//
// The validators are the API server's own, entered where they create the
// validator of an item:
//
//   - OpenAPI: kube-openapi lets a caller choose how a validator builds the
//     validators of its fields and items (SchemaValidatorOptions). The
//     kind's validator is built as the API server builds it, with that
//     choice made for the fields on the way to the list (built as before)
//     and for its items: the same validator, or what it said before about
//     the same value at the same path. The list's own validator merges
//     the results, in its order.
//   - CEL: the validator is a tree of exported structs. rest is the kind's
//     validator less the rules of the list's items (the rules of spec,
//     trigger, ... and of the list itself still run, on the whole object),
//     items the very validator it runs on each item. Merged, their errors
//     are the whole validator's as long as the object stays under the cost
//     budget; near it, the whole validator runs instead. Their order
//     differs only between fields of different subtrees, which the whole
//     validator itself visits in map order; Lint orders problems by place.
//   - Decoding: a ChatFlow is decoded less its nodes, and each node on its
//     own (decodeChatFlow).
//
// TestRememberedLintIsLintAfresh and FuzzRememberedLint hold Lint to a
// lint that remembers nothing, over random edits of real flows.

// memoLists names, by kind, the list whose items are remembered.
var memoLists = map[string][]string{"ChatFlow": {"spec", "nodes"}}

// What a kind remembers is bounded in entries (four a node: its OpenAPI
// and CEL results, its decoding as admitted and as written; a dozen flows
// of 500 nodes) and in bytes, counted as the size of the item's encoded
// value for a decoded node and a fixed size for a result.
const (
	maxRemembered      = 32768
	maxRememberedBytes = 32 << 20
	resultBytes        = 256
)

type memo struct {
	path []string
	// openAPI is the kind's OpenAPI validator, remembering items.
	openAPI apiservervalidation.SchemaCreateValidator
	// items is the CEL validator of one item, rest the kind's without it;
	// nil when the kind has no rules, or its validator a shape the split
	// is not exact for.
	rest, items *schemacel.Validator
	base        *field.Path
	seen        *remembered
}

// remembered is an LRU bounded in entries and in bytes. It is safe for
// concurrent use.
type remembered struct {
	// mu guards bytes, which the LRU's evictions change: its Add and
	// RemoveOldest are called with mu held.
	mu    sync.Mutex
	lru   *lru.Cache // key → entry
	bytes int64
}

type entry struct {
	v    any
	size int64
}

func newRemembered() *remembered {
	r := &remembered{}
	r.lru = lru.NewWithEvictionFunc(maxRemembered, func(_ lru.Key, v any) { r.bytes -= v.(entry).size })
	return r
}

func (r *remembered) get(key any) (any, bool) {
	e, ok := r.lru.Get(key)
	if !ok {
		return nil, false
	}
	return e.(entry).v, true
}

func (r *remembered) add(key, v any, size int64) {
	if size > maxRememberedBytes/16 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.lru.Get(key); ok {
		return // another lint remembered it meanwhile
	}
	r.bytes += size
	r.lru.Add(key, entry{v, size})
	for r.bytes > maxRememberedBytes && r.lru.Len() > 0 {
		r.lru.RemoveOldest()
	}
}

type valueKey [sha256.Size]byte

// openAPIKey names an item's OpenAPI result: its schema, its path (which
// the messages name) and its value.
type openAPIKey struct {
	schema *spec.Schema
	path   string
	value  valueKey
}

// celKey names an item's CEL result: its value (the paths of the errors
// are made relative to the item, and made absolute again when used).
type celKey struct{ value valueKey }

// celResult is what the items validator said about one item: its errors,
// with paths relative to the item, and the cost of its rules.
type celResult struct {
	errs field.ErrorList
	cost int64
}

// newMemo prepares the remembering validators of a kind along path, or
// returns nil when there is no list to remember.
func newMemo(openAPISchema *spec.Schema, cel *schemacel.Validator, path []string) *memo {
	if len(path) == 0 {
		return nil
	}
	m := &memo{path: path, base: field.NewPath(path[0], path[1:]...), seen: newRemembered()}
	// As apiservervalidation.NewSchemaValidatorFromOpenAPI builds it (for
	// a create, the ratcheting validator validates as the plain one), with
	// the choice of how fields and items are validated made on the way.
	m.openAPI = apiservervalidation.NewRatchetingSchemaValidator(openAPISchema, nil, "", strfmt.Default, m.fields(0))
	if cel != nil {
		if rest, items, ok := withoutItems(*cel, path); ok {
			m.rest, m.items = &rest, items
		}
	}
	return m
}

// fields is the option of the validator at depth along the path: its
// field path[depth] is validated with the option of the next level (or,
// for the list, its items remembered); every other field as the option's
// absence would have it.
func (m *memo) fields(depth int) validate.Option {
	at := strings.Join(m.path[:depth+1], ".")
	return func(o *validate.SchemaValidatorOptions) {
		o.NewValidatorForField = func(name string, schema *spec.Schema, root any, path string, formats strfmt.Registry, opts ...validate.Option) validate.ValueValidator {
			if name != m.path[depth] || path != at {
				return validate.NewSchemaValidator(schema, root, path, formats, opts...)
			}
			if depth == len(m.path)-1 {
				return validate.NewSchemaValidator(schema, root, path, formats, m.listItems())
			}
			return validate.NewSchemaValidator(schema, root, path, formats, m.fields(depth+1))
		}
	}
}

// listItems is the option of the list's validator: its items are
// validated by rememberedItem.
func (m *memo) listItems() validate.Option {
	return func(o *validate.SchemaValidatorOptions) {
		o.NewValidatorForIndex = func(_ int, schema *spec.Schema, root any, path string, formats strfmt.Registry, opts ...validate.Option) validate.ValueValidator {
			return &rememberedItem{m: m, schema: schema, root: root, path: path, formats: formats, opts: opts}
		}
	}
}

// rememberedItem validates a list item as validate.NewSchemaValidator
// does (which is what the list's validator would have used), or returns
// what it said before about the same value at the same path.
type rememberedItem struct {
	m       *memo
	schema  *spec.Schema
	root    any
	path    string
	formats strfmt.Registry
	opts    []validate.Option
}

func (v *rememberedItem) SetPath(path string) { v.path = path }

func (v *rememberedItem) Applies(source any, _ reflect.Kind) bool {
	_, ok := source.(*spec.Schema)
	return ok
}

func (v *rememberedItem) Validate(data any) *validate.Result {
	value, _, keyed := keyOf(data)
	key := openAPIKey{v.schema, v.path, value}
	if keyed {
		if r, ok := v.m.seen.get(key); ok {
			// The list's validator merges the result into its own:
			// it reads it, and must not share what it appends to.
			c := *r.(*validate.Result)
			return &c
		}
	}
	r := validate.NewSchemaValidator(v.schema, v.root, v.path, v.formats, v.opts...).Validate(data)
	if keyed {
		c := *r
		v.m.seen.add(key, &c, resultBytes*int64(1+len(r.Errors)))
	}
	return r
}

// withoutItems returns a copy of v whose validator at path no longer
// validates items, and the validator it had for them; false when a
// validator on the way has allOf or additionalProperties validators (which
// could reach the items another way). v is not changed.
func withoutItems(v schemacel.Validator, path []string) (schemacel.Validator, *schemacel.Validator, bool) {
	if len(v.AllOfValidators) > 0 || v.AdditionalProperties != nil {
		return v, nil, false
	}
	if len(path) == 0 {
		items := v.Items
		v.Items = nil
		return v, items, items != nil
	}
	child, ok := v.Properties[path[0]]
	if !ok {
		return v, nil, false
	}
	child, items, ok := withoutItems(child, path[1:])
	if !ok {
		return v, nil, false
	}
	v.Properties = maps.Clone(v.Properties)
	v.Properties[path[0]] = child
	return v, items, true
}

// validateCEL returns the CEL errors of obj, or false when the whole
// validator must decide: the split is not possible, the budget is nearly
// spent, or a rule ran out of its own.
func (m *memo) validateCEL(ctx context.Context, obj map[string]any) (field.ErrorList, bool) {
	if m.items == nil {
		return nil, false
	}
	const budget = celconfig.RuntimeCELCostBudget
	errs, remaining := m.rest.Validate(ctx, nil, nil, obj, nil, budget)
	if remaining < 0 {
		return nil, false
	}
	used := budget - remaining
	for i, item := range m.list(obj) {
		r, ok := m.celItem(ctx, item)
		if !ok {
			return nil, false
		}
		// Under the budget in all, every rule had budget left when the
		// whole validator reached it, whatever the order it went in.
		if used += r.cost; used >= budget {
			return nil, false
		}
		if len(r.errs) == 0 {
			continue
		}
		at := m.base.Index(i).String()
		for _, e := range r.errs {
			c := *e
			c.Field = at + e.Field
			errs = append(errs, &c)
		}
	}
	return errs, true
}

// list is what the whole CEL validator hands the items validator: the list
// at path, when every step is an object and the list a list.
func (m *memo) list(obj map[string]any) []any {
	var v any = obj
	for _, name := range m.path {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[name]
	}
	l, _ := v.([]any)
	return l
}

// celItem runs the items validator on one item, or remembers what it said.
func (m *memo) celItem(ctx context.Context, item any) (celResult, bool) {
	value, _, keyed := keyOf(item)
	if keyed {
		if r, ok := m.seen.get(celKey{value}); ok {
			return r.(celResult), true
		}
	}
	const budget = celconfig.RuntimeCELCostBudget
	at := m.base.Index(0)
	errs, remaining := m.items.Validate(ctx, at, nil, item, nil, budget)
	if remaining < 0 {
		return celResult{}, false
	}
	prefix := at.String()
	r := celResult{cost: budget - remaining}
	for _, e := range errs {
		rel, ok := strings.CutPrefix(e.Field, prefix)
		if !ok {
			return celResult{}, false
		}
		c := *e
		c.Field = rel
		r.errs = append(r.errs, &c)
	}
	if keyed {
		m.seen.add(celKey{value}, r, resultBytes*int64(1+len(r.errs)))
	}
	return r, true
}

// nodeKey names a node decoded from a value.
type nodeKey struct{ value valueKey }

// decodeChatFlow is decode(v, into) of a ChatFlow, with each node decoded
// on its own, or copied from the one decoded before from the same value.
// Decoding is field by field, and a list item by item into a zero value,
// so the parts make the whole; when a part does not decode, the whole is
// decoded, for its error.
func (m *memo) decodeChatFlow(v map[string]any, into *v1alpha1.ChatFlow) error {
	spec, _ := v["spec"].(map[string]any)
	nodes, ok := spec["nodes"].([]any)
	if !ok {
		return decode(v, into)
	}
	rest, restSpec := maps.Clone(v), maps.Clone(spec)
	delete(restSpec, "nodes")
	rest["spec"] = restSpec
	var out v1alpha1.ChatFlow
	if decode(rest, &out) != nil {
		return decode(v, into)
	}
	out.Spec.Nodes = make([]v1alpha1.Node, len(nodes))
	for i, item := range nodes {
		if !m.decodeNode(item, &out.Spec.Nodes[i]) {
			return decode(v, into)
		}
	}
	*into = out
	return nil
}

func (m *memo) decodeNode(item any, into *v1alpha1.Node) bool {
	obj, ok := item.(map[string]any)
	if !ok {
		return false
	}
	value, size, keyed := keyOf(obj)
	if keyed {
		if n, ok := m.seen.get(nodeKey{value}); ok {
			n.(*v1alpha1.Node).DeepCopyInto(into)
			return true
		}
	}
	if decode(obj, into) != nil {
		return false
	}
	if keyed {
		m.seen.add(nodeKey{value}, into.DeepCopy(), int64(size))
	}
	return true
}

// keyOf hashes a value, Go types included (an int64 and a float64 of the
// same number are different inputs to the validators), and tells the size
// of its encoding; false for a value of a type JSON decoding does not
// produce.
func keyOf(v any) (valueKey, int, bool) {
	var buf [1024]byte
	b, ok := appendValue(buf[:0], v)
	if !ok {
		return valueKey{}, 0, false
	}
	return sha256.Sum256(b), len(b), true
}

// appendValue encodes v without ambiguity: a tag per type, lengths before
// contents, object keys sorted.
func appendValue(b []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case nil:
		return append(b, 'n'), true
	case bool:
		if v {
			return append(b, 't'), true
		}
		return append(b, 'f'), true
	case string:
		return appendString(append(b, 's'), v), true
	case int64:
		return binary.AppendVarint(append(b, 'i'), v), true
	case float64:
		return binary.BigEndian.AppendUint64(append(b, 'd'), math.Float64bits(v)), true
	case []any:
		b = binary.AppendUvarint(append(b, 'l'), uint64(len(v)))
		for _, e := range v {
			var ok bool
			if b, ok = appendValue(b, e); !ok {
				return b, false
			}
		}
		return b, true
	case map[string]any:
		b = binary.AppendUvarint(append(b, 'm'), uint64(len(v)))
		var buf [16]string
		keys := buf[:0]
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			var ok bool
			if b, ok = appendValue(appendString(b, k), v[k]); !ok {
				return b, false
			}
		}
		return b, true
	}
	return b, false
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}
