package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/authz/config"
	"github.com/authz-dev/authz/authz/introspect"
	"github.com/authz-dev/authz/authz/jwt"
	"github.com/authz-dev/authz/authz/rediscache"
	"github.com/authz-dev/authz/authz/telemetry"
)

// core is the authorizer and the parts it owns.
type core struct {
	auth          *authz.Authorizer
	answers       *authz.Answers
	metrics       *telemetry.Metrics
	observer      *telemetry.Observer
	keys          []*jwt.Keys
	issuers       []*jwt.Issuer
	introspectors map[string]*introspect.Client
	shared        *rediscache.Cache
}

func (c *core) Close() {
	for _, k := range c.keys {
		k.Close()
	}
	for _, in := range c.introspectors {
		in.Close()
	}
	if c.shared != nil {
		c.shared.Close()
	}
	if c.auth != nil {
		c.auth.Close()
	}
}

// buildCore turns a validated config into a running authorizer: key sets
// start fetching here.
func buildCore(cfg *config.Config, log *slog.Logger) (*core, error) {
	policies := policiesFrom(cfg)
	names := make([]string, len(policies))
	for i, p := range policies {
		names[i] = p.Name
	}
	m := telemetry.NewMetrics(names)
	c := &core{
		answers:       answersFrom(cfg),
		metrics:       m,
		observer:      telemetry.NewObserver(log, m, telemetry.LogOptions{Allow: cfg.Log.Allow, AllowSample: cfg.Log.AllowSample, Claims: cfg.Log.Claims}),
		introspectors: map[string]*introspect.Client{},
	}
	validators := map[string]authz.Validator{}
	for _, ic := range cfg.Introspection {
		tlsCfg, err := clientTLS(ic.CAFile, ic.CertFile, ic.KeyFile)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("introspection %s: %w", ic.Name, err)
		}
		in, err := introspect.New(introspect.Options{
			Name:             ic.Name,
			Endpoint:         ic.Endpoint,
			ClientID:         ic.ClientID,
			ClientSecret:     ic.Secret,
			AuthMethod:       ic.AuthMethod,
			Timeout:          ic.Timeout,
			MaxResponseBytes: ic.MaxResponseBytes,
			MaxConns:         ic.MaxConns,
			MaxInFlight:      ic.MaxInFlight,
			TLS:              tlsCfg,
			Issuer:           ic.Issuer,
			Audiences:        ic.Audiences,
			Logger:           log.With("introspection", ic.Name),
			Observe: func(result string, elapsed time.Duration) {
				m.ObserveIntrospection(ic.Name, result, elapsed)
			},
		})
		if err != nil {
			c.Close()
			return nil, err
		}
		c.introspectors[ic.Name] = in
		validators[ic.Name] = in
	}
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	for _, ic := range cfg.Issuers {
		keys, err := jwt.NewKeys(jwt.KeysOptions{
			URL:        ic.JWKSURL,
			Discovery:  ic.Discovery,
			Issuer:     ic.Issuer,
			File:       ic.JWKSFile,
			Refresh:    ic.RefreshInterval,
			MinRefresh: ic.MinRefreshInterval,
			Timeout:    ic.Timeout,
			Client:     client,
			Logger:     log.With("issuer", ic.Name),
			OnRefresh:  func(err error) { m.ObserveJWKSRefresh(ic.Name, err) },
		})
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("issuer %s: %w", ic.Name, err)
		}
		c.keys = append(c.keys, keys)
		algs := make([]jose.SignatureAlgorithm, len(ic.Algorithms))
		for i, a := range ic.Algorithms {
			algs[i] = jose.SignatureAlgorithm(a)
		}
		is, err := jwt.NewIssuer(jwt.IssuerOptions{
			Name:        ic.Name,
			Issuer:      ic.Issuer,
			Audiences:   ic.Audiences,
			Algorithms:  algs,
			Leeway:      *ic.Leeway,
			RequireType: ic.Type,
			Keys:        keys,
			Introspect:  validators[ic.Introspect], // nil when unset
		})
		if err != nil {
			c.Close()
			return nil, err
		}
		c.issuers = append(c.issuers, is)
	}
	set, err := jwt.NewSet(c.issuers...)
	if err != nil {
		c.Close()
		return nil, err
	}
	opts := authz.Options{
		Policies:         policies,
		CacheMaxBytes:    cfg.Cache.MaxBytes,
		NegativeMaxBytes: cfg.Cache.NegativeMaxBytes,
		TTL:              cfg.Cache.TTL,
		NegativeTTL:      *cfg.Cache.NegativeTTL,
		Introspectors:    validators,
	}
	if len(c.issuers) > 0 {
		opts.JWT = set
	}
	if rc := cfg.Cache.Redis; rc.Addr != "" {
		var tlsCfg *tls.Config
		if rc.TLS {
			if tlsCfg, err = clientTLS(rc.CAFile, "", ""); err != nil {
				c.Close()
				return nil, fmt.Errorf("redis: %w", err)
			}
			if tlsCfg == nil {
				tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
			}
		}
		c.shared, err = rediscache.New(rediscache.Options{
			Addr: rc.Addr, Username: rc.Username, Password: rc.Pass, DB: rc.DB, TLS: tlsCfg,
			Prefix: rc.Prefix, Timeout: rc.Timeout, PoolSize: rc.PoolSize, Salt: rc.Salt,
			Logger:  log.With("cache", "redis"),
			OnFault: m.ObserveRedisFault,
		})
		if err != nil {
			c.Close()
			return nil, err
		}
		opts.Shared = c.shared
	}
	if c.auth, err = authz.New(opts); err != nil {
		c.Close()
		return nil, err
	}
	m.WatchCache(c.auth.CacheStats, c.auth.NegativeCacheStats)
	if c.shared != nil {
		c.shared.Subscribe(c.auth.Forget)
	}
	return c, nil
}

// ready is closed once every issuer's keys have loaded.
func (c *core) ready() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		for _, k := range c.keys {
			<-k.Ready()
		}
		close(ch)
	}()
	return ch
}

func policiesFrom(cfg *config.Config) []*authz.Policy {
	names := make([]string, 0, len(cfg.Policies))
	for n := range cfg.Policies {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*authz.Policy, 0, len(names))
	for _, name := range names {
		pc := cfg.Policies[name]
		p := &authz.Policy{
			Name:             name,
			Validators:       pc.Validators,
			RequireScopes:    pc.RequireScopes,
			RequireAudiences: pc.RequireAudiences,
			HeaderSeparator:  *pc.HeaderSeparator,
			MaxHeaderBytes:   pc.MaxHeaderBytes,
			PayloadHeader:    strings.ToLower(*pc.PayloadHeader),
			DynamicMetadata:  *pc.DynamicMetadata,
			FailRPC:          pc.ErrorMode == "rpc_error",
		}
		for _, ts := range pc.TokenSources {
			p.TokenSources = append(p.TokenSources, authz.TokenSource{Header: strings.ToLower(ts.Header), Scheme: ts.Scheme, Cookie: ts.Cookie})
		}
		claims := make([]string, 0, len(pc.Headers))
		for claim := range pc.Headers {
			claims = append(claims, claim)
		}
		sort.Strings(claims)
		for _, claim := range claims {
			p.Headers = append(p.Headers, authz.ClaimHeader{Claim: claim, Header: strings.ToLower(pc.Headers[claim])})
		}
		out = append(out, p)
	}
	return out
}

func answersFrom(cfg *config.Config) *authz.Answers {
	o := cfg.Outcomes
	a := &authz.Answers{Header: strings.ToLower(o.Header), Realm: o.Realm}
	a.ByOutcome[authz.Allow] = authz.Answer{Status: http.StatusOK}
	for out, oc := range map[authz.Outcome]config.Outcome{authz.Missing: o.Missing, authz.Invalid: o.Invalid, authz.Forbidden: o.Forbidden, authz.Error: o.Error} {
		a.ByOutcome[out] = authz.Answer{Status: oc.Status, RetryAfter: oc.RetryAfter}
	}
	return a
}

func newLogger(cfg config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level)) // validated with the config
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}
