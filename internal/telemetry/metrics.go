// Package telemetry is what operators see of authz: Prometheus metrics and
// the decision log. Label values are bounded: no token, user or path ever
// becomes a label.
package telemetry

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authz-dev/authz/internal/buildinfo"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/cache"
)

// Metrics holds authz's collectors in a registry of its own.
type Metrics struct {
	registry      *prometheus.Registry
	policies      atomic.Pointer[map[string]bool]
	routes        atomic.Pointer[map[string]bool]
	decisions     *prometheus.CounterVec
	checkDuration *prometheus.HistogramVec
	inFlight      *prometheus.GaugeVec
	idpRequests   *prometheus.CounterVec
	idpDuration   *prometheus.HistogramVec
	jwksRefreshes *prometheus.CounterVec
	verifications *prometheus.CounterVec
	mints         prometheus.Counter
	refreshes     *prometheus.CounterVec
	redisFaults   *prometheus.CounterVec
	leases        *prometheus.CounterVec
	senderFails   *prometheus.CounterVec
	spansDropped  *prometheus.CounterVec
	results       *prometheus.CounterVec
	idpInFlight   *prometheus.GaugeVec
	jwksSuccess   *prometheus.GaugeVec
	ready         prometheus.Gauge
	panics        *prometheus.CounterVec
	reloads       *prometheus.CounterVec
	configInfo    *prometheus.GaugeVec
	exchanges     *prometheus.CounterVec
	// Each door's series and each result source's, looked up once: a
	// Vec's look-up hashes and checks its label values, a measurable
	// share of a cached Check's CPU on the HTTP door.
	perDoor  map[string]doorSeries
	bySource map[string]prometheus.Counter
	decided  sync.Map // decisionLabels → prometheus.Counter
}

// decisionLabels are one series of authz_decisions_total; policies and
// routes are bounded by the config, so the map of them is too.
type decisionLabels struct{ outcome, policy, route string }

func (m *Metrics) decision(l decisionLabels) prometheus.Counter {
	if c, ok := m.decided.Load(l); ok {
		return c.(prometheus.Counter)
	}
	c := m.decisions.WithLabelValues(l.outcome, l.policy, l.route)
	m.decided.Store(l, c)
	return c
}

// doorSeries are one door's in-flight gauge and latency histogram.
type doorSeries struct {
	inFlight prometheus.Gauge
	duration prometheus.Observer
}

func (m *Metrics) door(name string) doorSeries {
	if s, ok := m.perDoor[name]; ok {
		return s
	}
	return doorSeries{m.inFlight.WithLabelValues(name), m.checkDuration.WithLabelValues(name)}
}

// NewMetrics registers the collectors; policies are the configured policy
// names, the only values the policy label takes (others become "unknown"),
// and doors the doors whose series exist from the start.
func NewMetrics(policies []string, doors []Door) *Metrics {
	names := make([]string, len(doors))
	for i, d := range doors {
		names[i] = d.Name
	}
	m := newMetrics(names)
	m.SetPolicies(policies)
	m.SetRoutes(nil)
	return m
}

// SetPolicies replaces the policy names the policy label may take (a reload).
func (m *Metrics) SetPolicies(names []string) { m.policies.Store(nameSet(names)) }

// SetRoutes replaces the route names the route label may take (a reload):
// the route table bounds the label, and a decision no route chose has "".
func (m *Metrics) SetRoutes(names []string) { m.routes.Store(nameSet(names)) }

func nameSet(names []string) *map[string]bool {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return &set
}

func newMetrics(doorNames []string) *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	latency := []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
	m := &Metrics{
		registry: r,
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_decisions_total", Help: "Decisions by outcome, policy and the route that chose it (\"\" when none did).",
		}, []string{"outcome", "policy", "route"}),
		checkDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authz_check_duration_seconds", Help: "Time to answer a Check, by door.", Buckets: latency,
		}, []string{"door"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "authz_checks_in_flight", Help: "Checks being answered, by door.",
		}, []string{"door"}),
		idpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_idp_requests_total", Help: "Introspection requests by endpoint and result class.",
		}, []string{"endpoint", "result"}),
		idpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authz_idp_request_duration_seconds", Help: "Introspection latency by endpoint.", Buckets: latency,
		}, []string{"endpoint"}),
		jwksRefreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_jwks_refreshes_total", Help: "JWKS fetches by issuer and result (ok or error).",
		}, []string{"issuer", "result"}),
		mints: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authz_upstream_tokens_signed_total", Help: "Identity tokens signed for upstreams: one per token, policy and audience per lifetime when the cache works.",
		}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_jwt_verifications_total", Help: "JWT signature verifications by issuer: the CPU a cache miss costs.",
		}, []string{"issuer"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_refreshes_total", Help: "Background refreshes of hot cached IdP answers, by result (ok or error).",
		}, []string{"result"}),
		redisFaults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_redis_faults_total", Help: "Shared-cache faults by operation; each was answered as a miss.",
		}, []string{"op"}),
		senderFails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_sender_failures_total", Help: "Sender-constrained tokens refused, by reason (dpop_htu, dpop_replay, mtls_binding, …).",
		}, []string{"reason"}),
		spansDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_trace_spans_dropped_total", Help: "Spans not exported, by reason (queue_full, export_failed).",
		}, []string{"reason"}),
	}
	m.results = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authz_token_results_total", Help: "Where each Check's token result came from: local (cache hit), shared (Redis tier) or validated.",
	}, []string{"source"})
	m.idpInFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "authz_idp_requests_in_flight", Help: "Introspection requests waiting on the IdP, by endpoint.",
	}, []string{"endpoint"})
	m.jwksSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "authz_jwks_last_success_timestamp_seconds", Help: "When each issuer's JWKS was last fetched successfully (Unix time).",
	}, []string{"issuer"})
	m.ready = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "authz_ready", Help: "1 while authz reports ready (keys loaded for every issuer), else 0.",
	})
	m.panics = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authz_panics_total", Help: "Panics recovered, by where they happened (check, flight, refresh, grpc, http); each Check answered error.",
	}, []string{"where"})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authz_config_reloads_total", Help: "Config reloads, by result (ok: swapped in; error: refused, the running config kept).",
	}, []string{"result"})
	m.exchanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authz_token_exchanges_total", Help: "Token exchanges (RFC 8693) for upstream tokens, by result (ok, refused, error): one per client token, policy and lifetime when the cache works.",
	}, []string{"result"})
	m.leases = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authz_shared_leases_total", Help: "How this replica's judgements of tokens went with the fleet's leases: led (judged for every replica), followed (took another's verdict), waited_out or abandoned (judged itself after all).",
	}, []string{"outcome"})
	m.configInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "authz_config_info", Help: "1 for the config serving now, labelled with the SHA-256 of its file's content (first 12 hex digits).",
	}, []string{"hash"})
	bi := buildinfo.Read()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "authz_build_info", Help: "1, labelled with the version and commit of the running binary and the Go that built it.",
		ConstLabels: prometheus.Labels{"version": bi.Version, "commit": bi.Commit, "goversion": bi.GoVersion},
	})
	build.Set(1)
	r.MustRegister(build)
	r.MustRegister(m.decisions, m.checkDuration, m.inFlight, m.idpRequests, m.idpDuration, m.jwksRefreshes, m.verifications, m.mints, m.refreshes, m.redisFaults, m.senderFails, m.spansDropped,
		m.results, m.idpInFlight, m.jwksSuccess, m.ready, m.panics, m.reloads, m.configInfo, m.leases, m.exchanges)
	for _, result := range []string{"ok", "refused", "error"} {
		m.exchanges.WithLabelValues(result)
	}
	// Series that exist from the start, at 0, so rates and alerts see them
	// before the first event.
	m.perDoor = make(map[string]doorSeries, len(doorNames))
	for _, door := range doorNames {
		m.perDoor[door] = doorSeries{m.inFlight.WithLabelValues(door), m.checkDuration.WithLabelValues(door)}
	}
	m.bySource = make(map[string]prometheus.Counter, 3)
	for _, src := range []string{"local", "shared", "validated"} {
		m.bySource[src] = m.results.WithLabelValues(src)
	}
	for _, outcome := range []string{"led", "followed", "waited_out", "abandoned"} {
		m.leases.WithLabelValues(outcome)
	}
	for _, op := range []string{"get", "set", "purge", "publish", "bad_value", "set_nx", "lease"} {
		m.redisFaults.WithLabelValues(op)
	}
	for _, reason := range []string{"queue_full", "export_failed"} {
		m.spansDropped.WithLabelValues(reason)
	}
	for _, result := range []string{"ok", "error"} {
		m.refreshes.WithLabelValues(result)
		m.reloads.WithLabelValues(result)
	}
	for _, where := range append([]string{"check", "flight", "refresh"}, doorNames...) {
		m.panics.WithLabelValues(where)
	}
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// Registry is where further collectors go.

func (m *Metrics) checkStarted(door string) { m.door(door).inFlight.Inc() }

func (m *Metrics) checkDone(d *authz.Decision, door string, latency time.Duration) {
	series := m.door(door)
	series.inFlight.Dec()
	policy := d.Policy
	if !(*m.policies.Load())[policy] {
		policy = "unknown"
	}
	route := d.Route
	if !(*m.routes.Load())[route] {
		route = ""
	}
	m.decision(decisionLabels{d.Outcome.String(), policy, route}).Inc()
	if d.TokenID != "" && d.Outcome != authz.Error {
		src := "validated"
		switch {
		case d.Cached:
			src = "local"
		case d.Shared:
			src = "shared"
		}
		m.bySource[src].Inc()
	}
	if d.Sender != "" && d.Outcome != authz.Allow {
		// A fixed set of reasons, written by the sender checks, never by a client.
		m.senderFails.WithLabelValues(d.Sender).Inc()
	}
	series.duration.Observe(latency.Seconds())
}

// ObserveIntrospection records one introspection request.
func (m *Metrics) ObserveIntrospection(endpoint, result string, elapsed time.Duration) {
	m.idpRequests.WithLabelValues(endpoint, result).Inc()
	m.idpDuration.WithLabelValues(endpoint).Observe(elapsed.Seconds())
}

// ObserveJWKSRefresh records one JWKS fetch.
func (m *Metrics) ObserveJWKSRefresh(issuer string, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.jwksRefreshes.WithLabelValues(issuer, result).Inc()
	if err == nil {
		m.jwksSuccess.WithLabelValues(issuer).SetToCurrentTime()
	}
}

// InitIssuer makes an issuer's JWKS series exist before its first fetch.
func (m *Metrics) InitIssuer(issuer string) {
	m.jwksRefreshes.WithLabelValues(issuer, "ok")
	m.jwksRefreshes.WithLabelValues(issuer, "error")
	m.verifications.WithLabelValues(issuer)
}

// InitEndpoint makes an introspection endpoint's series exist before its
// first request.
func (m *Metrics) InitEndpoint(endpoint string, results []string) {
	for _, r := range results {
		m.idpRequests.WithLabelValues(endpoint, r)
	}
	m.idpInFlight.WithLabelValues(endpoint)
}

// IntrospectionsInFlight returns the function that moves an endpoint's
// in-flight gauge. The series is made on first use, not here: a core being
// built for a reload that may be refused adds no series.
func (m *Metrics) IntrospectionsInFlight(endpoint string) func(delta int) {
	return func(delta int) { m.idpInFlight.WithLabelValues(endpoint).Add(float64(delta)) }
}

// SetReady records readiness.
func (m *Metrics) SetReady(ok bool) {
	if ok {
		m.ready.Set(1)
	} else {
		m.ready.Set(0)
	}
}

// JWTVerifications returns the function that counts an issuer's signature
// verifications, its label resolved once.
func (m *Metrics) JWTVerifications(issuer string) func() {
	// Made on first use (a core built for a refused reload adds no
	// series), then held: this runs on every signature check.
	counter := sync.OnceValue(func() prometheus.Counter { return m.verifications.WithLabelValues(issuer) })
	return func() { counter().Inc() }
}

// UpstreamTokenSigned counts one identity token signed for an upstream.
func (m *Metrics) UpstreamTokenSigned() { m.mints.Inc() }

// ObserveExchange records one token exchange (RFC 8693) by result: ok,
// refused (the authorization server said no) or error.
func (m *Metrics) ObserveExchange(result string, _ time.Duration) {
	m.exchanges.WithLabelValues(result).Inc()
}

// ObserveRefresh records one background refresh of a hot cached answer.
func (m *Metrics) ObserveRefresh(err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.refreshes.WithLabelValues(result).Inc()
}

// ObserveLease records how a lease on judging a token ended here.
func (m *Metrics) ObserveLease(outcome string) { m.leases.WithLabelValues(outcome).Inc() }

// ObserveRedisFault records a shared-cache fault.
func (m *Metrics) ObserveRedisFault(op string) { m.redisFaults.WithLabelValues(op).Inc() }

// WatchCache exports the caches' counters, read at scrape time: stats for
// valid tokens (and validations), neg for the invalid-token cache.
func (m *Metrics) WatchCache(stats, neg, upstream func() cache.Stats) {
	m.registry.MustRegister(&cacheCollector{stats: stats, neg: neg, upstream: upstream})
}

var (
	cacheHits      = prometheus.NewDesc("authz_cache_hits_total", "Result cache hits.", nil, nil)
	cacheMisses    = prometheus.NewDesc("authz_cache_misses_total", "Result cache misses.", nil, nil)
	cacheEvictions = prometheus.NewDesc("authz_cache_evictions_total", "Entries evicted to stay under max_bytes.", nil, nil)
	cacheCost      = prometheus.NewDesc("authz_cache_cost_bytes", "Bytes the cached results are charged.", nil, nil)
	cacheLoads     = prometheus.NewDesc("authz_validations_total", "Validations run (cache misses that were not collapsed).", nil, nil)
	cacheCollapsed = prometheus.NewDesc("authz_validations_collapsed_total", "Checks that shared another Check's in-flight validation.", nil, nil)
	cacheWaiting   = prometheus.NewDesc("authz_validations_waiting", "Checks waiting now on a validation, their own or another's in flight (a slow IdP shows here first).", nil, nil)
	negativeCost   = prometheus.NewDesc("authz_negative_cache_cost_bytes", "Bytes the cached invalid results are charged.", nil, nil)
	negativeHits   = prometheus.NewDesc("authz_negative_cache_hits_total", "Checks answered invalid from the negative cache.", nil, nil)
	upstreamCost   = prometheus.NewDesc("authz_upstream_token_cache_cost_bytes", "Bytes the cached upstream tokens are charged (bounded at cache.max_bytes/8).", nil, nil)
	upstreamHits   = prometheus.NewDesc("authz_upstream_token_cache_hits_total", "Checks handed a cached upstream token rather than a new signature.", nil, nil)
)

type cacheCollector struct{ stats, neg, upstream func() cache.Stats }

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cacheHits, cacheMisses, cacheEvictions, cacheCost, cacheLoads, cacheCollapsed, cacheWaiting, negativeCost, negativeHits, upstreamCost, upstreamHits} {
		ch <- d
	}
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	ch <- prometheus.MustNewConstMetric(cacheHits, prometheus.CounterValue, float64(s.Hits))
	ch <- prometheus.MustNewConstMetric(cacheMisses, prometheus.CounterValue, float64(s.Misses))
	ch <- prometheus.MustNewConstMetric(cacheEvictions, prometheus.CounterValue, float64(s.Evictions))
	ch <- prometheus.MustNewConstMetric(cacheCost, prometheus.GaugeValue, float64(s.Cost))
	ch <- prometheus.MustNewConstMetric(cacheLoads, prometheus.CounterValue, float64(s.Loads))
	ch <- prometheus.MustNewConstMetric(cacheCollapsed, prometheus.CounterValue, float64(s.Collapsed))
	ch <- prometheus.MustNewConstMetric(cacheWaiting, prometheus.GaugeValue, float64(s.Waiting))
	n := c.neg()
	ch <- prometheus.MustNewConstMetric(negativeCost, prometheus.GaugeValue, float64(n.Cost))
	ch <- prometheus.MustNewConstMetric(negativeHits, prometheus.CounterValue, float64(n.Hits))
	u := c.upstream()
	ch <- prometheus.MustNewConstMetric(upstreamCost, prometheus.GaugeValue, float64(u.Cost))
	ch <- prometheus.MustNewConstMetric(upstreamHits, prometheus.CounterValue, float64(u.Hits))
}

// ObserveSpansDropped counts spans the exporter could not send.
func (m *Metrics) ObserveSpansDropped(reason string, n int) {
	m.spansDropped.WithLabelValues(reason).Add(float64(n))
}

// ObservePanic counts a recovered panic.
func (m *Metrics) ObservePanic(where string) { m.panics.WithLabelValues(where).Inc() }

// ObserveReload counts a reload: result ok or error.
func (m *Metrics) ObserveReload(result string) { m.reloads.WithLabelValues(result).Inc() }

// SetConfig marks the config serving now by its content hash.
func (m *Metrics) SetConfig(hash string) {
	m.configInfo.Reset()
	m.configInfo.WithLabelValues(hash).Set(1)
}
