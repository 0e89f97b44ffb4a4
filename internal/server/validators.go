package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/authz/apikey"
	"github.com/authz-dev/authz/authz/introspect"
	"github.com/authz-dev/authz/authz/jwt"
	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/rediscache"
	"github.com/authz-dev/authz/internal/telemetry"
	"github.com/authz-dev/authz/internal/tracing"
)

// buildIntrospectors makes a client of each introspection endpoint; they
// judge opaque tokens by name, and JWTs whose issuer sets introspect.
func (c *core) buildIntrospectors(cfg *config.Config, client *http.Client, log *slog.Logger, traces *tracing.Provider, m *telemetry.Metrics) (map[string]authz.Validator, error) {
	validators := map[string]authz.Validator{}
	for _, ic := range cfg.Introspection {
		tlsCfg, err := ClientTLS(ic.CAFile, ic.CertFile, ic.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("introspection %s: %w", ic.Name, err)
		}
		statements, err := c.signedAnswers(ic, client, log, traces, m)
		if err != nil {
			return nil, fmt.Errorf("introspection %s: %w", ic.Name, err)
		}
		opts := introspect.Options{
			Tracer:           traces.Tracer(),
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
			TokenTypes:       ic.TokenTypes,
			Observe: func(result string, elapsed time.Duration) {
				m.ObserveIntrospection(ic.Name, result, elapsed)
			},
			InFlight: m.IntrospectionsInFlight(ic.Name),
		}
		if statements != nil { // a nil *jwt.Statements would make the interface non-nil
			opts.Signed = statements
		}
		in, err := introspect.New(opts)
		if err != nil {
			return nil, err
		}
		c.introspectors[ic.Name] = in
		validators[ic.Name] = in
	}
	return validators, nil
}

// buildIssuers makes each trusted issuer, keeping prev's keys where their
// source did not change (a reload does not refetch a JWKS it has).
func (c *core) buildIssuers(cfg *config.Config, prev *core, client *http.Client, validators map[string]authz.Validator, log *slog.Logger, traces *tracing.Provider, m *telemetry.Metrics) (*jwt.Set, error) {
	var err error
	for _, ic := range cfg.Issuers {
		keys := prev.sameKeys(ic, c.keyFiles[ic.Name])
		if keys == nil {
			fetch := client
			if ic.Kubernetes != nil && ic.JWKSURL != "" {
				if fetch, err = kubernetesClient(ic.Kubernetes); err != nil {
					return nil, fmt.Errorf("issuer %s: %w", ic.Name, err)
				}
			}
			keys, err = jwt.NewKeys(jwt.KeysOptions{
				Tracer:     traces.Tracer(),
				URL:        ic.JWKSURL,
				Discovery:  ic.Discovery,
				Issuer:     ic.Issuer,
				File:       ic.JWKSFile,
				Refresh:    ic.RefreshInterval,
				MinRefresh: ic.MinRefreshInterval,
				Timeout:    ic.Timeout,
				Client:     fetch,
				Logger:     log.With("issuer", ic.Name),
				OnRefresh:  func(err error) { m.ObserveJWKSRefresh(ic.Name, err) },
			})
			if err != nil {
				return nil, fmt.Errorf("issuer %s: %w", ic.Name, err)
			}
		}
		c.keys[ic.Name] = keys
		algs := make([]jose.SignatureAlgorithm, len(ic.Algorithms))
		for i, a := range ic.Algorithms {
			algs[i] = jose.SignatureAlgorithm(a)
		}
		is, err := jwt.NewIssuer(jwt.IssuerOptions{
			Name:        ic.Name,
			Issuer:      ic.Issuer,
			Tenants:     ic.Tenants,
			Kubernetes:  ic.Kubernetes != nil,
			Audiences:   ic.Audiences,
			Algorithms:  algs,
			Leeway:      *ic.Leeway,
			RequireType: ic.Type,
			Keys:        keys,
			OnVerify:    m.JWTVerifications(ic.Name),
			Introspect:  validators[ic.Introspect], // nil when unset
		})
		if err != nil {
			return nil, err
		}
		c.issuers = append(c.issuers, is)
	}
	return jwt.NewSet(c.issuers...)
}

// buildAPIKeys loads each file-backed api_keys validator's key file and
// starts watching it.
func (c *core) buildAPIKeys(cfg *config.Config, log *slog.Logger) error {
	c.apiKeys = map[string]*apikey.Validator{}
	for _, k := range cfg.APIKeys {
		if k.File == "" {
			continue
		}
		v, err := apikey.New(apikey.Options{Name: k.Name, File: k.File, Logger: log})
		if err != nil {
			return err
		}
		c.apiKeys[k.Name] = v
	}
	return nil
}

// apiKeyValidators are the API-key validators as the core takes them:
// the files', and the Redis hashes' of the shared tier (validated: it is
// there when a validator names one).
func (c *core) apiKeyValidators(cfg *config.Config) map[string]authz.Validator {
	out := make(map[string]authz.Validator, len(cfg.APIKeys))
	for _, k := range cfg.APIKeys {
		switch {
		case k.RedisKey != "" && c.shared != nil:
			out[k.Name] = &apikey.StoreValidator{Name: k.Name, Store: redisKeyStore{c.shared, k.RedisKey}}
		case c.apiKeys[k.Name] != nil:
			out[k.Name] = c.apiKeys[k.Name]
		}
	}
	return out
}

// redisKeyStore is an API-key store in a hash of the shared tier.
type redisKeyStore struct {
	c   *rediscache.Cache
	key string
}

func (s redisKeyStore) Lookup(ctx context.Context, hash string) ([]byte, bool, error) {
	return s.c.HashField(ctx, s.key, hash)
}
