package config

import (
	"maps"
	"slices"

	"github.com/authz-dev/authz/internal/tracing"
)

// Tracing exports a span per Check over OTLP gRPC: the exporter's own
// settings (tracing.Settings: keys, defaults and checks), which this file
// reports under tracing.
type Tracing = tracing.Settings

func validateTracing(t *Tracing, p *problems) {
	t.Check(func(key, problem string) {
		path := "tracing"
		if key != "" {
			path += "." + key
		}
		p.add(path, "%s", problem)
	})
	files := t.Files()
	for _, key := range slices.Sorted(maps.Keys(files)) {
		p.file(files[key], "tracing."+key)
	}
}
