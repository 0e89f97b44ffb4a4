package config

import (
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// JSONSchema is the config file's shape as a JSON Schema (draft-07), made
// from the types the decoder fills: every key it knows, with its type,
// and no other (a misspelt key is refused where the schema is checked —
// the Helm chart's values.schema.json, so `helm template` fails on it).
// Values are checked by `authz validate`; the schema knows shapes only.
func JSONSchema() map[string]any {
	s := schemaOf(reflect.TypeFor[Config]())
	s["description"] = "authz.yaml (docs/configuration.md): its keys and their types, generated from authz's config types (make manifests); authz validates the values"
	return s
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

func schemaOf(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		// Go durations, or a bare 0.
		return map[string]any{"type": []string{"string", "integer"}, "pattern": `^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$`}
	case reflect.PointerTo(t).Implements(unmarshalerType):
		return map[string]any{} // a type of several spellings: its own decoder judges it
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		props := map[string]any{}
		addFields(t, props)
		return map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	}
	return map[string]any{}
}

// addFields adds t's yaml keys to props, inlined structs' too.
func addFields(t reflect.Type, props map[string]any) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || tag[0] == "-" {
			continue
		}
		if len(tag) > 1 && tag[1] == "inline" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			addFields(ft, props)
			continue
		}
		if tag[0] != "" {
			props[tag[0]] = schemaOf(f.Type)
		}
	}
}
