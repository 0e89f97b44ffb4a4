package upstreamtoken

import (
	"context"
	"errors"

	"github.com/authz-dev/authz/authz"
)

// SignedAnswer is one policy's upstream_token step with source idp: the
// IdP's own signed introspection answer (RFC 9701), passed upstream as it
// came, so the upstream trusts the IdP's keys rather than authz's.
type SignedAnswer struct {
	// Header is where the answer goes: Authorization (as a Bearer token)
	// or any other header (the bare JWT).
	Header string
}

// Name implements authz.Upstream.
func (s *SignedAnswer) Name() string { return "upstream_token" }

// OwnedHeaders implements authz.HeaderOwner.
func (s *SignedAnswer) OwnedHeaders() []string { return []string{s.Header} }

// errNoSignedAnswer: the policy promised the upstream the IdP's signature,
// and the token was judged without one (a JWT verified locally, or an
// endpoint that answers plain JSON).
var errNoSignedAnswer = errors.New("the token's validator gave no signed introspection answer to forward")

// Forward implements authz.Upstream.
func (s *SignedAnswer) Forward(_ context.Context, in *authz.UpstreamInput, d *authz.Decision) error {
	switch {
	case in.Claims == nil:
		d.RemoveHeaders = append(d.RemoveHeaders, s.Header)
		return nil
	case in.Signed == "":
		return errNoSignedAnswer
	}
	v := in.Signed
	if s.Header == Authorization {
		v = "Bearer " + v
	}
	d.Headers = append(d.Headers, authz.HeaderValue{Name: s.Header, Value: v})
	return nil
}
