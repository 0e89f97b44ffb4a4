package authz

import (
	"context"
	"fmt"
)

// SenderConstraint is what a policy demands of the binding between a token
// and its presenter.
type SenderConstraint uint8

const (
	// SenderOff demands nothing more than the token's own cnf: a bound
	// token is checked against its binding whatever the policy says.
	SenderOff SenderConstraint = iota
	// SenderDPoP demands a DPoP-bound token (RFC 9449) and its proof.
	SenderDPoP
	// SenderMTLS demands a certificate-bound token (RFC 8705).
	SenderMTLS
	// SenderAny demands either binding.
	SenderAny
)

// SenderChecks prove that the presenter of a bound token holds its key;
// package sender implements them.
type SenderChecks interface {
	// DPoP verifies a DPoP proof for the request and the token it
	// accompanies, made by the key whose RFC 7638 thumbprint is jkt (the
	// token's cnf.jkt). A *SenderError says why a proof is refused.
	DPoP(ctx context.Context, req *Request, proof, token, jkt string) error
	// CertThumbprint returns the RFC 8705 x5t#S256 of the client
	// certificate the request came with, or "" when it came with none.
	CertThumbprint(req *Request) (string, error)
}

// SenderError is a refused proof of possession. Reason is a short,
// bounded label for metrics and logs (dpop_htu, mtls_binding, …).
type SenderError struct {
	Reason string
	// Proof is true when the DPoP proof itself is at fault (RFC 9449 §7.1
	// invalid_dpop_proof); false when the binding does not hold
	// (invalid_token).
	Proof bool
	// Nonce, when set, is a fresh server nonce the client must put in its
	// next proof (answered use_dpop_nonce with a DPoP-Nonce header).
	Nonce  string
	Detail string
}

func (e *SenderError) Error() string { return e.Reason + ": " + e.Detail }

// presentation says how the request carried its token.
type presentation struct {
	dpop, bearer bool
	// apiKeys names the API-key validator of the source the token came
	// from; "" for a bearer token.
	apiKeys string
}

// binding is a token's cnf (RFC 7800): the key its presenter must hold.
type binding struct {
	jkt, x5t string
}

// kind names the proof a bound token is held to, for the decision log.
func (b binding) kind() string {
	switch {
	case b.jkt != "" && b.x5t != "":
		return "dpop+mtls"
	case b.jkt != "":
		return "dpop"
	case b.x5t != "":
		return "mtls"
	}
	return ""
}

func bindingOf(claims map[string]any) binding {
	cnf, _ := claims["cnf"].(map[string]any)
	jkt, _ := cnf["jkt"].(string)
	x5t, _ := cnf["x5t#S256"].(string)
	return binding{jkt: jkt, x5t: x5t}
}

// checkSender holds a valid token to its binding and the policy's demand.
// It runs on every Check: a proof is per request, never cached. A
// *SenderError refuses the token; any other error is the checks' own
// failure (a replay set at its bound), an error outcome.
func (a *Authorizer) checkSender(ctx context.Context, req *Request, p *compiledPolicy, b binding, token string, how presentation) error {
	if how.dpop && b.jkt == "" {
		// RFC 9449 §7.1: the DPoP scheme promises a bound token.
		return &SenderError{Reason: "dpop_unbound", Detail: "token presented with the DPoP scheme is not bound to a key"}
	}
	if (b.jkt != "" || b.x5t != "") && a.sender == nil {
		return &SenderError{Reason: "sender_unchecked", Detail: "token is sender-constrained and no checks are configured"}
	}
	if b.jkt != "" {
		if how.bearer {
			// A bound token must never work as a plain bearer token.
			return &SenderError{Reason: "dpop_downgrade", Detail: "DPoP-bound token presented as Bearer"}
		}
		proofs := req.Header.Values("dpop")
		if len(proofs) != 1 {
			return &SenderError{Reason: "dpop_proof_count", Proof: true, Detail: fmt.Sprintf("want exactly one DPoP header, got %d", len(proofs))}
		}
		if err := a.sender.DPoP(ctx, req, proofs[0], token, b.jkt); err != nil {
			return err
		}
	}
	if b.x5t != "" {
		tp, err := a.sender.CertThumbprint(req)
		switch {
		case err != nil:
			return &SenderError{Reason: "mtls_certificate", Detail: err.Error()}
		case tp == "":
			return &SenderError{Reason: "mtls_missing", Detail: "certificate-bound token without a client certificate"}
		case tp != b.x5t:
			return &SenderError{Reason: "mtls_binding", Detail: "client certificate does not match the token's cnf x5t#S256"}
		}
	}
	switch {
	case p.SenderConstraint == SenderDPoP && b.jkt == "",
		p.SenderConstraint == SenderMTLS && b.x5t == "",
		p.SenderConstraint == SenderAny && b.jkt == "" && b.x5t == "":
		return &SenderError{Reason: "sender_required", Detail: "policy requires a sender-constrained token"}
	}
	return nil
}

// senderDescription is what the client is told: which kind of proof
// failed, not which check.
func senderDescription(se *SenderError) string {
	if se.Nonce != "" {
		return "a DPoP proof must carry the server's nonce"
	}
	if se.Proof {
		return "the DPoP proof is invalid"
	}
	return "the access token is not bound to the presented key or certificate"
}
