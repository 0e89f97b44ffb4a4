// Package jws splits compact JWS tokens (RFC 7515 §7.1) and verifies their
// signatures: go-jose judges each distinct protected header once, the
// standard library's verifiers check each signature over the token's own
// text. JWT access tokens and DPoP proofs both go through it.
package jws

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	jose "github.com/go-jose/go-jose/v4"
)

// Compact is a JWS in compact serialization, split and decoded but not yet
// trusted: nothing in it counts until the signature verifies.
type Compact struct {
	Header *Header
	// SigningInput is BASE64URL(header) "." BASE64URL(payload), as signed.
	SigningInput string
	Payload      []byte
	Signature    []byte
}

// Header holds what is read from a protected header, once go-jose has
// parsed and checked it.
type Header struct {
	Alg   jose.SignatureAlgorithm
	KeyID string
	Type  string
	// JWK is the embedded public key (RFC 7515 §4.1.3), if any, and
	// Thumbprint its RFC 7638 SHA-256 thumbprint, base64url.
	JWK        *jose.JSONWebKey
	Thumbprint string
}

// Parser splits tokens signed with a set of algorithms and remembers the
// protected headers already judged. An issuer signs millions of tokens
// under a handful of distinct headers (one per key and type), and a DPoP
// client signs every proof under one; go-jose's parse of a header, which
// profiles showed costing half as much as an RSA verification, is paid
// once per header, not once per token.
type Parser struct {
	algorithms []jose.SignatureAlgorithm
	seen       sync.Map // header segment -> *Header
	n          atomic.Int32
}

// NewParser returns a Parser that refuses every algorithm outside algs.
func NewParser(algs []jose.SignatureAlgorithm) *Parser {
	return &Parser{algorithms: algs}
}

// Algorithms are the algorithms p accepts.
func (p *Parser) Algorithms() []jose.SignatureAlgorithm { return p.algorithms }

// maxHeaders bounds the memo (a header is at most a few KiB, with an
// embedded key): tokens with made-up headers (random kids) can only make
// it start over, never grow. DPoP clients each sign under their own
// header, hence room for thousands.
const maxHeaders = 4096

// Remembered reports how many judged headers p holds (tests).
func (p *Parser) Remembered() int { return int(p.n.Load()) }

// Split checks a compact JWS's shape and decodes its parts. The signing
// input is the token's own text, so a non-canonical base64 spelling of a
// signed header or payload does not verify (RFC 7515 §5.2 step 8 signs
// the encoded text).
func (p *Parser) Split(token string) (*Compact, error) {
	hdr, rest, ok := strings.Cut(token, ".")
	if !ok {
		return nil, errors.New("compact JWS format must have three parts")
	}
	body, sig, ok := strings.Cut(rest, ".")
	if !ok || strings.IndexByte(sig, '.') >= 0 {
		return nil, errors.New("compact JWS format must have three parts")
	}
	parsed, err := p.parse(hdr)
	if err != nil {
		return nil, err
	}
	payload, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return nil, errors.New("payload is not base64url")
	}
	signature, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return nil, errors.New("signature is not base64url")
	}
	return &Compact{Header: parsed, SigningInput: token[:len(hdr)+1+len(body)], Payload: payload, Signature: signature}, nil
}

// parse returns the judged header for a header segment, asking go-jose
// the first time it is seen.
func (p *Parser) parse(segment string) (*Header, error) {
	if v, ok := p.seen.Load(segment); ok {
		return v.(*Header), nil
	}
	parsed, err := p.judge(segment)
	if err != nil {
		return nil, err
	}
	if p.n.Add(1) > maxHeaders {
		p.seen.Clear()
		p.n.Store(1)
	}
	p.seen.Store(segment, parsed)
	return parsed, nil
}

// judge lets go-jose parse one protected header with an empty payload and
// signature: its alg allow-list, its header sanitising and its embedded-jwk
// checks apply unchanged.
func (p *Parser) judge(segment string) (*Header, error) {
	jws, err := jose.ParseSignedCompact(segment+"..", p.algorithms)
	if err != nil {
		return nil, err
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("want exactly one signature")
	}
	// go-jose honours crit ["b64"] (RFC 7797, an unencoded payload); an
	// access token's payload is always encoded (RFC 7519 §7.2), so any
	// crit or b64 header is refused rather than understood.
	raw, err := base64.RawURLEncoding.DecodeString(segment)
	if err != nil {
		return nil, err
	}
	var extensions struct {
		Crit json.RawMessage `json:"crit"`
		B64  json.RawMessage `json:"b64"`
	}
	if err := json.Unmarshal(raw, &extensions); err != nil {
		return nil, err
	}
	if extensions.Crit != nil || extensions.B64 != nil {
		return nil, errors.New("crit and b64 headers are not supported")
	}
	sh := jws.Signatures[0].Header
	typ, _ := sh.ExtraHeaders[jose.HeaderType].(string)
	h := &Header{Alg: jose.SignatureAlgorithm(sh.Algorithm), KeyID: sh.KeyID, Type: typ, JWK: sh.JSONWebKey}
	if h.JWK != nil {
		tp, err := h.JWK.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, err
		}
		h.Thumbprint = base64.RawURLEncoding.EncodeToString(tp)
	}
	return h, nil
}
