package server

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/authz/introspect"
	"github.com/authz-dev/authz/authz/jwt"
	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/rediscache"
	"github.com/authz-dev/authz/internal/telemetry"
	"github.com/authz-dev/authz/internal/tokenexchange"
	"github.com/authz-dev/authz/internal/tracing"
	"github.com/authz-dev/authz/internal/upstreamtoken"
)

// mintFrom loads authz's signing keys: the minter policies' upstream_token
// steps sign with, and what the HTTP listener publishes. Both nil without
// upstream_tokens.
func mintFrom(cfg *config.Config, m *telemetry.Metrics) (*upstreamtoken.Minter, *upstreamtoken.Published, error) {
	minter, published, err := upstreamtoken.Load(cfg.UpstreamTokens, m.UpstreamTokenSigned)
	if err != nil {
		return nil, nil, fmt.Errorf("upstream_tokens: %w", err)
	}
	return minter, published, nil
}

// upstreamStep is the policy's upstream_token step, or nil.
func upstreamStep(cfg *config.Config, policy string, t *config.UpstreamToken, minter *upstreamtoken.Minter, m *telemetry.Metrics, shared *rediscache.Cache) (authz.Upstream, error) {
	switch {
	case !t.Mints():
		return nil, nil
	case t.Source == config.SourceIdP:
		return &upstreamtoken.SignedAnswer{Header: t.Header}, nil
	case t.Source == config.SourceExchange:
		return exchangeStep(t, m, shared)
	}
	mint := &upstreamtoken.Mint{Minter: minter, Audience: t.Audience, Header: t.Header, Claims: t.Claims, Lifetime: t.Lifetime,
		NamespaceSubject: t.Subject == config.SubjectNamespaced}
	for _, r := range cfg.Routes {
		if r.Policy == policy && r.UpstreamAudience != "" {
			if mint.RouteAudiences == nil {
				mint.RouteAudiences = map[string]string{}
			}
			mint.RouteAudiences[r.Name] = r.UpstreamAudience
		}
	}
	for _, c := range slices.Sorted(maps.Keys(t.RequestClaims)) {
		mint.RequestClaims = append(mint.RequestClaims, upstreamtoken.RequestClaim{Claim: c, Part: t.RequestClaims[c]})
	}
	// Tokens minted under other settings are not handed out after a reload.
	sum := sha256.Sum256(fmt.Appendf(nil, "%s|%v|%v|%v", minter.Issuer, minter.Lifetime, *t, mint.RouteAudiences))
	mint.Settings = hex.EncodeToString(sum[:8])
	return mint, nil
}

// exchangeStep is an upstream_token with source exchange (RFC 8693).
func exchangeStep(t *config.UpstreamToken, m *telemetry.Metrics, shared *rediscache.Cache) (authz.Upstream, error) {
	e := t.Exchange
	// Tokens exchanged under other settings are not handed out after a
	// reload.
	// Every setting, the secret included (hashed, never printed): a
	// setting added to tokenexchange.Settings counts with no edit here.
	sum := sha256.Sum256(fmt.Appendf(nil, "%+v|%s", *e, t.Header))
	opts := tokenexchange.Options{
		Settings: *e, Header: t.Header, Fingerprint: hex.EncodeToString(sum[:8]),
		Client:  &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		Observe: m.ObserveExchange,
	}
	if shared != nil { // a nil *Cache would make the interface non-nil
		opts.Shared = shared
	}
	return tokenexchange.New(opts)
}

// signedAnswers is the verifier of an endpoint's RFC 9701 answers, nil
// when it answers plain JSON. Its key set is the core's, under the
// endpoint's name (issuers and endpoints share one namespace).
func (c *core) signedAnswers(ic config.Introspection, client *http.Client, log *slog.Logger, traces *tracing.Provider, m *telemetry.Metrics) (*jwt.Statements, error) {
	if !ic.SignedAnswers {
		return nil, nil
	}
	keys, err := jwt.NewKeys(jwt.KeysOptions{
		Tracer:    traces.Tracer(),
		URL:       ic.JWKSURL,
		Discovery: ic.Discovery,
		Issuer:    ic.Issuer,
		File:      ic.JWKSFile,
		Timeout:   ic.Timeout,
		Client:    client,
		Logger:    log.With("introspection", ic.Name),
		OnRefresh: func(err error) { m.ObserveJWKSRefresh(ic.Name, err) },
	})
	if err != nil {
		return nil, fmt.Errorf("signed answers: %w", err)
	}
	c.keys[ic.Name] = keys
	algs := make([]jose.SignatureAlgorithm, len(ic.Algorithms))
	for i, a := range ic.Algorithms {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	// An answer is fresh when it was signed for this request: within the
	// request's timeout, give or take the clocks' leeway. One issued
	// earlier is a replay — a captured answer for alice served for
	// mallory's random token.
	const leeway = 30 * time.Second
	return jwt.NewStatements(jwt.StatementOptions{Issuer: ic.Issuer, Audience: ic.ClientID, Type: introspect.SignedAnswerTyp,
		Algorithms: algs, Keys: keys, Leeway: leeway, MaxAge: cmp.Or(ic.Timeout, introspect.DefaultTimeout)})
}
