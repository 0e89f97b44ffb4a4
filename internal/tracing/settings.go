package tracing

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// Settings are the config file's tracing section: its keys are these
// fields' tags, their defaults Defaults and their checks Check, so a new
// setting is a field here and its row in docs/configuration.md. Off
// without an endpoint.
type Settings struct {
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
	// headers afresh on every request (and only then: otherwise a client
	// would choose what is exported and the trace id in the decision log).
	Parent             string            `yaml:"parent"`
	ServiceName        string            `yaml:"service_name"`
	ResourceAttributes map[string]string `yaml:"resource_attributes"`
	// BatchTimeout: the longest a span waits to be sent (default 5s);
	// MaxQueue: spans waiting beyond it are dropped, never waited for, and
	// counted (default 2048).
	BatchTimeout time.Duration `yaml:"batch_timeout"`
	MaxQueue     int           `yaml:"max_queue"`
	// ExportTimeout bounds one export, retries included (default 10s).
	ExportTimeout time.Duration `yaml:"export_timeout"`
	// Compression of each export: none (default) or gzip, for a collector
	// across a metered link; it costs authz CPU, not Check latency.
	Compression string `yaml:"compression"`
}

// The values Parent takes.
const (
	ParentLink   = "link"
	ParentFollow = "follow"
)

// Defaults fills what the file left out.
func (s *Settings) Defaults() {
	if s.Sampler == "" {
		s.Sampler = "parent_based_ratio"
	}
	if s.Ratio == nil {
		zero := 0.0
		s.Ratio = &zero
	}
	if s.Parent == "" {
		s.Parent = ParentLink
	}
	if s.ServiceName == "" {
		s.ServiceName = "authz"
	}
	if s.BatchTimeout == 0 {
		s.BatchTimeout = 5 * time.Second
	}
	if s.MaxQueue == 0 {
		s.MaxQueue = 2048
	}
	if s.ExportTimeout == 0 {
		s.ExportTimeout = 10 * time.Second
	}
	if s.Compression == "" {
		s.Compression = "none"
	}
}

// Check reports each mistake in s (after Defaults) by its key in the
// section; whether the files it names exist is the caller's to check
// (Files).
func (s *Settings) Check(report func(key, problem string)) {
	if s.Sampler != "parent_based_ratio" {
		report("sampler", fmt.Sprintf("%q: use parent_based_ratio", s.Sampler))
	}
	if s.Parent != ParentLink && s.Parent != ParentFollow {
		report("parent", fmt.Sprintf("%q: use %s or %s", s.Parent, ParentLink, ParentFollow))
	}
	if *s.Ratio < 0 || *s.Ratio > 1 {
		report("ratio", fmt.Sprintf("%v: want 0..1", *s.Ratio))
	}
	if s.BatchTimeout < 0 || s.MaxQueue < 0 || s.ExportTimeout < 0 {
		report("", "batch_timeout, max_queue and export_timeout must not be negative")
	}
	if s.Compression != "none" && s.Compression != "gzip" {
		report("compression", fmt.Sprintf("%q: use none or gzip", s.Compression))
	}
	if s.OTLPEndpoint == "" {
		return
	}
	if _, _, err := net.SplitHostPort(s.OTLPEndpoint); err != nil || strings.Contains(s.OTLPEndpoint, "://") {
		report("otlp_endpoint", fmt.Sprintf("%q: want host:port of the collector's OTLP gRPC port (like otel-collector:4317), no scheme", s.OTLPEndpoint))
	}
	if s.Insecure && (s.CAFile != "" || s.CertFile != "") {
		report("insecure", "cannot be combined with ca_file or cert_file")
	}
	if (s.CertFile == "") != (s.KeyFile == "") {
		report("cert_file", "cert_file and key_file go together")
	}
}

// Files are the files s names, by key.
func (s *Settings) Files() map[string]string {
	return map[string]string{"ca_file": s.CAFile, "cert_file": s.CertFile, "key_file": s.KeyFile}
}
