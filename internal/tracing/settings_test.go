package tracing

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// Each mistake in the section is reported under its own key.
func TestSettingsCheck(t *testing.T) {
	cases := []struct {
		name string
		s    Settings
		key  string
	}{
		{"another sampler", Settings{Sampler: "always_on"}, "sampler"},
		{"another parent", Settings{Parent: "trust"}, "parent"},
		{"a ratio past 1", Settings{Ratio: ratio(1.5)}, "ratio"},
		{"another compression", Settings{Compression: "zstd"}, "compression"},
		{"a negative queue", Settings{MaxQueue: -1}, ""},
		{"a URL for the endpoint", Settings{OTLPEndpoint: "http://collector:4317"}, "otlp_endpoint"},
		{"plaintext and a CA", Settings{OTLPEndpoint: "collector:4317", Insecure: true, CAFile: "ca.pem"}, "insecure"},
		{"a certificate without its key", Settings{OTLPEndpoint: "collector:4317", CertFile: "c.pem"}, "cert_file"},
	}
	for _, c := range cases {
		c.s.Defaults()
		var keys []string
		c.s.Check(func(key, problem string) {
			if problem == "" {
				t.Errorf("%s: a problem without words", c.name)
			}
			keys = append(keys, key)
		})
		if len(keys) != 1 || keys[0] != c.key {
			t.Errorf("%s: reported under %q, want only %q", c.name, keys, c.key)
		}
	}
	ok := Settings{OTLPEndpoint: "otel-collector:4317", CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem", Parent: ParentFollow}
	ok.Defaults()
	ok.Check(func(key, problem string) { t.Errorf("a good section: %s: %s", key, problem) })
}

// What the file leaves out is filled once, the same for the config and
// for a Provider built without one; what it says is kept.
func TestSettingsDefaults(t *testing.T) {
	var s Settings
	s.Defaults()
	if s.Sampler != "parent_based_ratio" || *s.Ratio != 0 || s.Parent != ParentLink || s.ServiceName != "authz" ||
		s.BatchTimeout != 5*time.Second || s.MaxQueue != 2048 || s.ExportTimeout != 10*time.Second || s.Compression != "none" {
		t.Errorf("defaults %+v", s)
	}
	set := Settings{Ratio: ratio(0.25), Parent: ParentFollow, ServiceName: "edge", MaxQueue: 10}
	set.Defaults()
	if *set.Ratio != 0.25 || set.Parent != ParentFollow || set.ServiceName != "edge" || set.MaxQueue != 10 {
		t.Errorf("a set value was replaced: %+v", set)
	}
	if keys := slices.Sorted(maps.Keys(set.Files())); strings.Join(keys, ",") != "ca_file,cert_file,key_file" {
		t.Errorf("files by key %v", keys)
	}
}
