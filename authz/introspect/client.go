// Package introspect asks an OAuth 2.0 authorization server about a token
// (RFC 7662 token introspection) and tells an inactive token apart from a
// failure to ask.
package introspect

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// DefaultTimeout bounds one introspection, its retry included, when the
// config sets no timeout.
const DefaultTimeout = 2 * time.Second

// Client authentication methods (RFC 6749 §2.3.1, RFC 7662 §2.1).
const (
	ClientSecretBasic = "client_secret_basic"
	ClientSecretPost  = "client_secret_post"
	Bearer            = "bearer"
)

// Options configure one introspection endpoint.
type Options struct {
	// Name identifies the endpoint in config, policies and logs.
	Name     string
	Endpoint string
	ClientID string
	// ClientSecret, or with AuthMethod Bearer the static bearer token.
	ClientSecret string
	AuthMethod   string
	// Timeout bounds one introspection, retry included (default 2s).
	Timeout time.Duration
	// MaxResponseBytes bounds the answer (default 1 MiB).
	MaxResponseBytes int64
	// MaxConns sizes the keep-alive pool (default 64).
	MaxConns int
	// MaxInFlight bounds concurrent introspections (default 64): a slow IdP
	// must not collect an unbounded queue. A Check that cannot start one
	// within Timeout is an error.
	MaxInFlight int
	// TLS for the IdP connection: custom roots, client certificate.
	TLS *tls.Config
	// Issuer and Audiences, when set, must match the response's iss and aud.
	Issuer    string
	Audiences []string
	// TokenTypes are the values an answer's token_use, typ and token_type
	// members may hold (case-insensitive); default DefaultTokenTypes.
	TokenTypes []string
	// Observe, when set, is told each introspection's result class and latency.
	Observe func(result string, elapsed time.Duration)
	// Tracer makes a span of each introspection request (default: none).
	Tracer trace.Tracer
	// InFlight, when set, is told +1 when a request starts and -1 when it ends.
	InFlight func(delta int)
	// Signed, when set, asks for the answer as a JWT the IdP signs (RFC
	// 9701) and verifies it; a plain JSON answer is then refused.
	Signed Statements
}

// Statements verify an IdP's signed answers (jwt.Statements).
type Statements interface {
	Verify(ctx context.Context, raw string) (map[string]any, error)
}

// Media types of RFC 9701 §4–5.
const (
	SignedAnswerType = "application/token-introspection+jwt"
	// SignedAnswerTyp is the JOSE typ of a signed answer.
	SignedAnswerTyp = "token-introspection+jwt"
)

// DefaultTokenTypes are the token_use / typ / token_type values an answer
// may carry for an access token, as IdPs spell them: RFC 7662's token_type
// holds the RFC 6749 §7.1 type (Bearer, DPoP, N_A), Hydra and Cognito put
// the kind in token_use (access_token, access), Keycloak in typ (Bearer).
// A refresh or ID token names itself otherwise and must not pass.
var DefaultTokenTypes = []string{"access_token", "access", "bearer", "dpop", "n_a", "at+jwt", "urn:ietf:params:oauth:token-type:access_token"}

// tokenTypeMembers are the answer members that say what kind of token it is.
var tokenTypeMembers = []string{"token_use", "typ", "token_type"}

// Client introspects tokens at one endpoint.
type Client struct {
	opts  Options
	host  string // the endpoint's host, for spans
	slots chan struct{}
	http  *http.Client
	now   func() time.Time
}

// New returns a Client with its own connection pool.
func New(opts Options) (*Client, error) {
	u, err := url.Parse(opts.Endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("introspection %s: endpoint %q is not an http(s) URL", opts.Name, opts.Endpoint)
	}
	if opts.TokenTypes == nil {
		opts.TokenTypes = DefaultTokenTypes
	}
	switch opts.AuthMethod {
	case "":
		opts.AuthMethod = ClientSecretBasic
	case ClientSecretBasic, ClientSecretPost, Bearer:
	default:
		return nil, fmt.Errorf("introspection %s: unknown auth method %q", opts.Name, opts.AuthMethod)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = 1 << 20
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 64
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 64
	}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       opts.TLS,
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
		MaxIdleConns:          opts.MaxConns,
		MaxIdleConnsPerHost:   opts.MaxConns,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	if opts.Tracer == nil {
		opts.Tracer = noop.NewTracerProvider().Tracer("")
	}
	if opts.InFlight == nil {
		opts.InFlight = func(int) {}
	}
	host := opts.Endpoint
	if u, err := url.Parse(opts.Endpoint); err == nil {
		host = u.Host
	}
	return &Client{
		opts:  opts,
		host:  host,
		slots: make(chan struct{}, opts.MaxInFlight),
		// Redirects are not followed: an introspection endpoint that
		// redirects is misconfigured, and following it would send the
		// token and credentials elsewhere.
		http: &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		now:  time.Now,
	}, nil
}

func (c *Client) tracer() trace.Tracer { return c.opts.Tracer }

// Close drops idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// post sends the introspection request, retrying once when the connection
// failed before any answer (never after an HTTP answer, whatever its status).
func (c *Client) post(ctx context.Context, token string) (*http.Response, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	if c.opts.AuthMethod == ClientSecretPost {
		form.Set("client_id", c.opts.ClientID)
		form.Set("client_secret", c.opts.ClientSecret)
	}
	body := form.Encode()
	var resp *http.Response
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		req, rerr := http.NewRequestWithContext(ctx, http.MethodPost, c.opts.Endpoint, strings.NewReader(body))
		if rerr != nil {
			return nil, rerr
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if c.opts.Signed != nil {
			req.Header.Set("Accept", SignedAnswerType)
		} else {
			req.Header.Set("Accept", "application/json")
		}
		switch c.opts.AuthMethod {
		case ClientSecretBasic:
			// RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic.
			req.SetBasicAuth(url.QueryEscape(c.opts.ClientID), url.QueryEscape(c.opts.ClientSecret))
		case Bearer:
			req.Header.Set("Authorization", "Bearer "+c.opts.ClientSecret)
		}
		resp, err = c.http.Do(req)
		if err == nil || ctx.Err() != nil || !connectionFailed(err) {
			break
		}
	}
	return resp, err
}

// connectionFailed reports a transport failure before any HTTP answer:
// refused, reset or closed connections, however the transport words them
// ("server closed idle connection" has no sentinel). Introspection has no
// side effects (RFC 7662 §2), so a retry is safe even if the first request
// reached the IdP; a timeout is not retried, the deadline is spent.
func connectionFailed(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
}
