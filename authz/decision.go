package authz

import (
	"context"
	"strings"
	"time"
)

// Decision is the Authorizer's answer. Adapters render it for their protocol;
// the status per outcome is configuration they read.
type Decision struct {
	Outcome Outcome
	// Reason explains the outcome for logs. It never holds the token or a secret.
	Reason string
	// Description is safe to show the client (error_description).
	Description string
	Policy      string
	// Route names the route that chose the policy; "" when the proxy named
	// it or no route matched.
	Route string
	// Rule names the policy rule that refused the request, if one did.
	Rule string
	// Validator names the issuer or endpoint that judged the token, when known.
	Validator string
	// TokenID is the first 8 hex digits of the token's SHA-256, for logs.
	TokenID string
	// Cached reports whether the token's result came from the cache, and
	// Shared whether it came from the shared tier on a local miss.
	Cached, Shared bool
	// Sender labels a failed sender constraint (dpop_htu, mtls_binding, …)
	// on a refusal, and on an allow the proof the token was held to
	// ("dpop", "mtls", "dpop+mtls"; "" for a bearer token).
	Sender string
	// DPoPError, when set, makes the challenge DPoP's (RFC 9449 §7.1):
	// invalid_dpop_proof or invalid_token.
	DPoPError string
	// DPoPNonce, when set, goes to the client in a DPoP-Nonce header.
	DPoPNonce string

	// Headers are set on the upstream request (overwriting), RemoveHeaders
	// removed from it. On an allow every mapped header is in one or the
	// other, so a client can never pass its own claim headers upstream.
	Headers       []HeaderValue
	RemoveHeaders []string
	// Claims are exported as dynamic metadata when the policy asks for it.
	Claims map[string]any
	// Metadata: the policy asks for dynamic metadata (claims on an allow,
	// and the route, policy and rule of every decision).
	Metadata bool
	// RequiredScopes are named in WWW-Authenticate on a Forbidden outcome.
	RequiredScopes []string
	// ResourceMetadata, when the policy guards a protected resource, is
	// the URL of its metadata, named in every Bearer challenge (RFC 9728
	// §5.1).
	ResourceMetadata string
	// ErrorMode says how the gRPC door answers an Error outcome (the
	// policy's error_mode).
	ErrorMode ErrorMode
	// ProxyCache, when positive, is how long the proxy may reuse this
	// answer for the same token and policy (proxyCacheFor).
	ProxyCache time.Duration
}

// Decider is what a door needs from the core: decisions, and how to
// answer them. Both may change with a config reload, so a door asks for
// the answers with every decision rather than keeping them. *Authorizer
// is one; the server's hot-swapping core is another.
type Decider interface {
	Authorize(ctx context.Context, req *Request) Decision
	Answers() *Answers
}

// Observer is told of every Check a door answers: the doors call it, the
// telemetry package records metrics and the decision log.
type Observer interface {
	// CheckStarted marks a Check in flight at door and returns the context
	// it runs in: with its span, when tracing is on, a child of the trace
	// context the proxy sent in h.
	CheckStarted(ctx context.Context, door string, h Header) context.Context
	CheckDone(ctx context.Context, d *Decision, door, requestID string, latency time.Duration)
	// Panicked is told of a panic a door recovered from (where: the door),
	// with its stack.
	Panicked(where string, recovered any, stack []byte)
}

// Unobserved records nothing: a door's Observer when its embedder wants no
// telemetry.
type Unobserved struct{}

func (Unobserved) CheckStarted(ctx context.Context, _ string, _ Header) context.Context { return ctx }
func (Unobserved) CheckDone(context.Context, *Decision, string, string, time.Duration)  {}
func (Unobserved) Panicked(string, any, []byte)                                         {}

func (d Decision) fail(o Outcome, reason, description string) Decision {
	d.Outcome = o
	d.Reason = reason
	d.Description = description
	return d
}

// publicReason keeps the client's error_description coarse: whether the
// token expired is useful to a client; which check failed helps an attacker.
func publicReason(expired bool) string {
	if expired {
		return "the access token expired"
	}
	return "the access token is invalid"
}

// maxPolicyNameBytes bounds a policy name taken from a request.
const maxPolicyNameBytes = 64

// loggablePolicyName keeps at most maxPolicyNameBytes of name and replaces
// every byte outside [A-Za-z0-9._:/-] with '_'.
func loggablePolicyName(name string) string {
	truncated := len(name) > maxPolicyNameBytes
	if truncated {
		name = name[:maxPolicyNameBytes]
	}
	b := []byte(name)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("._:/-", c) >= 0:
		default:
			b[i] = '_'
		}
	}
	if truncated {
		return string(b) + "..."
	}
	return string(b)
}

// ErrorMode is how the gRPC door answers the error outcome.
type ErrorMode string

const (
	// ErrorRespond (the zero value) answers a denial CheckResponse with the
	// error status: final for Envoy, visible to the client.
	ErrorRespond ErrorMode = ""
	// ErrorRPC fails the Check RPC (UNAVAILABLE), so Envoy's
	// failure_mode_allow and status_on_error decide.
	ErrorRPC ErrorMode = "rpc_error"
	// ErrorResponse answers CheckResponse.error_response: Envoy counts an
	// ext_authz error and applies failure_mode_allow, and when it denies,
	// the client gets authz's status, headers and body. An Envoy that
	// predates the field sees a denial without an answer: 403.
	ErrorResponse ErrorMode = "error_response"
)
