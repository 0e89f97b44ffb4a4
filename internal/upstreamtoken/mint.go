package upstreamtoken

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/authz-dev/authz/authz"
)

// Minter signs identity tokens with authz's active key.
type Minter struct {
	// Issuer is authz's own iss.
	Issuer string
	Keys   *KeySet
	// Lifetime bounds every minted token (each also ends with the token it
	// stands for).
	Lifetime time.Duration
	// OnMint, when set, is told of every signature (the cost a cached
	// mint spares).
	OnMint func()
	now    func() time.Time
}

// OriginalIssuerClaim holds, in a minted token, the iss of the token it
// stands for (or the introspection endpoint's name when the IdP's answer
// names no iss).
const OriginalIssuerClaim = "orig_iss"

// Placement says where a minted token goes.
const (
	// Authorization replaces the client's Authorization header with
	// "Bearer <minted>": the phantom-token pattern, where the upstream
	// never sees the client's token.
	Authorization = "authorization"
)

// Mint is one policy's upstream_token step: a short-lived JWT for the
// upstream, minted from the validated token's claims.
type Mint struct {
	Minter *Minter
	// Audience is the minted token's aud; RouteAudiences overrides it for
	// the requests a route chose (by route name).
	Audience       string
	RouteAudiences map[string]string
	// Header is where the token goes: Authorization (as a Bearer token) or
	// any other header (the bare JWT).
	Header string
	// Claims are copied from the validated token (top-level names); sub is
	// always copied.
	Claims []string
	// RequestClaims put parts of the request in claims, only where the
	// policy names them.
	RequestClaims []RequestClaim
	// Lifetime, when set, is shorter than the Minter's.
	Lifetime time.Duration
	// NamespaceSubject writes sub as orig_iss + "/" + sub: a policy that
	// accepts several issuers mints distinct subjects for their users.
	NamespaceSubject bool
	// Settings describe the step's configuration: a token minted under
	// other settings (before a reload) is not handed out.
	Settings string
}

// RequestClaim puts a part of the request ("method", "path" or "host",
// as routes read them) in a claim.
type RequestClaim struct {
	Claim, Part string
}

// Request parts a mint may copy into claims.
var RequestParts = []string{"method", "path", "host"}

// Reserved claims are authz's to set: a policy cannot copy them.
var Reserved = []string{"iss", "aud", "exp", "iat", "nbf", "jti", "sub", OriginalIssuerClaim}

// Name implements authz.Upstream.
func (m *Mint) Name() string { return "upstream_token" }

// OwnedHeaders implements authz.HeaderOwner.
func (m *Mint) OwnedHeaders() []string { return []string{m.Header} }

// Forward implements authz.Upstream: the cached token for this token,
// policy, audience and signing key, or a new one.
func (m *Mint) Forward(ctx context.Context, in *authz.UpstreamInput, d *authz.Decision) error {
	if in.Claims == nil {
		// No token (an optional one not sent): nothing to stand for, and
		// the client's copy of the header must not pass either.
		d.RemoveHeaders = append(d.RemoveHeaders, m.Header)
		return nil
	}
	aud := m.Audience
	if a, ok := m.RouteAudiences[d.Route]; ok {
		aud = a
	}
	key := m.Minter.Keys.Active()
	var memoKey strings.Builder
	memoKey.Grow(len(key.ID) + len(aud) + len(m.Settings) + 2 + 64*len(m.RequestClaims))
	memoKey.WriteString(key.ID)
	memoKey.WriteByte(0)
	memoKey.WriteString(aud)
	memoKey.WriteByte(0)
	memoKey.WriteString(m.Settings)
	for _, rc := range m.RequestClaims {
		memoKey.WriteByte(0)
		memoKey.WriteString(requestPart(in.Request, rc.Part))
	}
	// Remembered as the header's value: a cached Check copies nothing.
	v, err := in.Remember(ctx, memoKey.String(), func(context.Context) (string, time.Time, error) {
		tok, until, err := m.mint(in, key, aud)
		if err == nil && m.Header == Authorization {
			tok = "Bearer " + tok
		}
		return tok, until, err
	})
	if err != nil {
		return err
	}
	d.Headers = append(d.Headers, authz.HeaderValue{Name: m.Header, Value: v})
	return nil
}

// renewBefore is how long before its exp a cached token stops being handed
// out: an upstream that takes a moment must still find it valid.
func renewBefore(life time.Duration) time.Duration {
	return min(30*time.Second, max(life/10, time.Second))
}

func (m *Mint) mint(in *authz.UpstreamInput, key *SigningKey, aud string) (string, time.Time, error) {
	now := m.Minter.clock()
	life := m.Minter.Lifetime
	if m.Lifetime > 0 {
		life = min(life, m.Lifetime)
	}
	exp := now.Add(life)
	if orig := originalExpiry(in); !orig.IsZero() && orig.Before(exp) {
		exp = orig
	}
	// Whole seconds, down: never a second past the original's exp.
	exp = exp.Truncate(time.Second)
	if !exp.After(now) {
		// Accepted within the issuer's leeway, or in its last second: a
		// token for the upstream would be born expired.
		return "", time.Time{}, fmt.Errorf("%w: the token expires now, and no upstream token may outlive it", authz.ErrExpired)
	}
	claims := make(map[string]any, len(m.Claims)+len(m.RequestClaims)+8)
	for _, c := range m.Claims {
		if v, ok := in.Claims[c]; ok && v != nil {
			claims[c] = v
		}
	}
	for _, rc := range m.RequestClaims {
		claims[rc.Claim] = requestPart(in.Request, rc.Part)
	}
	if iss, ok := in.Claims["iss"].(string); ok && iss != "" {
		claims[OriginalIssuerClaim] = iss
	} else if in.Validator != "" {
		claims[OriginalIssuerClaim] = in.Validator
	}
	if sub, ok := in.Claims["sub"].(string); ok && sub != "" {
		if orig, _ := claims[OriginalIssuerClaim].(string); m.NamespaceSubject && orig != "" {
			sub = orig + "/" + sub
		}
		claims["sub"] = sub
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", time.Time{}, fmt.Errorf("jti: %w", err)
	}
	claims["iss"] = m.Minter.Issuer
	claims["aud"] = aud
	claims["iat"] = now.Unix()
	claims["exp"] = exp.Unix()
	claims["jti"] = base64.RawURLEncoding.EncodeToString(jti)
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("encode claims: %w", err)
	}
	tok, err := key.Sign(payload)
	if err != nil {
		return "", time.Time{}, err
	}
	if m.Minter.OnMint != nil {
		m.Minter.OnMint()
	}
	return tok, exp.Add(-renewBefore(exp.Sub(now))), nil
}

func (m *Minter) clock() time.Time {
	if m.now != nil {
		return m.now()
	}
	return time.Now()
}

func requestPart(r *authz.Request, part string) string {
	switch part {
	case "method":
		return r.Method
	case "path":
		return r.NormalizedPath()
	case "host":
		return r.CanonicalHost()
	}
	return ""
}

// originalExpiry is when the token the upstream token stands for expires:
// its own exp claim, not the validator's Expiry, which for a JWT includes
// the issuer's leeway.
func originalExpiry(in *authz.UpstreamInput) time.Time {
	if t, ok := authz.NumericDate(in.Claims["exp"]); ok {
		return t
	}
	return in.Expiry
}
