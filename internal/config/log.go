package config

import "slices"

// Log configures the process logger and the decision log.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // json or text
	// Allow logs allow decisions too, sampled at AllowSample (0..1, default 1).
	// Non-allow decisions are always logged.
	Allow       bool     `yaml:"allow"`
	AllowSample *float64 `yaml:"allow_sample"`
	// Claims adds the token's claims to decision lines (personal data: off by default).
	Claims bool `yaml:"claims"`
}

func (l *Log) setDefaults() {
	setDefault(&l.Level, "info")
	setDefault(&l.Format, "json")
	if l.AllowSample == nil {
		all := 1.0
		l.AllowSample = &all
	}
}

func (l *Log) validate(p *problems) {
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, l.Level) {
		p.add("log.level", "%q: use debug, info, warn or error", l.Level)
	}
	if *l.AllowSample < 0 || *l.AllowSample > 1 {
		p.add("log.allow_sample", "must be between 0 and 1")
	}
	if l.Format != "json" && l.Format != "text" {
		p.add("log.format", "%q: use json or text", l.Format)
	}
}
