package introspect

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/authz-dev/authz/authz"
)

// Validate implements authz.Validator. An answer of active:false is an
// invalid token; anything but a well-formed 200 answer is ErrUnavailable,
// since it says nothing about the token (RFC 7662 §2.2–2.3).
func (c *Client) Validate(ctx context.Context, token string) (*authz.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	resp, err := c.post(ctx, token)
	if err != nil {
		return nil, c.unavailable("request: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.opts.MaxResponseBytes+1))
	if err != nil {
		return nil, c.unavailable("read response: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, c.unavailable("status %d", resp.StatusCode)
	}
	if int64(len(body)) > c.opts.MaxResponseBytes {
		return nil, c.unavailable("response over %d bytes", c.opts.MaxResponseBytes)
	}
	var claims map[string]any
	if err := json.Unmarshal(body, &claims); err != nil || claims == nil {
		return nil, c.unavailable("response is not a JSON object")
	}
	active, ok := claims["active"].(bool)
	if !ok {
		return nil, c.unavailable("response has no boolean active member")
	}
	if !active {
		return nil, fmt.Errorf("%w: inactive at %s", authz.ErrInvalidToken, c.opts.Name)
	}
	res := &authz.Result{Validator: c.opts.Name, Claims: claims, Size: len(body) * 3}
	if exp, ok := claims["exp"].(float64); ok {
		res.Expiry = time.Unix(int64(exp), 0)
		if !c.now().Before(res.Expiry) {
			return nil, fmt.Errorf("%w: %w (introspection exp)", authz.ErrInvalidToken, authz.ErrExpired)
		}
	}
	if c.opts.Issuer != "" && claims["iss"] != c.opts.Issuer {
		return nil, fmt.Errorf("%w: introspection iss does not match %s", authz.ErrInvalidToken, c.opts.Name)
	}
	if len(c.opts.Audiences) > 0 && !anyAudience(claims["aud"], c.opts.Audiences) {
		return nil, fmt.Errorf("%w: introspection aud not accepted by %s", authz.ErrInvalidToken, c.opts.Name)
	}
	return res, nil
}

func (c *Client) unavailable(format string, args ...any) error {
	return fmt.Errorf("%w: introspect %s: %s", authz.ErrUnavailable, c.opts.Name, fmt.Sprintf(format, args...))
}

func anyAudience(aud any, want []string) bool {
	switch a := aud.(type) {
	case string:
		for _, w := range want {
			if a == w {
				return true
			}
		}
	case []any:
		for _, e := range a {
			if s, ok := e.(string); ok && anyAudience(s, want) {
				return true
			}
		}
	}
	return false
}
