// Package tokenexchange is the upstream step that trades the client's
// token for one the authorization server issues for the upstream (RFC
// 8693 token exchange), so the client's own token never travels past the
// edge: what MCP's authorization spec asks of a server that calls others
// ("no token passthrough").
package tokenexchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authz-dev/authz/authz"
)

// RFC 8693's names.
const (
	GrantType       = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeAccess = "urn:ietf:params:oauth:token-type:access_token"
	// Authorization is the header that carries the issued token as
	// "Bearer <token>", replacing the client's.
	Authorization = "authorization"
)

// Defaults.
const (
	DefaultTimeout          = 2 * time.Second
	DefaultMaxResponseBytes = 64 << 10
	// unstatedLifetime is how long an issued token is reused when the
	// answer gives no expires_in (RFC 8693 recommends one).
	unstatedLifetime = time.Minute
)

// Settings are one policy's exchange as its config writes it
// (upstream_token.exchange): the config file's keys are these fields'
// tags, so a new setting is a field here and its row in
// docs/configuration.md.
type Settings struct {
	// TokenEndpoint is the authorization server's token endpoint.
	TokenEndpoint string `yaml:"token_endpoint"`
	// ClientID and the secret (client_secret, "${ENV_VAR}" or
	// client_secret_file; resolved into Secret) authenticate authz, by
	// AuthMethod: client_secret_basic (default) or client_secret_post.
	ClientID         string `yaml:"client_id"`
	ClientSecret     string `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	AuthMethod       string `yaml:"auth_method"`
	// Resources and Audiences name the upstream (RFC 8693 §2.1, RFC
	// 8707); at least one of them.
	Resources []string `yaml:"resources"`
	Audiences []string `yaml:"audiences"`
	// Scope asked for ("" leaves it to the server).
	Scope string `yaml:"scope"`
	// RequestedTokenType (default TokenTypeAccess).
	RequestedTokenType string `yaml:"requested_token_type"`
	// Timeout bounds one exchange (default DefaultTimeout).
	Timeout time.Duration `yaml:"timeout"`
	// MaxResponseBytes bounds the answer read (default
	// DefaultMaxResponseBytes).
	MaxResponseBytes int64 `yaml:"max_response_bytes"`
	// Secret is the resolved client secret; never printed.
	Secret string `yaml:"-"`
}

// Options configure one policy's exchange: its settings, and what the
// server adds.
type Options struct {
	Settings
	// Header is where the issued token goes: Authorization (as a Bearer
	// token, in place of the client's) or any other header (the bare
	// token).
	Header string
	Client *http.Client
	// Fingerprint names these options: a token exchanged under other
	// settings is not handed out after a reload.
	Fingerprint string
	// Observe, when set, is told of each exchange's result (ok, error,
	// refused) and how long it took.
	Observe func(result string, elapsed time.Duration)
	// Shared, when set, is the replicas' shared tier: one replica
	// exchanges a token, the others take the issued token from it.
	Shared Shared
}

// Shared is a store replicas share (the Redis tier): values made from a
// token, sealed by it, and a lease so one replica makes each.
type Shared interface {
	StepValue(ctx context.Context, token, scope string) (value string, until time.Time, found bool, err error)
	SetStepValue(ctx context.Context, token, scope, value string, until time.Time) error
	Lease(ctx context.Context, token, scope string) (release func(judged bool), held bool)
	AwaitStepValue(ctx context.Context, token, scope string) (string, time.Time, bool)
}

// Step is one policy's exchange.
type Step struct{ opts Options }

// New returns the step.
func New(opts Options) (*Step, error) {
	u, err := url.Parse(opts.TokenEndpoint)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("token exchange endpoint %q: not an http(s) URL", opts.TokenEndpoint)
	}
	if opts.AuthMethod == "" {
		opts.AuthMethod = "client_secret_basic"
	}
	if opts.RequestedTokenType == "" {
		opts.RequestedTokenType = TokenTypeAccess
	}
	if opts.Header == "" {
		opts.Header = Authorization
	}
	opts.Header = strings.ToLower(opts.Header)
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	return &Step{opts: opts}, nil
}

// Name implements authz.Upstream.
func (s *Step) Name() string { return "upstream_token" }

// OwnedHeaders implements authz.HeaderOwner.
func (s *Step) OwnedHeaders() []string { return []string{s.opts.Header} }

// Forward implements authz.Upstream: the issued token, made once per
// verdict of the client's token (and policy) and reused until shortly
// before it expires; concurrent Checks of one token wait for one
// exchange. The authorization server's refusal or failure is an error: the
// client's token never goes upstream in its place.
func (s *Step) Forward(ctx context.Context, in *authz.UpstreamInput, d *authz.Decision) error {
	if in.Claims == nil || in.Token == "" {
		// No token on an optional policy: nothing to exchange, and a
		// client's copy of the header never passes.
		d.RemoveHeaders = append(d.RemoveHeaders, s.opts.Header)
		return nil
	}
	tok, err := in.Remember(ctx, "exchange|"+s.opts.Fingerprint, func(ctx context.Context) (string, time.Time, error) {
		return s.exchangeOnce(ctx, in.Token)
	})
	if err != nil {
		return err
	}
	v := tok
	if s.opts.Header == Authorization {
		v = "Bearer " + tok
	}
	d.Headers = append(d.Headers, authz.HeaderValue{Name: s.opts.Header, Value: v})
	return nil
}

// exchangeOnce asks the shared tier first, when there is one: a token
// another replica exchanged is taken from it, and one replica at a time
// (the lease's holder) asks the authorization server. A tier that fails or
// a wait that runs out: exchange here.
func (s *Step) exchangeOnce(ctx context.Context, subject string) (string, time.Time, error) {
	sh := s.opts.Shared
	if sh == nil {
		return s.exchange(ctx, subject)
	}
	scope := "exchange|" + s.opts.Fingerprint
	if v, until, ok, err := sh.StepValue(ctx, subject, scope); err == nil && ok {
		return v, until, nil
	}
	release, held := sh.Lease(ctx, subject, scope)
	if held {
		if v, until, ok := sh.AwaitStepValue(ctx, subject, scope); ok {
			return v, until, nil
		}
	}
	tok, until, err := s.exchange(ctx, subject)
	if err == nil {
		sh.SetStepValue(ctx, subject, scope, tok, until) // a fault: the next replica exchanges again
	}
	release(err == nil)
	return tok, until, err
}

// answer is RFC 8693 §2.2.1's success response; errorAnswer §2.2.2's.
type answer struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       *int64 `json:"expires_in"`
}

type errorAnswer struct {
	Error string `json:"error"`
}

// ErrRefused is the authorization server's refusal to exchange (§2.2.2).
var ErrRefused = errors.New("token exchange refused")

// exchange asks the authorization server once; the issued token and when
// to stop reusing it (a tenth of its life, at most 30 s, before its
// expiry).
func (s *Step) exchange(ctx context.Context, subject string) (token string, until time.Time, err error) {
	start := time.Now()
	result := "error"
	defer func() {
		if s.opts.Observe != nil {
			s.opts.Observe(result, time.Since(start))
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	form := url.Values{
		"grant_type":           {GrantType},
		"subject_token":        {subject},
		"subject_token_type":   {TokenTypeAccess},
		"requested_token_type": {s.opts.RequestedTokenType},
	}
	for _, r := range s.opts.Resources {
		form.Add("resource", r)
	}
	for _, a := range s.opts.Audiences {
		form.Add("audience", a)
	}
	if s.opts.Scope != "" {
		form.Set("scope", s.opts.Scope)
	}
	if s.opts.AuthMethod == "client_secret_post" {
		form.Set("client_id", s.opts.ClientID)
		form.Set("client_secret", s.opts.Secret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.opts.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", time.Time{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if s.opts.AuthMethod == "client_secret_basic" {
		// RFC 6749 §2.3.1: both form-urlencoded before Basic.
		req.SetBasicAuth(url.QueryEscape(s.opts.ClientID), url.QueryEscape(s.opts.Secret))
	}
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		// The URL and the transport's words only: the form (the client's
		// token, a secret) is never in the error.
		return "", time.Time{}, fmt.Errorf("token exchange at %s: %w", s.opts.TokenEndpoint, unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.opts.MaxResponseBytes+1))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token exchange at %s: read answer: %w", s.opts.TokenEndpoint, err)
	}
	if int64(len(body)) > s.opts.MaxResponseBytes {
		return "", time.Time{}, fmt.Errorf("token exchange at %s: answer over %d bytes", s.opts.TokenEndpoint, s.opts.MaxResponseBytes)
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK {
		var e errorAnswer
		if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized {
			if json.Unmarshal(body, &e) == nil && e.Error != "" && safeCode(e.Error) {
				result = "refused"
				return "", time.Time{}, fmt.Errorf("token exchange at %s: %w: %s (HTTP %d)", s.opts.TokenEndpoint, ErrRefused, e.Error, resp.StatusCode)
			}
		}
		return "", time.Time{}, fmt.Errorf("token exchange at %s: HTTP %d", s.opts.TokenEndpoint, resp.StatusCode)
	}
	if ct != "application/json" {
		return "", time.Time{}, fmt.Errorf("token exchange at %s: answer of type %q, want application/json", s.opts.TokenEndpoint, ct)
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return "", time.Time{}, fmt.Errorf("token exchange at %s: answer is not JSON: %w", s.opts.TokenEndpoint, err)
	}
	switch {
	case a.AccessToken == "":
		return "", time.Time{}, fmt.Errorf("token exchange at %s: answer has no access_token", s.opts.TokenEndpoint)
	case a.IssuedTokenType == "":
		return "", time.Time{}, fmt.Errorf("token exchange at %s: answer has no issued_token_type", s.opts.TokenEndpoint)
	case a.IssuedTokenType != s.opts.RequestedTokenType:
		return "", time.Time{}, fmt.Errorf("token exchange at %s: issued %q, asked for %q", s.opts.TokenEndpoint, a.IssuedTokenType, s.opts.RequestedTokenType)
	case s.opts.Header == Authorization && !strings.EqualFold(a.TokenType, "bearer"):
		return "", time.Time{}, fmt.Errorf("token exchange at %s: token_type %q is not a bearer token for Authorization", s.opts.TokenEndpoint, a.TokenType)
	case strings.ContainsAny(a.AccessToken, "\r\n\x00"):
		return "", time.Time{}, fmt.Errorf("token exchange at %s: the issued token cannot go in a header", s.opts.TokenEndpoint)
	case a.ExpiresIn != nil && *a.ExpiresIn <= 0:
		return "", time.Time{}, fmt.Errorf("token exchange at %s: expires_in %d", s.opts.TokenEndpoint, *a.ExpiresIn)
	}
	life := unstatedLifetime
	if a.ExpiresIn != nil {
		life = time.Duration(*a.ExpiresIn) * time.Second
	}
	result = "ok"
	return a.AccessToken, start.Add(life - min(life/10, 30*time.Second)), nil
}

// safeCode reports whether an error code is one RFC 6749/8693 defines in
// shape (printable ASCII, short): only such a code is repeated in logs.
func safeCode(code string) bool {
	if len(code) > 64 {
		return false
	}
	for _, c := range code {
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// unwrapURLError drops the *url.Error wrapper, whose message repeats the
// URL already named.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
