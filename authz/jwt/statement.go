package jwt

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/jws"
)

// StatementOptions describe a signed statement that is not an access
// token: an IdP's JWT introspection answer (RFC 9701), which says what the
// IdP knows of a token and names the client that asked as its audience.
type StatementOptions struct {
	// Issuer is the exact iss; Audience must be among the aud values.
	Issuer, Audience string
	// Type is the JOSE typ the statement must carry ("token-introspection+jwt"):
	// it keeps one kind of JWT from being taken for another (RFC 8725 §3.11).
	Type       string
	Algorithms []jose.SignatureAlgorithm
	Keys       *Keys
	Leeway     time.Duration
	// MaxAge bounds how long before now (beyond Leeway) the statement may
	// have been issued: an answer to this request is minted for it, and
	// an older one is a replay. Zero leaves the age unbounded.
	MaxAge time.Duration
}

// Statements verify signed statements of one signer.
type Statements struct {
	opts   StatementOptions
	parser *jws.Parser
	now    func() time.Time
}

// NewStatements checks opts and returns a verifier.
func NewStatements(opts StatementOptions) (*Statements, error) {
	if opts.Issuer == "" || opts.Audience == "" || opts.Type == "" || opts.Keys == nil {
		return nil, fmt.Errorf("signed statements need an issuer, an audience, a type and keys")
	}
	if len(opts.Algorithms) == 0 {
		opts.Algorithms = DefaultAlgorithms
	}
	for _, a := range opts.Algorithms {
		if !slices.Contains(Algorithms, a) {
			return nil, fmt.Errorf("algorithm %q not allowed", a)
		}
	}
	return &Statements{opts: opts, parser: jws.NewParser(opts.Algorithms), now: time.Now}, nil
}

// Verify returns the statement's claims once its signature, typ, iss, aud
// and times hold. Every failure wraps authz.ErrInvalidToken or, for keys
// that cannot be had, authz.ErrUnavailable; a caller that reads the
// statement as an answer treats both as a broken answer.
func (s *Statements) Verify(ctx context.Context, raw string) (map[string]any, error) {
	tok, err := s.parser.Split(raw)
	if err != nil {
		return nil, invalid("malformed or disallowed JWT: " + trimJose(err))
	}
	if typ := strings.TrimPrefix(strings.ToLower(tok.Header.Type), "application/"); typ != s.opts.Type {
		return nil, invalid(fmt.Sprintf("typ %q, want %q", truncate(typ, 64), s.opts.Type))
	}
	ok, err := s.opts.Keys.verify(ctx, tok, nil)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, invalid("signature does not verify with any key of " + s.opts.Issuer)
	}
	claims, err := decodeClaims(tok.Payload)
	if err != nil {
		return nil, invalid(err.Error())
	}
	if iss, _ := claims["iss"].(string); iss != s.opts.Issuer {
		return nil, invalid("iss does not match")
	}
	if !authz.HasAnyAudience(claims, []string{s.opts.Audience}) {
		return nil, invalid("aud does not name " + s.opts.Audience)
	}
	now := s.now()
	iat, present, err := numericDate(claims, "iat")
	switch {
	case err != nil:
		return nil, err
	case !present:
		return nil, invalid("no iat")
	case now.Add(s.opts.Leeway).Before(iat):
		return nil, invalid("issued in the future (iat)")
	case s.opts.MaxAge > 0 && now.Add(-s.opts.MaxAge-s.opts.Leeway).After(iat):
		return nil, invalid(fmt.Sprintf("issued %s ago (iat), over max age %s: a replayed answer", now.Sub(iat).Round(time.Second), s.opts.MaxAge+s.opts.Leeway))
	}
	if exp, present, err := numericDate(claims, "exp"); err != nil {
		return nil, err
	} else if present && now.Add(-s.opts.Leeway).After(exp) {
		return nil, invalid("the statement expired")
	}
	return claims, nil
}
