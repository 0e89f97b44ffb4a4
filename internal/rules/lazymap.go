package rules

import (
	"reflect"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// mapSource answers a lazyMap: one key, or every entry.
type mapSource interface {
	lookup(key string) (ref.Val, bool)
	all() map[string]any
}

// lazyMap is a CEL map with string keys that answers look-ups ("x" in m,
// m["x"], m.x) from its source and builds the whole map only when an
// expression iterates, sizes, converts or compares it: most rules read one
// header of a dozen.
type lazyMap struct {
	src   mapSource
	whole traits.Mapper
}

var _ traits.Mapper = (*lazyMap)(nil)

func (m *lazyMap) full() traits.Mapper {
	if m.whole == nil {
		m.whole = types.DefaultTypeAdapter.NativeToValue(m.src.all()).(traits.Mapper)
	}
	return m.whole
}

func (m *lazyMap) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return nil, false
	}
	return m.src.lookup(string(k))
}

func (m *lazyMap) Get(key ref.Val) ref.Val {
	if v, found := m.Find(key); found {
		return v
	}
	return types.NewErr("no such key: %v", key)
}

func (m *lazyMap) Contains(key ref.Val) ref.Val {
	_, found := m.Find(key)
	return types.Bool(found)
}

func (m *lazyMap) Iterator() traits.Iterator                   { return m.full().Iterator() }
func (m *lazyMap) Size() ref.Val                               { return m.full().Size() }
func (m *lazyMap) ConvertToNative(t reflect.Type) (any, error) { return m.full().ConvertToNative(t) }
func (m *lazyMap) ConvertToType(t ref.Type) ref.Val            { return m.full().ConvertToType(t) }
func (m *lazyMap) Equal(other ref.Val) ref.Val                 { return m.full().Equal(other) }
func (m *lazyMap) Type() ref.Type                              { return types.MapType }
func (m *lazyMap) Value() any                                  { return m.full().Value() }
