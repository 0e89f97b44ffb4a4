package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/testsupport"
)

func (h *harness) reload(cfg *config.Config) error {
	h.t.Helper()
	c := *cfg // the listeners change below; the caller's value stays as it is
	if err := config.Complete(&c); err != nil {
		h.t.Fatalf("config: %v", err)
	}
	// Keep the listeners the harness started with (port 0 → real ports).
	c.GRPC, c.HTTP, c.Admin = h.srv.cfg.GRPC, h.srv.cfg.HTTP, h.srv.cfg.Admin
	return h.srv.Reload(&c)
}

func TestReloadSwapsConfigWithoutFailingAnInFlightCheck(t *testing.T) {
	t.Parallel()
	h := start(t)
	tok := h.mint("rsa-1", h.validClaims())
	expired := h.mint("rsa-1", h.idp.Claims("old", -time.Hour, "", "orders-api"))

	var stop atomic.Bool
	var checks, failures atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				resp, err := h.client.Check(ctx, newCheckRequest(withToken(tok)))
				cancel()
				checks.Add(1)
				if err != nil || read(resp).Outcome != "allow" {
					failures.Add(1)
				}
			}
		}()
	}
	subject := baseConfig(h.idp)
	subject.Policies["default"].Headers["sub"] = "x-subject"
	subject.Outcomes.Invalid.Status = 403
	variants := []struct {
		cfg           *config.Config
		header        string
		invalidStatus int
	}{
		{subject, "x-subject", 403},
		{baseConfig(h.idp), "x-user-id", 401},
	}
	for i := range 6 {
		v := variants[i%2]
		if err := h.reload(v.cfg); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		o := h.expect(h.check(withToken(tok)), "allow", 200)
		if o.Headers[v.header] != "alice" {
			t.Errorf("reload %d: %s = %q, want alice", i, v.header, o.Headers[v.header])
		}
		h.expect(h.check(withToken(expired)), "invalid", v.invalidStatus)
		// Checks in flight across this config before the next reload.
		n := checks.Load()
		testsupport.WaitFor(t, "Checks on this config", func() bool { return checks.Load() >= n+8 })
	}
	stop.Store(true)
	wg.Wait()
	if failures.Load() > 0 || checks.Load() == 0 {
		t.Errorf("%d of %d Checks failed across 6 reloads", failures.Load(), checks.Load())
	}
}

func TestReloadKeepsTheCacheWhereItStillMeansTheSame(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	h := startIntrospect(t, idp, introspectConfig(idp))
	jwtTok := h.mint("rsa-1", h.validClaims())
	opaque := h.opaque("olive", time.Hour)
	h.expect(h.check(withToken(jwtTok)), "allow", 200)
	h.expect(h.check(withToken(opaque)), "allow", 200)
	loads := func() int64 { return h.srv.current().auth.CacheStats().Loads }
	base := loads()

	// Only an outcome status changes: every cached result still holds.
	cfg := introspectConfig(idp)
	cfg.Outcomes.Error.Status = 502
	if err := h.reload(cfg); err != nil {
		t.Fatal(err)
	}
	h.expect(h.check(withToken(jwtTok)), "allow", 200)
	h.expect(h.check(withToken(opaque)), "allow", 200)
	if got := loads() - base; got != 0 {
		t.Errorf("%d revalidations after a reload that changed no validator", got)
	}

	// The introspection endpoint's settings change: opaque results are
	// judged again, JWT results stay.
	n := idp.Introspections()
	cfg = introspectConfig(idp)
	cfg.Introspection[0].Timeout = 400 * time.Millisecond
	if err := h.reload(cfg); err != nil {
		t.Fatal(err)
	}
	h.expect(h.check(withToken(jwtTok)), "allow", 200)
	h.expect(h.check(withToken(opaque)), "allow", 200)
	if got := loads() - base; got != 1 {
		t.Errorf("%d revalidations, want 1 (the opaque token only)", got)
	}
	if idp.Introspections() != n+1 {
		t.Errorf("the opaque token was not introspected again")
	}

	// The issuer's audiences change to exclude the token: its cached allow
	// must not outlive the settings it was judged under.
	cfg = introspectConfig(idp)
	cfg.Issuers[0].Audiences = []string{"billing-api"}
	if err := h.reload(cfg); err != nil {
		t.Fatal(err)
	}
	h.expect(h.check(withToken(jwtTok)), "invalid", 401)
}

func TestReloadWaitsForNewKeysAndRejectsWhatCannotLoad(t *testing.T) {
	t.Parallel()
	h := start(t)
	tok := h.mint("rsa-1", h.validClaims())
	dead := newIdP(t)
	deadURL := dead.JWKSURL()
	dead.Close()
	h.srv.reloadReady = 300 * time.Millisecond
	cfg := baseConfig(h.idp)
	cfg.Issuers[0].JWKSURL = deadURL
	err := h.reload(cfg)
	if err == nil {
		t.Fatal("a config whose keys cannot load was swapped in")
	}
	h.expect(h.check(withToken(tok)), "allow", 200) // the old config serves on
}

// A reload refused after it was built (its keys never load) leaves the
// running core as it was: cache bounds, metric label sets, the config info.
func TestARefusedReloadChangesNothing(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	cfg := baseConfig(idp)
	cfg.Hash = "0123456789ab"
	h := startWith(t, idp, cfg)
	h.waitServing()
	before := h.srv.current().auth.CacheStats().MaxBytes
	h.srv.reloadReady = 300 * time.Millisecond

	dead := newIdP(t)
	deadURL := dead.JWKSURL()
	dead.Close()
	next := baseConfig(idp)
	next.Hash = "ba9876543210"
	next.Issuers[0].JWKSURL = deadURL
	next.Cache.MaxBytes = before / 4
	next.Policies["only-in-next"] = config.Policy{}
	next.Introspection = []config.Introspection{{Name: "next-ep", Endpoint: idp.IntrospectionURL(), ClientID: "authz", ClientSecret: "s3cret"}}
	if err := h.reload(next); err == nil {
		t.Fatal("a config whose keys cannot load was swapped in")
	}
	if got := h.srv.current().auth.CacheStats().MaxBytes; got != before {
		t.Errorf("the refused reload resized the cache: %d, was %d", got, before)
	}
	h.expect(h.check(withPolicy("only-in-next")), "error", 503)
	if n := h.metric(`authz_decisions_total{outcome="error",policy="only-in-next",route=""}`); n != 0 {
		t.Error("the refused reload's policy names reached the metrics")
	}
	if n := h.metric(`authz_idp_requests_in_flight{endpoint="next-ep"}`); n != 0 || strings.Contains(h.metricsText(), `endpoint="next-ep"`) {
		t.Error("the refused reload's endpoint has series")
	}
	if h.metric(`authz_config_info{hash="0123456789ab"}`) != 1 || strings.Contains(h.metricsText(), "ba9876543210") {
		t.Error("authz_config_info does not name the running config alone")
	}
	if h.metric(`authz_config_reloads_total{result="error"}`) != 1 || h.metric(`authz_config_reloads_total{result="ok"}`) != 0 {
		t.Error("the refused reload is not counted")
	}

	// A reload that succeeds commits all of it.
	next.Issuers[0].JWKSURL = idp.JWKSURL()
	if err := h.reload(next); err != nil {
		t.Fatal(err)
	}
	if got := h.srv.current().auth.CacheStats().MaxBytes; got != before/4 {
		t.Errorf("after the reload the cache bound is %d, want %d", got, before/4)
	}
	if h.metric(`authz_config_info{hash="ba9876543210"}`) != 1 || h.metric(`authz_config_reloads_total{result="ok"}`) != 1 {
		t.Error("the reload is not reflected in the metrics")
	}
}

func TestTLSCertificateRotation(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile := filepath.Join(dir, "srv.pem"), filepath.Join(dir, "srv.key")
	issue := func(cn string) {
		c, k := ca.issue(t, cn, x509.ExtKeyUsageServerAuth)
		os.WriteFile(certFile, c, 0o600)
		os.WriteFile(keyFile, k, 0o600)
	}
	issue("authz-one")
	idp := newIdP(t)
	cfg := baseConfig(idp)
	cfg.GRPC.TLS = config.TLS{CertFile: certFile, KeyFile: keyFile}
	h := startWith(t, idp, cfg)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.pem)
	served := func() string {
		var cn string
		tlsCfg := &tls.Config{RootCAs: pool, VerifyConnection: func(cs tls.ConnectionState) error {
			cn = cs.PeerCertificates[0].Subject.CommonName
			return nil
		}}
		conn, err := grpc.NewClient(h.srv.grpcLn.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if _, err := authv3.NewAuthorizationClient(conn).Check(ctx, newCheckRequest()); err != nil {
			t.Fatal(err)
		}
		return cn
	}
	if cn := served(); cn != "authz-one" {
		t.Fatalf("served %q", cn)
	}
	time.Sleep(1100 * time.Millisecond) // a newer modification time, past the once-a-second check
	issue("authz-two")
	if cn := served(); cn != "authz-two" {
		t.Errorf("after rotating the files the server still presents %q", cn)
	}
}

// A config whose parts fail to build is an error, at start and on reload,
// never a crash; on reload the running config serves on.
func TestAConfigThatFailsToBuildIsAnError(t *testing.T) {
	t.Parallel()
	h := start(t)
	tok := h.mint("rsa-1", h.validClaims())
	junk := filepath.Join(t.TempDir(), "jwks.json")
	os.WriteFile(junk, []byte(`{"keys":[]}`), 0o600) // valid config, no usable key
	bad := baseConfig(h.idp)
	bad.Issuers[0].JWKSURL, bad.Issuers[0].JWKSFile = "", junk
	if err := h.reload(bad); err == nil || !strings.Contains(err.Error(), "no usable signing keys") {
		t.Fatalf("reload: %v", err)
	}
	h.expect(h.check(withToken(tok)), "allow", 200)
	bad = baseConfig(h.idp)
	bad.Issuers[0].JWKSURL, bad.Issuers[0].JWKSFile = "", junk
	if err := config.Complete(bad); err != nil {
		t.Fatal(err)
	}
	if _, err := New(bad, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("New with a key file holding no usable key")
	}
}

// TestWatchFilesReloadsOnlySettledContent: -watch reloads a change once
// the next look finds the same content, so a file caught half-written (a
// truncated YAML file may well parse) is never what a reload reads; a
// touch, or a change undone before it settles, reloads nothing. The test
// changes the file from inside the watcher's own looks, so each step is
// seen exactly when the script says.
func TestWatchFilesReloadsOnlySettledContent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "authz.yaml")
	write := func(text string) {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Error(err)
		}
	}
	const before, after, passing = "policies:\n  default: {}\n", "policies:\n  default: {}\n  payments: { require_scopes: [payments:write] }\n", "policies: {}\n"
	write(before)
	later := time.Now().Add(time.Minute)
	script := map[int64]func(){ // by look; look 1 is the first, at start
		2: func() { write(after[:len(after)/2]) }, // caught half-written
		3: func() { write(after) },                // done: settles at look 4
		6: func() { os.Chtimes(path, later, later) },
		8: func() { write(passing) }, // undone before the next look
		9: func() { write(after) },
	}
	var looks atomic.Int64
	files := func() []string {
		if step := script[looks.Add(1)]; step != nil {
			step()
		}
		return []string{path}
	}
	var reloads []string
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		WatchFiles(ctx, files, time.Millisecond, func() {
			b, _ := os.ReadFile(path)
			reloads = append(reloads, string(b))
		})
	}()
	testsupport.WaitFor(t, "the script's looks", func() bool { return looks.Load() >= 12 })
	cancel()
	<-done
	if len(reloads) != 1 || reloads[0] != after {
		t.Errorf("reloads read %q, want one, of the whole new file", reloads)
	}
}

// A reload cannot apply the listeners, the logger or the trace exporter,
// and says so for each; what the core reads (http.proxy_cache_max) it
// applies, and says nothing of.
func TestNeedsRestartNamesWhatAReloadCannotApply(t *testing.T) {
	idp := newIdP(t)
	running := baseConfig(idp)
	for name, c := range map[string]struct {
		edit func(*config.Config)
		want []string
	}{
		"tracing":         {func(c *config.Config) { c.Tracing.OTLPEndpoint = "127.0.0.1:4317" }, []string{"tracing"}},
		"an http address": {func(c *config.Config) { c.HTTP.Addr = "127.0.0.1:1" }, []string{"http"}},
		"proxy_cache_max": {func(c *config.Config) { c.HTTP.ProxyCacheMax = 5 * time.Second }, nil},
		"a policy":        {func(c *config.Config) { c.Policies["x"] = config.Policy{} }, nil},
	} {
		next := baseConfig(idp)
		c.edit(next)
		if got := needsRestart(running, next); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
}
