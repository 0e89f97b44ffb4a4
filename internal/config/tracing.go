package config

import "github.com/authz-dev/authz/internal/tracing"

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
	for _, key := range []string{"ca_file", "cert_file", "key_file"} {
		p.file(t.Files()[key], "tracing."+key)
	}
}
