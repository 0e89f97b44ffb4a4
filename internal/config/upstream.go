package config

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/authz-dev/authz/internal/upstreamtoken"

	"github.com/authz-dev/authz/authz"
)

// UpstreamTokens are authz's own signing keys: the minter's settings
// (upstreamtoken.Settings: keys, defaults and checks), which this file
// reports under upstream_tokens, checking the key files themselves.
type UpstreamTokens = upstreamtoken.Settings

// UpstreamToken is what a policy hands its upstream besides claim headers:
// a token the upstream can verify.
type UpstreamToken struct {
	// Source: mint (authz signs a token with its own key), idp (the IdP's
	// signed introspection answer, RFC 9701, as it came), exchange (the
	// client's token traded at the authorization server, RFC 8693) or
	// none (no token: a policy that would otherwise take its base's).
	Source string `yaml:"source"`
	// Header is where the token goes: authorization (default) replaces the
	// client's token with "Bearer <token>", the phantom-token pattern; any
	// other header carries the bare JWT.
	Header string `yaml:"header"`
	// Audience is the minted token's aud: the upstream service. A route's
	// upstream_audience overrides it for the requests the route chooses.
	Audience string `yaml:"audience"`
	// Claims are copied from the validated token (top-level names); sub
	// is always copied, iss is authz's and the original iss is orig_iss.
	Claims []string `yaml:"claims"`
	// RequestClaims put parts of the request in claims, only where named:
	// claim → method, path or host.
	RequestClaims map[string]string `yaml:"request_claims"`
	// Lifetime, when shorter than upstream_tokens.lifetime, bounds this
	// policy's tokens.
	Lifetime time.Duration `yaml:"lifetime"`
	// Exchange configures source exchange (exchange.go).
	Exchange *Exchange `yaml:"exchange"`
	// Subject: as_is copies the token's sub; namespaced writes
	// orig_iss + "/" + sub (Istio's requestPrincipals form), so alice of
	// two issuers are two subjects to the upstream. A policy that accepts
	// several validators must choose.
	Subject string `yaml:"subject"`
}

// Minted token subjects.
const (
	SubjectAsIs       = "as_is"
	SubjectNamespaced = "namespaced"
)

// Upstream token sources.
const (
	SourceMint = "mint"
	SourceIdP  = "idp"
	SourceNone = "none"
)

func (t *UpstreamToken) setDefaults() {
	if t.Source == "" {
		t.Source = SourceMint
	}
	if t.Header == "" {
		t.Header = upstreamtoken.Authorization
	}
	t.Header = strings.ToLower(t.Header)
}

// Mints reports whether the policy hands its upstream a token.
func (t *UpstreamToken) Mints() bool { return t != nil && t.Source != SourceNone }

func validateUpstreamTokens(u UpstreamTokens, p *problems) {
	u.Check(func(key, problem string) { p.add("upstream_tokens."+key, "%s", problem) },
		func(key, problem string) { p.warn("upstream_tokens."+key, "%s", problem) })
	if !u.Enabled() || p.offline {
		return
	}
	seen := map[string]int{}
	for i, f := range u.KeyFiles {
		kp := pathOf("upstream_tokens", "key_files", i)
		st, err := os.Stat(f)
		if err != nil {
			p.add(kp, "%v", err)
			continue
		}
		// A key file others can read is a key others can sign with.
		if perm := st.Mode().Perm(); perm&0o077 != 0 && !ownGroupReads(st) {
			p.warn(kp, "%s is readable or writable by group or others (mode %04o): chmod 600, or a Kubernetes Secret with defaultMode 0440 and fsGroup (the Helm chart's)", f, perm)
		}
		k, err := upstreamtoken.LoadKey(f)
		if err != nil {
			p.add(kp, "%v", err)
			continue
		}
		if j, dup := seen[k.ID]; dup {
			p.add(kp, "the same key as key_files.%d", j)
		}
		seen[k.ID] = i
	}
}

// validateUpstreamToken checks a policy's upstream_token against the
// signing keys and the policy's own settings.
func validateUpstreamToken(name string, pol Policy, cfg *Config, p *problems) {
	t := pol.UpstreamToken
	if t == nil {
		return
	}
	pp := "policies." + name + ".upstream_token"
	if t.Exchange != nil && t.Source != SourceExchange {
		p.add(pp+".exchange", "configures source exchange, and the source is %s", t.Source)
	}
	switch t.Source {
	case SourceNone:
		return
	case SourceExchange:
		if t.Exchange == nil {
			p.add(pp+".exchange", "is required for source exchange: the token endpoint, the client and the upstream")
		} else {
			validateExchange(t.Exchange, pp+".exchange", p)
		}
		if t.Audience != "" || len(t.Claims) > 0 || len(t.RequestClaims) > 0 || t.Lifetime != 0 || t.Subject != "" {
			p.add(pp, "audience, claims, request_claims, lifetime and subject shape a minted token; an exchanged token is the authorization server's (exchange.audiences, exchange.scope)")
		}
	case SourceMint:
		if !cfg.UpstreamTokens.Enabled() {
			p.add(pp, "mints with authz's key: configure upstream_tokens.key_files and issuer")
		}
		if t.Audience == "" {
			p.add(pp+".audience", "is required: the upstream the token is for (its aud)")
		}
		switch {
		case t.Subject != "" && t.Subject != SubjectAsIs && t.Subject != SubjectNamespaced:
			p.add(pp+".subject", "%q: use as_is or namespaced", t.Subject)
		case t.Subject == "":
			// Same iss (authz), same aud, same sub: the inner hop could
			// not tell one issuer's alice from another's.
			issuers, unnamed := subjectIssuers(pol.Validators, cfg)
			switch {
			case len(issuers) > 1:
				p.add(pp+".subject", "the policy accepts tokens of %d issuers (%s), and a token minted for alice of one is the same as for alice of another but for orig_iss: "+
					"set subject: namespaced (sub becomes orig_iss/sub) or subject: as_is if the issuers share one user namespace",
					len(issuers), strings.Join(issuers, ", "))
			case len(unnamed) > 0 && len(issuers)+len(unnamed) > 1:
				p.warn(pp+".subject", "the policy accepts introspection endpoint %s, which names no issuer, beside other validators: if their users are not one namespace, "+
					"set subject: namespaced (sub becomes orig_iss/sub); subject: as_is (or the endpoint's issuer) silences this", strings.Join(unnamed, ", "))
			}
		}
	case SourceIdP:
		signedEndpoints := map[string]bool{}
		for _, in := range cfg.Introspection {
			signedEndpoints[in.Name] = in.SignedAnswers
		}
		signed := false
		for _, v := range pol.Validators {
			signed = signed || signedEndpoints[v]
			for _, is := range cfg.Issuers {
				if is.Name != v {
					continue
				}
				signed = signed || signedEndpoints[is.Introspect]
				if !signedEndpoints[is.Introspect] {
					p.add(pp+".source", "idp forwards the IdP's signed introspection answer, and issuer %s's tokens are verified without one: "+
						"give the issuer introspect: an endpoint with signed_answers, or leave it out of this policy's validators", v)
				}
			}
		}
		if !signed {
			p.add(pp+".source", "idp forwards the IdP's signed introspection answer: the policy needs an introspection endpoint with signed_answers: true")
		}
		if t.Audience != "" || len(t.Claims) > 0 || len(t.RequestClaims) > 0 || t.Lifetime != 0 || t.Subject != "" {
			p.add(pp, "audience, claims, request_claims, lifetime and subject shape a minted token; the IdP's answer is forwarded as it is")
		}
	default:
		p.add(pp+".source", "%q: use mint, idp, exchange or none", t.Source)
		return
	}
	if pol.Token == authz.TokenNone.String() {
		p.add(pp, "a token: none policy has no token for the upstream token to stand for")
	}
	if t.Header != upstreamtoken.Authorization {
		if why := claimHeaderProblem(t.Header); why != "" {
			p.add(pp+".header", "%q cannot carry the token: %s", t.Header, why)
		}
	}
	for claim, header := range pol.Headers {
		if strings.EqualFold(header, t.Header) {
			p.add(pp+".header", "%q also carries claim %q", t.Header, claim)
		}
	}
	if ph := *pol.PayloadHeader; ph != "" && strings.EqualFold(ph, t.Header) {
		p.add(pp+".header", "%q is also the payload_header", t.Header)
	}
	for i, c := range t.Claims {
		if slices.Contains(upstreamtoken.Reserved, c) {
			p.add(pathOf(pp, "claims", i), "%q is set by authz (or always copied, for sub)", c)
		}
	}
	for c, part := range t.RequestClaims {
		switch {
		case slices.Contains(upstreamtoken.Reserved, c) || slices.Contains(t.Claims, c):
			p.add(pp+".request_claims."+c, "%q is set by authz or copied from the token", c)
		case !slices.Contains(upstreamtoken.RequestParts, part):
			p.add(pp+".request_claims."+c, "%q: use %s", part, strings.Join(upstreamtoken.RequestParts, ", "))
		}
	}
	if t.Lifetime < 0 {
		p.add(pp+".lifetime", "must not be negative")
	}
}

// upstreamAudienceProblem checks a route's upstream_audience.
func upstreamAudienceProblem(r Route, policies map[string]Policy) string {
	if r.UpstreamAudience == "" {
		return ""
	}
	pol, ok := policies[r.Policy]
	if !ok || pol.UpstreamToken == nil || pol.UpstreamToken.Source != SourceMint {
		return fmt.Sprintf("policy %q mints no upstream token for the audience to name", r.Policy)
	}
	return ""
}

// policyNames are the policies' names, sorted.
func (c *Config) policyNames() []string { return slices.Sorted(maps.Keys(c.Policies)) }

// validateSignedAnswers checks an endpoint's RFC 9701 settings: the
// answer's iss and aud are checked, so both must be known, and its keys
// need one source.
func validateSignedAnswers(in *Introspection, ip string, p *problems) {
	if !in.SignedAnswers {
		if in.JWKSURL != "" || in.Discovery || in.JWKSFile != "" || len(in.Algorithms) > 0 {
			p.add(ip+".signed_answers", "jwks_url, discovery, jwks_file and algorithms verify signed answers: set signed_answers: true")
		}
		return
	}
	if in.Issuer == "" {
		p.add(ip+".issuer", "is required with signed_answers: a signed answer's iss must be the IdP's")
	}
	if in.ClientID == "" {
		p.add(ip+".client_id", "is required with signed_answers: a signed answer's aud names the client that asked")
	}
	keySource{Issuer: in.Issuer, JWKSURL: in.JWKSURL, Discovery: in.Discovery, JWKSFile: in.JWKSFile, Algorithms: in.Algorithms}.
		validate(ip, "the IdP's keys, which decide which answers are believed", p)
}

// subjectIssuers are the distinct issuers whose subjects a policy's
// validators accept — an issuer's iss, an introspection endpoint's issuer
// — and the endpoints that name none (most often the JWT issuer's own IdP,
// which authz cannot tell).
func subjectIssuers(validators []string, cfg *Config) (issuers, unnamed []string) {
	add := func(list *[]string, s string) {
		if !slices.Contains(*list, s) {
			*list = append(*list, s)
		}
	}
	for _, v := range validators {
		for _, is := range cfg.Issuers {
			if is.Name == v {
				add(&issuers, is.Issuer)
			}
		}
		for _, in := range cfg.Introspection {
			switch {
			case in.Name != v:
			case in.Issuer != "":
				add(&issuers, in.Issuer)
			default:
				add(&unnamed, in.Name)
			}
		}
	}
	return issuers, unnamed
}
