package expr

import (
	"reflect"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// fields is implemented by the scope structs that CEL sees as maps with a
// fixed set of keys.
type fields interface {
	field(key string) (ref.Val, bool)
	keys() []string
}

// record is the CEL map view of a scope struct. It wraps only a pointer, so
// handing it to CEL as an interface does not allocate, and a field is
// converted when it is read. The rarely used parts of the map contract
// (iteration, equality, conversion) go through a materialised map.
type record[P fields] struct{ p P }

var _ traits.Mapper = record[*Contact]{}

func (r record[P]) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(key), false
	}
	return r.p.field(string(k))
}

func (r record[P]) Get(key ref.Val) ref.Val {
	v, found := r.Find(key)
	if found {
		return v
	}
	return types.ValOrErr(v, "no such key: %v", key)
}

func (r record[P]) Contains(key ref.Val) ref.Val {
	v, found := r.Find(key)
	if !found && v != nil {
		return v
	}
	return types.Bool(found)
}

func (r record[P]) Size() ref.Val { return types.Int(len(r.p.keys())) }

func (r record[P]) Type() ref.Type { return types.MapType }

// Value is the plain Go form: a map[string]any of strings (and the nested
// media map).
func (r record[P]) Value() any {
	keys := r.p.keys()
	m := make(map[string]any, len(keys))
	for _, k := range keys {
		v, _ := r.p.field(k)
		m[k] = v.Value()
	}
	return m
}

func (r record[P]) materialize() traits.Mapper {
	return types.NewStringInterfaceMap(types.DefaultTypeAdapter, r.Value().(map[string]any))
}

func (r record[P]) ConvertToNative(typeDesc reflect.Type) (any, error) {
	return r.materialize().ConvertToNative(typeDesc)
}

func (r record[P]) ConvertToType(typeVal ref.Type) ref.Val {
	return r.materialize().ConvertToType(typeVal)
}

func (r record[P]) Equal(other ref.Val) ref.Val { return r.materialize().Equal(other) }

func (r record[P]) Iterator() traits.Iterator { return r.materialize().Iterator() }

var contactKeys = []string{"id", "name", "channel"}

func (*Contact) keys() []string { return contactKeys }

func (c *Contact) field(key string) (ref.Val, bool) {
	switch key {
	case "id":
		return types.String(c.ID), true
	case "name":
		return types.String(c.Name), true
	case "channel":
		return types.String(c.Channel), true
	}
	return nil, false
}

var messageKeys = []string{"text", "type", "buttonId", "payload", "media"}

func (*Message) keys() []string { return messageKeys }

func (m *Message) field(key string) (ref.Val, bool) {
	switch key {
	case "text":
		return types.String(m.Text), true
	case "type":
		return types.String(m.Type), true
	case "buttonId":
		return types.String(m.ButtonID), true
	case "payload":
		return types.String(m.Payload), true
	case "media":
		return record[*Media]{m.Media}, true
	}
	return nil, false
}

var mediaKeys = []string{"kind", "url", "id", "mimeType", "caption", "filename"}

// keys of a nil *Media are none: no media is an empty map.
func (m *Media) keys() []string {
	if m == nil {
		return nil
	}
	return mediaKeys
}

func (m *Media) field(key string) (ref.Val, bool) {
	if m == nil {
		return nil, false
	}
	switch key {
	case "kind":
		return types.String(m.Kind), true
	case "url":
		return types.String(m.URL), true
	case "id":
		return types.String(m.ID), true
	case "mimeType":
		return types.String(m.MIMEType), true
	case "caption":
		return types.String(m.Caption), true
	case "filename":
		return types.String(m.Filename), true
	}
	return nil, false
}

var flowKeys = []string{"name", "revision"}

func (*FlowInfo) keys() []string { return flowKeys }

func (f *FlowInfo) field(key string) (ref.Val, bool) {
	switch key {
	case "name":
		return types.String(f.Name), true
	case "revision":
		return types.String(f.Revision), true
	}
	return nil, false
}
