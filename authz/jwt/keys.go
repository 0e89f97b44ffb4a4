// Package jwt validates JWT access tokens offline against an issuer's JSON
// Web Key Set, fetched from a URL, found by OIDC discovery, or read from a file.
package jwt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/authz-dev/authz/authz"
)

// KeysOptions say where an issuer's keys come from and how often to refresh them.
type KeysOptions struct {
	// URL is the JWKS URL. With Discovery, it is found from Issuer's
	// /.well-known/openid-configuration instead.
	URL       string
	Discovery bool
	Issuer    string
	// File holds a JWKS. Alone it is the only source; beside a URL it is
	// the fallback used while the URL has never answered.
	File string
	// Refresh is the background refresh interval (default 5m).
	Refresh time.Duration
	// MinRefresh rate-limits refreshes triggered by unknown kids (default 30s):
	// random kids must not turn into a flood of JWKS fetches.
	MinRefresh time.Duration
	// Timeout bounds one fetch (default 5s); MaxBytes bounds a response (default 1 MiB).
	Timeout  time.Duration
	MaxBytes int64
	Client   *http.Client
	Logger   *slog.Logger
	// OnRefresh, when set, is told the result of every remote fetch.
	OnRefresh func(err error)
	// Tracer makes a span of each fetch (default: none).
	Tracer trace.Tracer
}

// Keys holds one issuer's current key set and keeps it fresh.
type Keys struct {
	opts   KeysOptions
	set    atomic.Pointer[jose.JSONWebKeySet]
	remote bool

	mu          sync.Mutex
	lastAttempt time.Time
	lastErr     error
	jwksURL     string // resolved by discovery

	inflight chan struct{} // closed when the fetch in flight ends

	ready     chan struct{}
	readyOnce sync.Once
	cancel    context.CancelFunc
	done      chan struct{}
}

// NewKeys loads a file source at once (an error if it fails) and starts the
// background refresh of a remote one; Close stops it.
func NewKeys(opts KeysOptions) (*Keys, error) {
	if opts.Refresh <= 0 {
		opts.Refresh = 5 * time.Minute
	}
	if opts.MinRefresh <= 0 {
		opts.MinRefresh = 30 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 1 << 20
	}
	client := &http.Client{}
	if opts.Client != nil {
		*client = *opts.Client
	}
	// A redirect could carry the key fetch to a host the operator never
	// named; an IdP that moved its keys is a config change, not a hop.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	opts.Client = client
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Tracer == nil {
		opts.Tracer = noop.NewTracerProvider().Tracer("")
	}
	k := &Keys{opts: opts, remote: opts.URL != "" || opts.Discovery, ready: make(chan struct{}), done: make(chan struct{}), jwksURL: opts.URL}
	if !k.remote {
		if err := k.loadFile(); err != nil {
			return nil, err
		}
		close(k.done)
		return k, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	go k.refreshLoop(ctx)
	return k, nil
}

// Ready is closed once a key set has loaded (from the URL or the fallback file).
func (k *Keys) Ready() <-chan struct{} { return k.ready }

// Close stops the background refresh.
func (k *Keys) Close() {
	if k.cancel != nil {
		k.cancel()
	}
	<-k.done
}

func (k *Keys) markReady() { k.readyOnce.Do(func() { close(k.ready) }) }

func (k *Keys) refreshLoop(ctx context.Context) {
	defer close(k.done)
	// Until the first success, retry quickly (with backoff) so a replica that
	// started before its IdP becomes ready soon after the IdP does.
	wait := 500 * time.Millisecond
	for {
		k.refresh(ctx, false)
		err := k.lastError()
		if err != nil && k.set.Load() == nil && k.opts.File != "" {
			if ferr := k.loadFile(); ferr != nil {
				k.opts.Logger.Error("jwks fallback file failed", "jwks_file", k.opts.File, "err", ferr)
			} else {
				k.opts.Logger.Warn("jwks url unreachable, serving keys from fallback file", "jwks_file", k.opts.File, "err", err)
			}
		}
		next := k.opts.Refresh
		if err != nil && k.set.Load() == nil {
			next = wait
			wait = min(wait*2, k.opts.Refresh)
		}
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// refresh fetches the key set, or joins the fetch already in flight. With
// rateLimited, it starts no new fetch within MinRefresh of the last one. A
// failure keeps the last good keys.
func (k *Keys) refresh(ctx context.Context, rateLimited bool) {
	k.mu.Lock()
	if ch := k.inflight; ch != nil {
		k.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		return
	}
	if rateLimited && time.Since(k.lastAttempt) < k.opts.MinRefresh {
		k.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	k.inflight = ch
	k.lastAttempt = time.Now()
	k.mu.Unlock()

	ctx, span := k.opts.Tracer.Start(ctx, "authz.jwks_fetch", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("authz.issuer", k.opts.Issuer)))
	set, err := k.fetch(ctx)
	if err != nil {
		span.SetStatus(codes.Error, "jwks fetch failed")
	}
	span.End()
	if k.opts.OnRefresh != nil {
		k.opts.OnRefresh(err)
	}
	if err != nil {
		if k.set.Load() == nil {
			k.opts.Logger.Warn("jwks fetch failed, no keys loaded yet", "jwks_url", k.jwksURLNow(), "err", err)
		} else {
			k.opts.Logger.Warn("jwks refresh failed, keeping last good keys", "jwks_url", k.jwksURLNow(), "err", err)
		}
	} else {
		k.set.Store(set)
		k.markReady()
	}
	k.mu.Lock()
	k.lastErr = err
	k.inflight = nil
	k.mu.Unlock()
	close(ch)
}

// jwksURLNow is the JWKS URL, as configured or as discovery found it.
func (k *Keys) jwksURLNow() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.jwksURL == "" {
		return k.opts.Issuer + " (discovery)"
	}
	return k.jwksURL
}

func (k *Keys) lastError() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lastErr
}

func (k *Keys) fetch(ctx context.Context) (*jose.JSONWebKeySet, error) {
	ctx, cancel := context.WithTimeout(ctx, k.opts.Timeout)
	defer cancel()
	k.mu.Lock()
	url := k.jwksURL
	k.mu.Unlock()
	if url == "" {
		var err error
		if url, err = k.discover(ctx); err != nil {
			return nil, err
		}
		k.mu.Lock()
		k.jwksURL = url
		k.mu.Unlock()
	}
	body, err := k.get(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks %s: %w", url, err)
	}
	set, err := parseKeySet(body)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks %s: %w", url, err)
	}
	return set, nil
}

// discover finds jwks_uri per OpenID Connect Discovery 1.0 §4, checking that
// the document speaks for the configured issuer (§4.3).
func (k *Keys) discover(ctx context.Context) (string, error) {
	url := strings.TrimSuffix(k.opts.Issuer, "/") + "/.well-known/openid-configuration"
	body, err := k.get(ctx, url)
	if err != nil {
		return "", fmt.Errorf("oidc discovery %s: %w", url, err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("oidc discovery %s: decode: %w", url, err)
	}
	if doc.Issuer != k.opts.Issuer {
		return "", fmt.Errorf("oidc discovery %s: issuer %q does not match configured %q", url, doc.Issuer, k.opts.Issuer)
	}
	if doc.JWKSURI == "" {
		return "", fmt.Errorf("oidc discovery %s: no jwks_uri", url)
	}
	// An https issuer's keys must come over https too: a plain-http
	// jwks_uri would let anyone on the path swap the keys. An http issuer
	// (loopback, tests) was configured so on purpose and keeps http.
	if strings.HasPrefix(strings.ToLower(k.opts.Issuer), "https://") && !strings.HasPrefix(strings.ToLower(doc.JWKSURI), "https://") {
		return "", fmt.Errorf("oidc discovery %s: jwks_uri %q is not https for an https issuer", url, doc.JWKSURI)
	}
	return doc.JWKSURI, nil
}

func (k *Keys) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.opts.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, k.opts.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(body)) > k.opts.MaxBytes {
		return nil, fmt.Errorf("body over %d bytes", k.opts.MaxBytes)
	}
	return body, nil
}

func (k *Keys) loadFile() error {
	body, err := os.ReadFile(k.opts.File)
	if err != nil {
		return fmt.Errorf("read jwks file: %w", err)
	}
	set, err := parseKeySet(body)
	if err != nil {
		return fmt.Errorf("jwks file %s: %w", k.opts.File, err)
	}
	k.set.Store(set)
	k.markReady()
	return nil
}

// parseKeySet keeps the usable signature-verification keys of a JWKS. Keys
// of unknown types are skipped rather than failing the set (IdPs publish
// encryption keys beside signing keys); symmetric keys are never accepted,
// since a published HMAC secret would let anyone sign.
func parseKeySet(body []byte) (*jose.JSONWebKeySet, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("decode jwks: %w", err)
	}
	set := &jose.JSONWebKeySet{}
	for _, r := range raw.Keys {
		var key jose.JSONWebKey
		if err := key.UnmarshalJSON(r); err != nil {
			continue
		}
		if key.Use != "" && key.Use != "sig" {
			continue
		}
		if _, symmetric := key.Key.([]byte); symmetric {
			continue
		}
		if !key.IsPublic() {
			key = key.Public()
		}
		if !key.Valid() {
			continue
		}
		set.Keys = append(set.Keys, key)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("jwks holds no usable signing keys")
	}
	return set, nil
}

// lookup returns the keys that may have signed a token with this kid. An
// unknown kid triggers a refresh, at most once per MinRefresh.
func (k *Keys) lookup(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	if keys := k.match(kid); len(keys) > 0 {
		return keys, nil
	}
	if k.remote {
		k.refresh(ctx, true)
		if keys := k.match(kid); len(keys) > 0 {
			return keys, nil
		}
	}
	lastErr := k.lastError()
	if k.set.Load() == nil {
		return nil, fmt.Errorf("%w: no keys loaded for issuer %s: %w", authz.ErrUnavailable, k.opts.Issuer, lastErr)
	}
	if lastErr != nil {
		// We cannot tell a key rotated in at the IdP from a forged kid while
		// the JWKS is unreachable.
		return nil, fmt.Errorf("%w: unknown kid %q and jwks unreachable: %w", authz.ErrUnavailable, kid, lastErr)
	}
	return nil, fmt.Errorf("%w: unknown kid %q", authz.ErrInvalidToken, kid)
}

func (k *Keys) match(kid string) []jose.JSONWebKey {
	set := k.set.Load()
	if set == nil {
		return nil
	}
	if kid == "" {
		return set.Keys
	}
	return set.Key(kid)
}
