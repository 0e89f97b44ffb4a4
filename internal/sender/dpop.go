// Package sender proves that whoever presents a sender-constrained token
// holds the key it is bound to: DPoP proofs (RFC 9449) and certificate
// binding (RFC 8705).
package sender

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/jws"
)

// DefaultAlgorithms are the proof algorithms accepted when none are named:
// asymmetric only (RFC 9449 §4.2 forbids none and MACs).
// Ed25519 is RFC 9864's name, which panva's dpop client signs with.
var DefaultAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.RS256, jose.PS256, jose.EdDSA, jws.Ed25519}

// asymmetric are the algorithms a proof may ever use.
var asymmetric = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA, jws.Ed25519,
}

// Options configure the checks.
type Options struct {
	// Algorithms a DPoP proof may be signed with (default DefaultAlgorithms).
	Algorithms []jose.SignatureAlgorithm
	// Window: a proof's iat must lie within Window of now, either side
	// (default 60s), plus Leeway for clock skew (default 5s).
	Window, Leeway time.Duration
	// Replay remembers the proofs already used; required.
	Replay *Replay
	// Nonces, when set, makes every proof carry a nonce authz issued
	// (RFC 9449 §8); a proof without a good one is answered
	// use_dpop_nonce with a fresh nonce.
	Nonces *Nonces
	// Now is the clock (tests).
	Now func() time.Time
}

// Checks implements authz.SenderChecks.
type Checks struct {
	opts   Options
	parser *jws.Parser
}

// maxProofBytes bounds a proof before it is parsed: a proof is a header
// with a public key and five short claims.
const maxProofBytes = 8 << 10

// New checks opts and returns the checks.
func New(opts Options) (*Checks, error) {
	if len(opts.Algorithms) == 0 {
		opts.Algorithms = DefaultAlgorithms
	}
	for _, a := range opts.Algorithms {
		if !slices.Contains(asymmetric, a) {
			return nil, fmt.Errorf("dpop algorithm %q not allowed: asymmetric algorithms only", a)
		}
	}
	if opts.Window <= 0 {
		opts.Window = 60 * time.Second
	}
	if opts.Leeway < 0 {
		opts.Leeway = 0
	}
	if opts.Replay == nil {
		return nil, fmt.Errorf("dpop: no replay cache")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Checks{opts: opts, parser: jws.NewParser(opts.Algorithms)}, nil
}

// Algorithms names the accepted proof algorithms, for the DPoP challenge.
func (c *Checks) Algorithms() []string {
	out := make([]string, len(c.opts.Algorithms))
	for i, a := range c.opts.Algorithms {
		out[i] = string(a)
	}
	return out
}

// proofClaims are the claims RFC 9449 §4.2 defines.
type proofClaims struct {
	JTI   string   `json:"jti"`
	HTM   string   `json:"htm"`
	HTU   string   `json:"htu"`
	IAT   *float64 `json:"iat"`
	ATH   *string  `json:"ath"`
	Nonce *string  `json:"nonce"`
}

func refuse(reason, format string, args ...any) error {
	return &authz.SenderError{Reason: reason, Proof: true, Detail: fmt.Sprintf(format, args...)}
}

// DPoP checks a proof as RFC 9449 §4.3 lists, for the request and the
// access token it accompanies, and that its key is the one the token is
// bound to (jkt). The replay check comes last, so only proofs of the
// token's own key holder that pass everything else are remembered: a
// stolen token cannot fill the replay set.
func (c *Checks) DPoP(ctx context.Context, req *authz.Request, proof, token, jkt string) error {
	if len(proof) > maxProofBytes {
		return refuse("dpop_malformed", "proof over %d bytes", maxProofBytes)
	}
	tok, err := c.parser.Split(proof)
	if err != nil {
		return refuse("dpop_malformed", "not a JWS with an accepted algorithm: %s", bounded(strings.TrimPrefix(err.Error(), "go-jose/go-jose: ")))
	}
	h := tok.Header
	if !strings.EqualFold(h.Type, "dpop+jwt") {
		return refuse("dpop_typ", "typ %q, want dpop+jwt", bounded(h.Type))
	}
	// go-jose has already refused an embedded key that is not a valid
	// public key (RFC 7515 §4.1.3); a proof without one proves nothing.
	if h.JWK == nil || !h.JWK.IsPublic() {
		return refuse("dpop_jwk", "no public jwk in the header")
	}
	if !jws.Verify(h.Alg, h.JWK.Key, tok.SigningInput, tok.Signature) {
		return refuse("dpop_signature", "signature does not verify with the header's jwk")
	}
	var cl proofClaims
	if err := json.Unmarshal(tok.Payload, &cl); err != nil {
		return refuse("dpop_malformed", "claims are not a JSON object of the right types")
	}
	if cl.JTI == "" || len(cl.JTI) > 256 {
		return refuse("dpop_jti", "jti missing or over 256 bytes")
	}
	if cl.HTM != req.Method {
		return refuse("dpop_htm", "htm %q, request method %q", bounded(cl.HTM), bounded(req.Method))
	}
	if !SameTarget(cl.HTU, req.Scheme, req.Host, req.Path) {
		return refuse("dpop_htu", "htu %q does not name this request", bounded(cl.HTU))
	}
	now := c.opts.Now()
	if cl.IAT == nil {
		return refuse("dpop_iat", "iat missing")
	}
	iat, ok := authz.NumericDate(*cl.IAT)
	if !ok {
		return refuse("dpop_iat", "iat not a NumericDate")
	}
	if d := now.Sub(iat); d > c.opts.Window+c.opts.Leeway || d < -(c.opts.Window+c.opts.Leeway) {
		return refuse("dpop_iat", "iat %s from now, outside ±%s", d.Round(time.Second), c.opts.Window+c.opts.Leeway)
	}
	if c.opts.Nonces != nil && (cl.Nonce == nil || !c.opts.Nonces.Valid(*cl.Nonce)) {
		return &authz.SenderError{Reason: "dpop_nonce", Proof: true, Nonce: c.opts.Nonces.Issue(), Detail: "proof without a current server nonce"}
	}
	sum := sha256.Sum256([]byte(token))
	if cl.ATH == nil || *cl.ATH != base64.RawURLEncoding.EncodeToString(sum[:]) {
		return refuse("dpop_ath", "ath missing or not the access token's hash")
	}
	if h.Thumbprint != jkt {
		return &authz.SenderError{Reason: "dpop_binding", Detail: "proof key does not match the token's cnf.jkt"}
	}
	// Remembered until it could no longer pass the iat check.
	until := iat.Add(c.opts.Window + c.opts.Leeway)
	first, err := c.opts.Replay.FirstUse(ctx, jkt, cl.JTI, until)
	if errors.Is(err, ErrKeyOverShare) {
		return refuse("dpop_key_flood", "this key's proofs fill its share of the replay set")
	}
	if err != nil {
		return err
	}
	if !first {
		return refuse("dpop_replay", "jti already used")
	}
	return nil
}

func bounded(s string) string {
	if len(s) > 128 {
		return s[:128] + "…"
	}
	return s
}
