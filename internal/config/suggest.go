package config

import (
	"reflect"
	"strings"

	"github.com/authz-dev/authz/internal/yamlhint"
)

// nearestKey is the key of the config type yaml.v3 names ("config.Policy")
// closest to the unknown one, when it is close enough to be a typo
// (require_scope → require_scopes); "" otherwise.
func nearestKey(typeName, unknown string) string {
	t, ok := configTypes()[strings.TrimPrefix(typeName, "*")]
	if !ok {
		return ""
	}
	return yamlhint.Nearest(t, unknown)
}

// configTypes names every struct type a config file decodes into, as
// yaml.v3 names them in its errors.
func configTypes() map[string]reflect.Type { return yamlhint.Types(reflect.TypeFor[Config]()) }
