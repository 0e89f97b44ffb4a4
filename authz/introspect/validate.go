package introspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/authz-dev/authz/authz"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Validate implements authz.Validator. An answer of active:false is an
// invalid token; anything but a well-formed 200 answer is ErrUnavailable,
// since it says nothing about the token (RFC 7662 §2.2–2.3).
func (c *Client) Validate(ctx context.Context, token string) (*authz.Result, error) {
	start := time.Now()
	claims, signed, class, err := c.introspect(ctx, token)
	if c.opts.Observe != nil {
		c.opts.Observe(class, time.Since(start))
	}
	if err != nil {
		return nil, err
	}
	res := &authz.Result{Validator: c.opts.Name, Claims: claims, Signed: signed, Size: authz.ClaimsSize(claims) + len(signed), Live: true}
	if v, present := claims["exp"]; present {
		exp, ok := authz.NumericDate(v)
		if !ok {
			// Cached for the full TTL it would outlive the token: the IdP
			// answered something unusable, like a non-boolean active.
			return nil, c.unavailable("exp is not a NumericDate")
		}
		res.Expiry = exp
		if !c.now().Before(res.Expiry) {
			return nil, fmt.Errorf("%w: %w (introspection exp)", authz.ErrInvalidToken, authz.ErrExpired)
		}
	}
	for _, m := range tokenTypeMembers {
		v, present := claims[m]
		if !present {
			continue
		}
		s, _ := v.(string)
		if !slices.ContainsFunc(c.opts.TokenTypes, func(t string) bool { return strings.EqualFold(t, s) }) {
			return nil, fmt.Errorf("%w: introspection %s %q is not an accepted token type at %s", authz.ErrInvalidToken, m, truncate(s, 64), c.opts.Name)
		}
	}
	// A signed answer's own iss is the IdP's (checked with its signature);
	// the token's iss member may then be left out, never contradict it.
	if _, present := claims["iss"]; c.opts.Issuer != "" && claims["iss"] != c.opts.Issuer && (signed == "" || present) {
		return nil, fmt.Errorf("%w: introspection iss does not match %s", authz.ErrInvalidToken, c.opts.Name)
	}
	if !authz.HasAnyAudience(claims, c.opts.Audiences) {
		return nil, fmt.Errorf("%w: introspection aud not accepted by %s", authz.ErrInvalidToken, c.opts.Name)
	}
	return res, nil
}

// Results are every result class, for metrics.
var Results = []string{ResultActive, ResultInactive, ResultTimeout, ResultConnection, ResultStatus4xx, ResultStatus5xx, ResultBadResponse, ResultSaturated}

// Result classes for metrics: a bounded set.
const (
	ResultActive      = "active"
	ResultInactive    = "inactive"
	ResultTimeout     = "timeout"
	ResultConnection  = "connection_error"
	ResultStatus4xx   = "status_4xx"
	ResultStatus5xx   = "status_5xx"
	ResultBadResponse = "bad_response"
	ResultSaturated   = "saturated"
)

// introspect asks the IdP and returns the answer's members for an active
// token (and the signed answer they came in, if signed), with the answer's
// class.
func (c *Client) introspect(ctx context.Context, token string) (claims map[string]any, signed, class string, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	select {
	case c.slots <- struct{}{}:
		defer func() { <-c.slots }()
		c.opts.InFlight(1)
		defer c.opts.InFlight(-1)
	case <-ctx.Done():
		return nil, "", ResultSaturated, c.unavailable("%d introspections already in flight", cap(c.slots))
	}
	ctx, span := c.tracer().Start(ctx, "authz.introspect", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("authz.endpoint", c.opts.Name), attribute.String("server.address", c.host)))
	defer span.End()
	resp, err := c.post(ctx, token)
	if err != nil {
		span.SetStatus(codes.Error, "no answer")
		class := ResultConnection
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			class = ResultTimeout
		}
		return nil, "", class, c.unavailable("request: %w", err)
	}
	defer resp.Body.Close()
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.opts.MaxResponseBytes+1))
	if err != nil {
		class := ResultConnection
		if ctx.Err() != nil {
			class = ResultTimeout
		}
		return nil, "", class, c.unavailable("read response: %w", err)
	}
	if c.opts.Signed != nil {
		return c.decodeSigned(ctx, resp, body)
	}
	claims, class, err = c.decodeAnswer(resp.StatusCode, body)
	return claims, "", class, err
}

// decodeAnswer maps the IdP's answer to the token's claims (active), an
// ErrInvalidToken (inactive), or ErrUnavailable (anything else: RFC 7662
// §2.2 makes a 200 JSON object with a boolean "active" the only answer).
func (c *Client) decodeAnswer(status int, body []byte) (map[string]any, string, error) {
	if status != http.StatusOK {
		class := ResultStatus5xx
		if status < 500 {
			class = ResultStatus4xx
		}
		return nil, class, c.unavailable("status %d", status)
	}
	if int64(len(body)) > c.opts.MaxResponseBytes {
		return nil, ResultBadResponse, c.unavailable("response over %d bytes", c.opts.MaxResponseBytes)
	}
	var claims map[string]any
	if err := json.Unmarshal(body, &claims); err != nil || claims == nil {
		return nil, ResultBadResponse, c.unavailable("response is not a JSON object")
	}
	active, ok := claims["active"].(bool)
	if !ok {
		return nil, ResultBadResponse, c.unavailable("response has no boolean active member")
	}
	if !active {
		return nil, ResultInactive, fmt.Errorf("%w: inactive at %s", authz.ErrInvalidToken, c.opts.Name)
	}
	return claims, ResultActive, nil
}

func (c *Client) unavailable(format string, args ...any) error {
	return fmt.Errorf("%w: introspect %s: %w", authz.ErrUnavailable, c.opts.Name, fmt.Errorf(format, args...))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
