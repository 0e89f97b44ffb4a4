package introspect

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"
)

// decodeSigned reads an RFC 9701 answer: a JWT of type
// application/token-introspection+jwt whose token_introspection claim
// holds what a plain answer would. An answer that is not signed, not
// signed by the IdP, or not for this client says nothing about the token:
// it is unavailable, like any broken answer, never an invalid token.
func (c *Client) decodeSigned(ctx context.Context, resp *http.Response, body []byte) (claims map[string]any, signed, class string, err error) {
	if resp.StatusCode != http.StatusOK {
		claims, class, err = c.decodeAnswer(resp.StatusCode, body)
		return claims, "", class, err
	}
	if int64(len(body)) > c.opts.MaxResponseBytes {
		return nil, "", ResultBadResponse, c.unavailable("response over %d bytes", c.opts.MaxResponseBytes)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != SignedAnswerType {
		return nil, "", ResultBadResponse, c.unavailable("asked for a signed answer, got %q", truncate(mt, 64))
	}
	raw := string(body)
	statement, err := c.opts.Signed.Verify(ctx, raw)
	if err != nil {
		// %v, not %w: a signature that fails says the answer is broken,
		// not that the token is invalid.
		return nil, "", ResultBadResponse, c.unavailable("signed answer: %v", err)
	}
	inner, ok := statement["token_introspection"].(map[string]any)
	if !ok {
		return nil, "", ResultBadResponse, c.unavailable("signed answer has no token_introspection object")
	}
	// The same rules as a plain answer, on the signed members.
	b, err := json.Marshal(inner)
	if err != nil {
		return nil, "", ResultBadResponse, c.unavailable("signed answer: %w", err)
	}
	claims, class, err = c.decodeAnswer(http.StatusOK, b)
	if err != nil {
		return nil, "", class, err
	}
	if _, ok := inner["exp"]; !ok && class == ResultActive {
		// What is forwarded upstream (source: idp) must end: without the
		// token's exp it would be good for as long as its signature.
		return nil, "", ResultBadResponse, c.unavailable("signed answer's token_introspection has no exp")
	}
	return claims, raw, class, nil
}
