package authz

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// TokenSource says where a policy looks for the access token.
type TokenSource struct {
	// Header is a lower-case header name; Scheme, when set, is the
	// authentication scheme that must prefix the value (matched case-insensitively).
	Header string
	Scheme string
	// Cookie is a cookie name; used when Header is empty.
	Cookie string
	// APIKeys, when set, says the source carries API keys, judged by the
	// API-key validator of that name (a header such as x-api-key, or
	// Authorization with the ApiKey scheme), not bearer tokens.
	APIKeys string
}

var (
	errNoToken        = errors.New("no access token in the request")
	errMultipleTokens = errors.New("more than one access token in the request")
	errMalformedToken = errors.New("malformed access token")
)

// maxTokenBytes bounds a token before anything hashes or parses it; real
// access tokens are a few KiB at most.
const maxTokenBytes = 16 << 10

// extractToken finds the single token the sources yield. RFC 6750 §2 forbids
// presenting a token by more than one method, so two distinct tokens are an
// error; the same token in two places is tolerated (some clients send both a
// header and a cookie). A source of the Bearer scheme also takes the DPoP
// scheme (RFC 9449 §7.1), and the presentation says which was used.
func extractToken(h Header, sources []TokenSource) (string, presentation, error) {
	var token string
	var how presentation
	var keys string // the API-key validator of the source that yielded token
	found := func(t string, src TokenSource) error {
		if t == "" || len(t) > maxTokenBytes || strings.ContainsAny(t, " \t\r\n\x00") {
			return errMalformedToken
		}
		if token != "" && (token != t || keys != src.APIKeys) {
			// Two credentials, or one presented as both an API key and
			// a token: RFC 6750 §2's one method, and no guessing.
			return errMultipleTokens
		}
		token, keys = t, src.APIKeys
		return nil
	}
	for _, src := range sources {
		if src.Header != "" {
			for _, v := range h.Values(src.Header) {
				t, ok := cutScheme(v, src.Scheme)
				dpop := false
				if !ok && strings.EqualFold(src.Scheme, "bearer") && src.APIKeys == "" {
					t, ok = cutScheme(v, "DPoP")
					dpop = ok
				}
				if !ok {
					continue // a different scheme (e.g. Basic) is not ours to judge
				}
				if err := found(t, src); err != nil {
					return "", presentation{}, err
				}
				if src.APIKeys != "" {
					continue
				}
				if dpop {
					how.dpop = true
				} else {
					how.bearer = true
				}
			}
			continue
		}
		for _, line := range h.Values("cookie") {
			cookies, err := http.ParseCookie(line)
			if err != nil {
				continue // a broken Cookie line carries no token we can trust
			}
			for _, c := range cookies {
				if c.Name != src.Cookie {
					continue
				}
				if err := found(c.Value, src); err != nil {
					return "", presentation{}, err
				}
				if src.APIKeys == "" {
					how.bearer = true
				}
			}
		}
	}
	if token == "" {
		return "", presentation{}, errNoToken
	}
	how.apiKeys = keys
	return token, how, nil
}

// cutScheme strips "Scheme " (case-insensitive, RFC 7235 §2.1) from v.
func cutScheme(v, scheme string) (string, bool) {
	v = strings.TrimSpace(v)
	if scheme == "" {
		return v, true
	}
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	rest := v[len(scheme):]
	if rest == "" {
		return "", true // scheme with no credentials: malformed
	}
	if rest[0] != ' ' && rest[0] != '\t' {
		return "", false // e.g. "Bearerx": another scheme
	}
	return strings.TrimLeft(rest, " \t"), true
}

// looksLikeJWT reports whether token is three base64url parts whose first
// decodes to a JSON object: the JWS compact serialization (RFC 7515 §7.1).
func looksLikeJWT(token string) bool {
	h, rest, ok := strings.Cut(token, ".")
	if !ok {
		return false
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sig, ".") || payload == "" || h == "" || len(h) > 2048 {
		return false
	}
	var buf [1536]byte
	n, err := base64.RawURLEncoding.Decode(buf[:], []byte(h))
	if err != nil {
		return false
	}
	b := bytes.TrimSpace(buf[:n])
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}
