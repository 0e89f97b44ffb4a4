package server

import (
	"log/slog"
	"reflect"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/authz/introspect"
	"github.com/authz-dev/authz/authz/jwt"
	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/route"
	"github.com/authz-dev/authz/internal/telemetry"
	"github.com/authz-dev/authz/internal/tracing"
)

// coreOptions are the core's options under cfg: the policies, the
// validators, the caches' bounds and lifetimes, and what takes over from
// prev.
func (c *core) coreOptions(cfg *config.Config, policies []*authz.Policy, validators map[string]authz.Validator, answers *authz.Answers, router *route.Table, set *jwt.Set, prev *core, log *slog.Logger, m *telemetry.Metrics) authz.Options {
	opts := authz.Options{
		Policies:              policies,
		CacheMaxBytes:         cfg.Cache.MaxBytes,
		NegativeMaxBytes:      cfg.Cache.NegativeMaxBytes,
		TTL:                   cfg.Cache.TTL,
		NegativeTTL:           *cfg.Cache.NegativeTTL,
		NamedValidators:       validators,
		Answers:               answers,
		Fingerprints:          fingerprints(cfg, c.keyFiles),
		Unmatched:             cfg.Routing.Unmatched,
		RefreshAhead:          cfg.Cache.RefreshAheadFraction,
		OnRefresh:             refreshObserver(log, m),
		KeepEncodedSeparators: cfg.Routing.EncodedSlashes == "keep",
		StrictUpstreamPaths:   cfg.Routing.UpstreamPaths == "strict",
		ProxyCacheMax:         cfg.HTTP.ProxyCacheMax,
		OnPanic:               telemetry.PanicReporter(log, m),
	}
	if router != nil {
		opts.Router = router
	}
	if prev != nil {
		opts.Reuse = prev.auth
	}
	if len(c.issuers) > 0 {
		opts.JWT = set
	}
	return opts
}

// connectShared connects the shared tier, or keeps prev's when its
// settings did not change.
func (c *core) connectShared(cfg *config.Config, prev *core, log *slog.Logger, m *telemetry.Metrics, traces *tracing.Provider) (err error) {
	if rc := cfg.Cache.Redis; rc.Enabled() {
		if prev != nil && prev.shared != nil && reflect.DeepEqual(prev.cfg.Cache.Redis, rc) {
			c.shared = prev.shared
		} else if c.shared, err = newShared(rc, log, m, traces); err != nil {
			return err
		}
	}
	return nil
}

// committer is what changes state the running core shares once this core
// serves.
func (c *core) committer(cfg *config.Config, m *telemetry.Metrics, names []string) func() {
	// What changes state the running core shares (its caches' bounds, the
	// metrics' label sets) waits until this core serves: a reload that is
	// refused leaves them as they were.
	return func() {
		c.auth.Commit()
		m.SetPolicies(names)
		m.SetRoutes(routeNames(cfg))
		for _, ic := range cfg.Introspection {
			m.InitEndpoint(ic.Name, introspect.Results)
		}
		for _, ic := range cfg.Issuers {
			m.InitIssuer(ic.Name)
		}
		m.SetConfig(cfg.Hash)
	}
}
