package server

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/authz/apikey"
	"github.com/authz-dev/authz/authz/introspect"
	"github.com/authz-dev/authz/authz/jwt"
	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/rediscache"
	"github.com/authz-dev/authz/internal/resourcemeta"
	"github.com/authz-dev/authz/internal/route"
	"github.com/authz-dev/authz/internal/rules"
	"github.com/authz-dev/authz/internal/sender"
	"github.com/authz-dev/authz/internal/telemetry"
	"github.com/authz-dev/authz/internal/tracing"
	"github.com/authz-dev/authz/internal/upstreamtoken"
)

// core is the authorizer and the parts it owns. A reload builds a new core
// beside the running one, taking over what did not change.
type core struct {
	cfg      *config.Config
	auth     *authz.Authorizer
	observer *telemetry.Observer
	keys     map[string]*jwt.Keys // by issuer name
	// keyFiles are the SHA-256 digests of the issuers' jwks_file contents
	// at build time, by issuer name: a key removed from the file is a
	// changed key set, whatever the path.
	keyFiles      map[string]string
	issuers       []*jwt.Issuer
	introspectors map[string]*introspect.Client
	apiKeys       map[string]*apikey.Validator
	shared        *rediscache.Cache
	// published is the public side of authz's signing keys, served on
	// the HTTP listener; nil without upstream_tokens.
	published *upstreamtoken.Published
	// resources are the protected resources' metadata documents (RFC
	// 9728), served on the HTTP listener.
	resources *resourcemeta.Set
	// replay remembers used DPoP proofs; a reload keeps it, or a proof
	// used just before the reload would pass again after it.
	replay *sender.Replay
	// commit makes this core's settings the running ones; called once it
	// serves (see buildCore).
	commit func()
}

// Close stops everything the core owns (at shutdown).
func (c *core) Close() {
	c.retire(nil)
	if c.auth != nil {
		c.auth.Close()
	}
}

// retire stops the parts of c that next did not take over. The caches
// always pass to the next core.
func (c *core) retire(next *core) {
	for name, k := range c.keys {
		if next == nil || next.keys[name] != k {
			k.Close()
		}
	}
	for _, in := range c.introspectors {
		in.Close()
	}
	for _, k := range c.apiKeys {
		k.Close()
	}
	if c.shared != nil && (next == nil || next.shared != c.shared) {
		c.shared.Close()
	}
}

// buildCore turns a validated config into a running authorizer; key sets
// start fetching here. With prev (a reload), key sets whose source did not
// change, the shared tier if its settings did not change, and the caches
// are taken over from prev. A new shared tier sends purges from other
// replicas to forget, which must reach whichever core serves then.
func buildCore(cfg *config.Config, log *slog.Logger, m *telemetry.Metrics, traces *tracing.Provider, prev *core, forget func([sha256.Size]byte)) (c *core, err error) {
	minter, published, err := mintFrom(cfg, m)
	if err != nil {
		return nil, err
	}
	resources, err := resourcesFrom(cfg, minter)
	if err != nil {
		return nil, err
	}
	router, err := routerFrom(cfg)
	if err != nil {
		return nil, err
	}
	// One set of answers: the core answers with it, the observer reads
	// statuses from it for spans.
	answers := AnswersFrom(cfg)
	building := &core{
		cfg:           cfg,
		observer:      telemetry.NewObserver(log, m, telemetry.LogOptions{Allow: cfg.Log.Allow, AllowSample: *cfg.Log.AllowSample, Claims: cfg.Log.Claims}, traces, answers, doors()),
		keys:          map[string]*jwt.Keys{},
		keyFiles:      keyFileDigests(cfg),
		introspectors: map[string]*introspect.Client{},
		published:     published,
		resources:     resources,
	}
	c = building
	defer func() {
		// Not c: "return nil, err" has set it to nil by now.
		if err != nil {
			building.retire(prev) // what was taken over stays with prev
		}
	}()
	// The shared tier first: upstream steps share what they make through it.
	if err := c.connectShared(cfg, prev, log, m, traces); err != nil {
		return nil, err
	}
	policies, err := policiesFrom(cfg, minter, m, c.shared)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(policies))
	for i, p := range policies {
		names[i] = p.Name
	}
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	validators, err := c.buildIntrospectors(cfg, client, log, traces, m)
	if err != nil {
		return nil, err
	}
	set, err := c.buildIssuers(cfg, prev, client, validators, log, traces, m)
	if err != nil {
		return nil, err
	}
	if err := c.buildAPIKeys(cfg, log); err != nil {
		return nil, err
	}
	opts := c.coreOptions(cfg, policies, validators, answers, router, set, prev, log, m)
	if c.shared != nil { // a nil *Cache would make the interface non-nil
		opts.Shared = c.shared
	}
	opts.APIKeys = c.apiKeyValidators(cfg)
	checks, err := c.senderChecks(cfg, prev, log)
	if err != nil {
		return nil, err
	}
	opts.Sender = checks
	opts.Answers.DPoPAlgorithms = checks.Algorithms()
	if c.auth, err = authz.New(opts); err != nil {
		return nil, err
	}
	if c.shared != nil && (prev == nil || prev.shared != c.shared) {
		c.shared.Subscribe(forget)
	}
	c.commit = c.committer(cfg, m, names)
	return c, nil
}

// senderChecks builds the DPoP and certificate-binding checks. The replay
// set passes from prev when its span and bound did not change; it asks the
// shared tier too, when there is one, so a proof used at one replica is a
// replay at all.
func (c *core) senderChecks(cfg *config.Config, prev *core, log *slog.Logger) (*sender.Checks, error) {
	dc := cfg.DPoP
	if prev != nil && prev.replay != nil && reflect.DeepEqual(prev.cfg.DPoP, dc) && prev.shared == c.shared {
		c.replay = prev.replay
	} else {
		ro := dc.ReplayOptions()
		// Each refused proof is counted (dpop_key_flood); the log hears of
		// a flood once a span.
		ro.OnFlood = func(jkt string, n int) {
			log.Warn("one DPoP key fills its share of the replay set; its proofs are refused",
				"jkt", jkt[:min(len(jkt), 12)], "entries", n)
		}
		// A fault of the shared tier is counted and logged (rate-limited)
		// by the tier itself, as op set_nx.
		if c.shared != nil {
			ro.Shared = c.shared
		}
		c.replay = sender.NewReplay(ro)
	}
	return sender.New(dc.Options(c.replay))
}

// watchedFiles are the files a reload reads besides the config itself.
func (c *core) watchedFiles() []string {
	var out []string
	for _, is := range c.cfg.Issuers {
		if is.JWKSFile != "" {
			out = append(out, is.JWKSFile)
		}
	}
	return append(out, c.cfg.UpstreamTokens.KeyFiles...)
}

func newShared(rc config.Redis, log *slog.Logger, m *telemetry.Metrics, traces *tracing.Provider) (*rediscache.Cache, error) {
	var tlsCfg *tls.Config
	if rc.TLS {
		var err error
		if tlsCfg, err = ClientTLS(rc.CAFile, rc.CertFile, rc.KeyFile); err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		if tlsCfg == nil {
			tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	return rediscache.New(rediscache.Options{
		Mode: rc.Mode, Addrs: rc.Nodes(), MasterName: rc.MasterName, SentinelPassword: rc.SentinelPass,
		ReadReplicas: rc.RouteReads == "replicas",
		Username:     rc.Username, Password: rc.Pass, DB: rc.DB, TLS: tlsCfg,
		Prefix: rc.Prefix, Timeout: rc.Timeout, PoolSize: rc.PoolSize, Salt: rc.Salt,
		Logger:  log.With("cache", "redis"),
		OnFault: m.ObserveRedisFault,
		Tracer:  traces.Tracer(),
		Lease:   *rc.Lease,
		OnLease: m.ObserveLease,
	})
}

// readiness says what being ready means for this config.
func (c *core) readiness() string {
	if len(c.cfg.Issuers) == 0 && len(c.cfg.Introspection) == 0 {
		return "no issuers or introspection endpoints are configured, so no token is valid: only token: none policies allow"
	}
	return "keys loaded for every issuer"
}

// waitReady returns once every issuer's keys have loaded, or ctx's error.
func (c *core) waitReady(ctx context.Context) error {
	for name, k := range c.keys {
		select {
		case <-k.Ready():
		case <-ctx.Done():
			return fmt.Errorf("keys of issuer %s not loaded: %w", name, ctx.Err())
		}
	}
	return nil
}

// refreshObserver counts background refreshes and logs failures, at most
// once per 10 s: during an IdP outage every hot token fails its refresh,
// and the answers it keeps serving until their TTL ends are the point.
func refreshObserver(log *slog.Logger, m *telemetry.Metrics) func(error) {
	var last atomic.Int64
	return func(err error) {
		m.ObserveRefresh(err)
		if err == nil {
			return
		}
		now := time.Now().UnixNano()
		if prev := last.Load(); now-prev >= int64(10*time.Second) && last.CompareAndSwap(prev, now) {
			log.Warn("refresh ahead failed; the cached answer serves until its TTL ends", "err", err)
		}
	}
}

// routerFrom compiles the route table; nil when there are no routes.
func routerFrom(cfg *config.Config) (*route.Table, error) {
	if len(cfg.Routes) == 0 {
		return nil, nil
	}
	routes := make([]route.Route, len(cfg.Routes))
	for i, r := range cfg.Routes {
		routes[i] = r.Spec()
	}
	return route.New(routes)
}

func policiesFrom(cfg *config.Config, minter *upstreamtoken.Minter, m *telemetry.Metrics, shared *rediscache.Cache) ([]*authz.Policy, error) {
	names := slices.Sorted(maps.Keys(cfg.Policies))
	out := make([]*authz.Policy, 0, len(names))
	for _, name := range names {
		pc := cfg.Policies[name]
		// The config's checks parsed these already, with the same tables.
		errorMode, _ := authz.ParseErrorMode(pc.ErrorMode)
		token, _ := authz.ParseTokenMode(pc.Token)
		sender, _ := authz.ParseSenderConstraint(pc.SenderConstraint)
		p := &authz.Policy{
			Name:             name,
			Validators:       pc.Validators,
			RequireScopes:    pc.RequireScopes,
			RequireAudiences: pc.RequireAudiences,
			HeaderSeparator:  *pc.HeaderSeparator,
			MaxHeaderBytes:   pc.MaxHeaderBytes,
			PayloadHeader:    *pc.PayloadHeader,
			DynamicMetadata:  *pc.DynamicMetadata,
			ErrorMode:        errorMode,
			Token:            token,
			SenderConstraint: sender,
		}
		if len(pc.Rules) > 0 {
			rs := make([]rules.Rule, len(pc.Rules))
			for i, r := range pc.Rules {
				rs[i] = rules.Rule{Name: r.Name, Expr: r.Expr}
			}
			set, err := rules.Compile(rs)
			if err != nil {
				return nil, fmt.Errorf("policy %s: %w", name, err)
			}
			p.Rules = set
		}
		for _, ts := range pc.TokenSources {
			p.TokenSources = append(p.TokenSources, authz.TokenSource{Header: ts.Header, Scheme: ts.Scheme, Cookie: ts.Cookie, APIKeys: ts.APIKeys})
		}
		for _, claim := range slices.Sorted(maps.Keys(pc.Headers)) {
			p.Headers = append(p.Headers, authz.ClaimHeader{Claim: claim, Header: pc.Headers[claim]})
		}
		if r := pc.Resource; r != nil {
			// Validated with the config: the identifier is canonical-able.
			p.Resource, _ = authz.CanonicalResource(r.ID)
			p.ResourceMetadata = r.MetadataURL()
		}
		step, err := upstreamStep(cfg, name, pc.UpstreamToken, minter, m, shared)
		if err != nil {
			return nil, fmt.Errorf("policy %s: upstream_token: %w", name, err)
		}
		if step != nil {
			p.Upstream = append(p.Upstream, step)
		}
		out = append(out, p)
	}
	return out, nil
}

// AnswersFrom is how the doors answer each outcome under cfg: the one
// table the core answers with and explain reads.
func AnswersFrom(cfg *config.Config) *authz.Answers {
	o := cfg.Outcomes
	a := authz.DefaultAnswers()
	if o.Header != "" {
		a.OutcomeHeader = strings.ToLower(o.Header)
	}
	if o.Realm != "" {
		a.Realm = o.Realm
	}
	if s := cfg.HTTP.AllowStatus; s != 0 {
		a.ByOutcome[authz.Allow].Status = s
	}
	a.ProxyCache = cfg.HTTP.ProxyCacheMax > 0
	for out, oc := range map[authz.Outcome]config.Outcome{authz.Missing: o.Missing, authz.Invalid: o.Invalid, authz.Forbidden: o.Forbidden, authz.Error: o.Error} {
		if oc.Status != 0 {
			a.ByOutcome[out].Status = oc.Status
		}
		a.ByOutcome[out].RetryAfter = oc.RetryAfter
	}
	return a
}

// NewLogger is the process logger the config asks for.
func NewLogger(cfg config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level)) // validated with the config
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// routeNames are the route table's names, the values the route label of
// authz_decisions_total may take.
func routeNames(cfg *config.Config) []string {
	out := make([]string, len(cfg.Routes))
	for i, r := range cfg.Routes {
		out[i] = r.Name
	}
	return out
}

// resourcesFrom renders the metadata of every resource a policy guards;
// policies that share a resource share its document.
func resourcesFrom(cfg *config.Config, minter *upstreamtoken.Minter) (*resourcemeta.Set, error) {
	var entries []resourcemeta.Entry
	seen := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(cfg.Policies)) {
		r := cfg.Policies[name].Resource
		if r == nil || seen[r.MetadataPath()] {
			continue
		}
		seen[r.MetadataPath()] = true
		doc := resourcemeta.Document{
			Resource: r.ID, AuthorizationServers: r.AuthorizationServers, ScopesSupported: r.ScopesSupported,
			BearerMethodsSupported: r.BearerMethodsSupported, ResourceName: r.Name, ResourceDocumentation: r.Documentation,
		}
		if r.SignedMetadata && minter != nil { // validated: signed metadata has a minter
			signed, err := resourcemeta.Sign(doc, minter.Issuer, time.Now(), minter.Keys.Active().Sign)
			if err != nil {
				return nil, fmt.Errorf("resource %s: sign metadata: %w", r.ID, err)
			}
			doc.SignedMetadata = signed
		}
		entries = append(entries, resourcemeta.Entry{Path: r.MetadataPath(), MaxAge: r.MaxAge, Document: doc})
	}
	return resourcemeta.New(entries)
}
