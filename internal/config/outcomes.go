package config

import (
	"strings"
	"time"
)

// Outcomes configure how each outcome is answered.
type Outcomes struct {
	// Header names the response header carrying the outcome (default
	// x-authz-outcome). Unset statuses, header and realm take
	// authz.DefaultAnswers.
	Header string `yaml:"header"`
	// Realm goes into WWW-Authenticate (default "authz").
	Realm     string  `yaml:"realm"`
	Missing   Outcome `yaml:"missing"`
	Invalid   Outcome `yaml:"invalid"`
	Forbidden Outcome `yaml:"forbidden"`
	Error     Outcome `yaml:"error"`
}

// Outcome is one outcome's answer.
type Outcome struct {
	Status int `yaml:"status"`
	// RetryAfter, when set, adds Retry-After (seconds) to the answer.
	RetryAfter time.Duration `yaml:"retry_after"`
}

func (o *Outcomes) validate(p *problems) {
	for _, oc := range []struct {
		name   string
		status int
	}{{"missing", o.Missing.Status}, {"invalid", o.Invalid.Status}, {"forbidden", o.Forbidden.Status}, {"error", o.Error.Status}} {
		if oc.status != 0 && (oc.status < 300 || oc.status > 599) {
			p.add("outcomes."+oc.name+".status", "%d is not a denial status (300-599)", oc.status)
		}
	}
	if o.Header != "" && !validHeaderName(strings.ToLower(o.Header)) {
		p.add("outcomes.header", "%q is not a valid header name", o.Header)
	}
	if strings.ContainsAny(o.Realm, "\"\\\r\n") {
		p.add("outcomes.realm", "must not contain quotes, backslashes or line breaks")
	}
}
