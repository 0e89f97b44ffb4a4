package jwt

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	jose "github.com/go-jose/go-jose/v4"
)

// compact is a JWS in compact serialization, split and decoded but not yet
// trusted: nothing in it counts until the signature verifies.
type compact struct {
	header  *header
	input   string // BASE64URL(header) "." BASE64URL(payload), as signed
	payload []byte
	sig     []byte
}

// header holds what authz reads from a protected header, once go-jose has
// parsed and checked it.
type header struct {
	alg jose.SignatureAlgorithm
	kid string
	typ string
}

// headers remembers the protected headers already judged. An issuer signs
// millions of tokens under a handful of distinct headers (one per key and
// type), so go-jose's parse of the header, which profiles showed costing
// half as much as an RSA verification, is paid once per header, not once
// per token.
type headers struct {
	algorithms []jose.SignatureAlgorithm
	seen       sync.Map // header segment -> *header
	n          atomic.Int32
}

// maxHeaders bounds the memo: tokens with made-up headers (random kids)
// can only make it start over, never grow.
const maxHeaders = 256

// split checks a compact JWS's shape and decodes its parts. The signing
// input is the token's own text, so a non-canonical base64 spelling of a
// signed header or payload does not verify (RFC 7515 §5.2 step 8 signs
// the encoded text).
func (h *headers) split(token string) (*compact, error) {
	hdr, rest, ok := strings.Cut(token, ".")
	if !ok {
		return nil, errors.New("compact JWS format must have three parts")
	}
	body, sig, ok := strings.Cut(rest, ".")
	if !ok || strings.IndexByte(sig, '.') >= 0 {
		return nil, errors.New("compact JWS format must have three parts")
	}
	parsed, err := h.parse(hdr)
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
	return &compact{header: parsed, input: token[:len(hdr)+1+len(body)], payload: payload, sig: signature}, nil
}

// parse returns the judged header for a header segment, asking go-jose
// the first time it is seen.
func (h *headers) parse(segment string) (*header, error) {
	if v, ok := h.seen.Load(segment); ok {
		return v.(*header), nil
	}
	parsed, err := h.judge(segment)
	if err != nil {
		return nil, err
	}
	if h.n.Add(1) > maxHeaders {
		h.seen.Clear()
		h.n.Store(1)
	}
	h.seen.Store(segment, parsed)
	return parsed, nil
}

// judge lets go-jose parse one protected header with an empty payload and
// signature: its alg allow-list, its header sanitising and its embedded-jwk
// checks apply unchanged.
func (h *headers) judge(segment string) (*header, error) {
	jws, err := jose.ParseSignedCompact(segment+"..", h.algorithms)
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
	return &header{alg: jose.SignatureAlgorithm(sh.Algorithm), kid: sh.KeyID, typ: typ}, nil
}
