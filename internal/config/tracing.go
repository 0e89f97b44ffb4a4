package config

import (
	"net"
	"strings"
	"time"
)

// Tracing exports a span per Check over OTLP gRPC; off without an endpoint.
type Tracing struct {
	// OTLPEndpoint is the collector's OTLP gRPC address (host:port).
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// Insecure sends plaintext (a collector on loopback); otherwise TLS,
	// with CAFile, and CertFile/KeyFile for a collector that wants mTLS.
	Insecure bool   `yaml:"insecure"`
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Sampler: parent_based_ratio, the only one: a Check follows its
	// parent's decision; a root Check is sampled at Ratio (default 0).
	Sampler string   `yaml:"sampler"`
	Ratio   *float64 `yaml:"ratio"`
	// Parent says what the trace context in a request's headers is: link
	// (default) — a link of authz's own root span, sampled at Ratio, since
	// a client may have written it; follow — the parent, whose sampled flag
	// decides and whose trace id is logged, for a proxy that sets those
	// headers afresh on every request.
	Parent             string            `yaml:"parent"`
	ServiceName        string            `yaml:"service_name"`
	ResourceAttributes map[string]string `yaml:"resource_attributes"`
	// BatchTimeout: the longest a span waits to be sent (default 5s);
	// MaxQueue: spans waiting beyond it are dropped and counted (2048).
	BatchTimeout time.Duration `yaml:"batch_timeout"`
	MaxQueue     int           `yaml:"max_queue"`
	// ExportTimeout bounds one export, retries included (default 10s).
	ExportTimeout time.Duration `yaml:"export_timeout"`
}

func (t *Tracing) setDefaults() {
	if t.Sampler == "" {
		t.Sampler = "parent_based_ratio"
	}
	if t.Ratio == nil {
		zero := 0.0
		t.Ratio = &zero
	}
	if t.Parent == "" {
		t.Parent = "link"
	}
}

func (t *Tracing) validate(p *problems) {
	if t.Sampler != "parent_based_ratio" {
		p.add("tracing.sampler", "%q: use parent_based_ratio", t.Sampler)
	}
	if t.Parent != "link" && t.Parent != "follow" {
		p.add("tracing.parent", "%q: use link or follow", t.Parent)
	}
	if *t.Ratio < 0 || *t.Ratio > 1 {
		p.add("tracing.ratio", "%v: want 0..1", *t.Ratio)
	}
	if t.BatchTimeout < 0 || t.MaxQueue < 0 || t.ExportTimeout < 0 {
		p.add("tracing", "batch_timeout, max_queue and export_timeout must not be negative")
	}
	if t.OTLPEndpoint == "" {
		return
	}
	if _, _, err := net.SplitHostPort(t.OTLPEndpoint); err != nil || strings.Contains(t.OTLPEndpoint, "://") {
		p.add("tracing.otlp_endpoint", "%q: want host:port of the collector's OTLP gRPC port (like otel-collector:4317), no scheme", t.OTLPEndpoint)
	}
	if t.Insecure && (t.CAFile != "" || t.CertFile != "") {
		p.add("tracing.insecure", "cannot be combined with ca_file or cert_file")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		p.add("tracing.cert_file", "cert_file and key_file go together")
	}
	p.file(t.CAFile, "tracing.ca_file")
	p.file(t.CertFile, "tracing.cert_file")
	p.file(t.KeyFile, "tracing.key_file")
}
