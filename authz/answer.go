package authz

import (
	"cmp"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Answer says how the doors answer one outcome.
type Answer struct {
	Status     int
	RetryAfter time.Duration
}

// Answers is the outcome → status mapping the doors share. It is
// configuration, so the nginx profile (inactive → 403, error → 401) is a
// config change, not a code change.
type Answers struct {
	// OutcomeHeader names the response header that carries the outcome name.
	OutcomeHeader string
	// Realm goes into WWW-Authenticate.
	Realm string
	// DPoPAlgorithms are named in a DPoP challenge's algs (RFC 9449 §7.1).
	DPoPAlgorithms []string
	// ByOutcome is indexed by Outcome.
	ByOutcome [len(Outcomes)]Answer
	// ProxyCache: the HTTP door tells the proxy how long it may reuse
	// each answer (X-Accel-Expires; 0 for most).
	ProxyCache bool
}

// DefaultAnswers are the statuses of the outcome table (docs/architecture.md).
func DefaultAnswers() *Answers {
	return &Answers{OutcomeHeader: "x-authz-outcome", Realm: "authz", ByOutcome: [len(Outcomes)]Answer{
		Allow: {Status: 200}, Missing: {Status: 401}, Invalid: {Status: 401}, Forbidden: {Status: 403}, Error: {Status: 503},
	}}
}

// Status returns the HTTP status for outcome o; for Allow, what the HTTP
// door answers (200, or 204).
func (a *Answers) Status(o Outcome) int { return a.ByOutcome[o].Status }

// RetryAfter returns the Retry-After value for d, or "".
func (a *Answers) RetryAfter(d *Decision) string {
	if ra := a.ByOutcome[d.Outcome].RetryAfter; ra > 0 {
		return strconv.Itoa(int((ra + time.Second - 1) / time.Second))
	}
	return ""
}

// WWWAuthenticate returns the challenge for a denial (RFC 6750 §3), or "" for
// outcomes that carry none.
func (a *Answers) WWWAuthenticate(d *Decision) string {
	if d.DPoPError != "" {
		c := `DPoP realm="` + a.Realm + `", error="` + d.DPoPError + `", error_description="` + quotable(d.Description) + `"`
		if len(a.DPoPAlgorithms) > 0 {
			c += `, algs="` + quotable(strings.Join(a.DPoPAlgorithms, " ")) + `"`
		}
		return c
	}
	realm := `Bearer realm="` + a.Realm + `"`
	if d.ResourceMetadata != "" {
		realm += `, resource_metadata="` + quotable(d.ResourceMetadata) + `"`
	}
	switch d.Outcome {
	case Missing:
		// §3.1: no error code when the request carried no credentials.
		return realm
	case Invalid:
		return realm + `, error="invalid_token", error_description="` + quotable(d.Description) + `"`
	case Forbidden:
		c := realm + `, error="insufficient_scope"`
		if len(d.RequiredScopes) > 0 {
			c += `, scope="` + quotable(strings.Join(d.RequiredScopes, " ")) + `"`
		}
		return c
	}
	return ""
}

var errorCodes = [...]string{Allow: "", Missing: "missing_token", Invalid: "invalid_token", Forbidden: "insufficient_scope", Error: "temporarily_unavailable"}

// Body returns the JSON body of a denial: {"error":…, "error_description":…}.
// It is built from the decision's public description only.
func (a *Answers) Body(d *Decision) []byte {
	desc := d.Description
	if desc == "" {
		desc = defaultDescriptions[d.Outcome]
	}
	// Two strings always marshal.
	b, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{cmp.Or(d.DPoPError, errorCodes[d.Outcome]), desc})
	return b
}

// DenialHeaders are the headers of a denial's answer, the same at both
// doors: the outcome, the body's type, the challenge, a DPoP nonce and
// Retry-After, each when it applies (names lower-case).
func (a *Answers) DenialHeaders(d *Decision) []HeaderValue {
	h := []HeaderValue{{Name: strings.ToLower(a.OutcomeHeader), Value: d.Outcome.String()}, {Name: "content-type", Value: "application/json"}}
	if c := a.WWWAuthenticate(d); c != "" {
		h = append(h, HeaderValue{Name: "www-authenticate", Value: c})
	}
	if d.DPoPNonce != "" {
		h = append(h, HeaderValue{Name: "dpop-nonce", Value: d.DPoPNonce})
	}
	if ra := a.RetryAfter(d); ra != "" {
		h = append(h, HeaderValue{Name: "retry-after", Value: ra})
	}
	return h
}

var defaultDescriptions = [...]string{
	Allow:     "",
	Missing:   "no access token in the request",
	Invalid:   "the access token is invalid",
	Forbidden: "the access token does not grant access to this resource",
	Error:     "the access token could not be validated right now",
}

// quotable keeps s inside an RFC 9110 quoted-string: description and scope
// values are ours, but scope names come from configuration.
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
