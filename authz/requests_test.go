package authz_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/coretest"
	"github.com/authz-dev/authz/internal/testidp"
	"github.com/authz-dev/authz/internal/testsupport"
)

// The core's own contracts about a request's token and headers, judged
// with a real issuer's keys and no door (moved from the server's
// end-to-end suite, which keeps what needs a listener).

func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	c := coretest.New(t)
	if d := c.Decide("", authz.MapHeader{"authorization": {"bEaReR " + c.Mint(t, c.Valid())}}); d.Outcome != authz.Allow {
		t.Errorf("bEaReR: %v (%s)", d.Outcome, d.Reason)
	}
}

// RFC 6750 §2: one token, one method. The same token by two methods is one
// token; two tokens are invalid, in any two places.
func TestTwoDifferentTokensAreInvalid(t *testing.T) {
	c := coretest.New(t)
	a, b := c.Mint(t, c.Valid()), c.Mint(t, c.Valid())
	for name, tc := range map[string]struct {
		h    authz.MapHeader
		want authz.Outcome
	}{
		"a header and a cookie":        {authz.MapHeader{"authorization": {"Bearer " + a}, "cookie": {"theme=dark; access_token=" + b}}, authz.Invalid},
		"one token by two methods":     {authz.MapHeader{"authorization": {"Bearer " + a}, "cookie": {"access_token=" + a}}, authz.Allow},
		"a cookie alone":               {authz.MapHeader{"cookie": {"access_token=" + b}}, authz.Allow},
		"two Authorization values":     {authz.MapHeader{"authorization": {"Bearer " + a, "Bearer " + b}}, authz.Invalid},
		"one Authorization value, two": {authz.MapHeader{"authorization": {"Bearer " + a, "Bearer " + a}}, authz.Allow},
	} {
		if d := c.Decide("cookie", tc.h); d.Outcome != tc.want {
			t.Errorf("%s: %v (%s), want %v", name, d.Outcome, d.Reason, tc.want)
		}
	}
}

// Claim headers are the authorizer's: a client's copy is overwritten, and
// a header whose claim the token lacks is removed, never passed on.
func TestClientCannotSpoofClaimHeaders(t *testing.T) {
	c := coretest.New(t)
	d := c.Decide("", authz.MapHeader{"authorization": {"Bearer " + c.Mint(t, c.Valid())}, "x-user-id": {"mallory"}, "x-email": {"boss@example.com"}})
	if v, _ := coretest.Header(d, "x-user-id"); d.Outcome != authz.Allow || v != "alice" {
		t.Errorf("x-user-id = %q (%v), want alice, overwritten", v, d.Outcome)
	}
	if _, set := coretest.Header(d, "x-email"); set || !slices.Contains(d.RemoveHeaders, "x-email") {
		t.Errorf("x-email (claim absent): headers %v removed %v", d.Headers, d.RemoveHeaders)
	}
}

// Control characters never reach a header, and a claim over the bound is
// removed, not truncated.
func TestControlCharactersNeverReachHeaders(t *testing.T) {
	c := coretest.New(t)
	claims := c.Valid()
	claims["sub"] = "alice\r\nx-admin: true\x00"
	claims["email"] = strings.Repeat("a", 5000) + "@example.com"
	d := c.Decide("", authz.MapHeader{"authorization": {"Bearer " + c.Mint(t, claims)}})
	if v, _ := coretest.Header(d, "x-user-id"); v != "alicex-admin: true" {
		t.Errorf("x-user-id = %q", v)
	}
	if _, set := coretest.Header(d, "x-email"); set || !slices.Contains(d.RemoveHeaders, "x-email") {
		t.Errorf("an over-long claim must be removed: headers %v removed %v", d.Headers, d.RemoveHeaders)
	}
}

// A policy's scopes: scope or scp (an array) satisfies them; a token short
// of one is forbidden with the scope it needs in the challenge; a policy
// the proxy names that does not exist is an error naming it.
func TestPolicies(t *testing.T) {
	c := coretest.New(t)
	tok := c.Mint(t, c.IdP.Claims("bob", time.Hour, "orders:read", "orders-api"))
	h := authz.MapHeader{"authorization": {"Bearer " + tok}}
	if d := c.Decide("", h); d.Outcome != authz.Allow {
		t.Errorf("default: %v", d.Outcome)
	}
	d := c.Decide("orders-write", h)
	if want := `Bearer realm="authz", error="insufficient_scope", scope="orders:write"`; d.Outcome != authz.Forbidden || c.Answers().WWWAuthenticate(&d) != want {
		t.Errorf("orders-write: %v, challenge %q", d.Outcome, c.Answers().WWWAuthenticate(&d))
	}
	scp := c.Valid()
	delete(scp, "scope")
	scp["scp"] = []any{"orders:write"}
	if d := c.Decide("orders-write", authz.MapHeader{"authorization": {"Bearer " + c.Mint(t, scp)}}); d.Outcome != authz.Allow {
		t.Errorf("scp: %v", d.Outcome)
	}
	if d := c.Decide("no-such-policy", h); d.Outcome != authz.Error || !strings.Contains(d.Reason, `unknown policy "no-such-policy"`) {
		t.Errorf("an unknown policy: %v, %q", d.Outcome, d.Reason)
	}
}

// Every way a JWT is bad is invalid (never error), answered with the
// invalid_token challenge and a JSON body that says so.
func TestInvalidTokens(t *testing.T) {
	c := coretest.New(t)
	now := time.Now()
	with := func(mut func(map[string]any)) string {
		claims := c.Valid()
		mut(claims)
		return c.Mint(t, claims)
	}
	unpublished, err := testidp.NewKey("rsa-1", jose.RS256) // same kid, other key
	if err != nil {
		t.Fatal(err)
	}
	forged, err := testidp.Sign(unpublished, c.Valid())
	if err != nil {
		t.Fatal(err)
	}
	for name, token := range map[string]string{
		"expired token is invalid, not error": with(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() }),
		"nbf in the future":                   with(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() }),
		"iat in the future":                   with(func(c map[string]any) { c["iat"] = now.Add(time.Hour).Unix() }),
		"no exp":                              with(func(c map[string]any) { delete(c, "exp") }),
		"wrong audience":                      with(func(c map[string]any) { c["aud"] = "billing-api" }),
		"untrusted issuer":                    with(func(c map[string]any) { c["iss"] = "https://evil.example" }),
		"bad signature":                       forged,
		"alg none":                            algNone(c.Valid()),
		"HS256 keyed with the RSA public key": hmacWithPublicKey(t, c.IdP, c.Valid()),
		"tampered payload":                    tamper(with(func(map[string]any) {})),
		"garbage":                             "not-a-token",
		"three dots of junk":                  "a.b.c",
	} {
		d := c.Decide("", authz.MapHeader{"authorization": {"Bearer " + token}})
		ans := c.Answers()
		var body map[string]string
		if d.Outcome != authz.Invalid || ans.Status(d.Outcome) != 401 || !strings.Contains(ans.WWWAuthenticate(&d), `error="invalid_token"`) {
			t.Errorf("%s: %v %d, challenge %q", name, d.Outcome, ans.Status(d.Outcome), ans.WWWAuthenticate(&d))
		}
		if err := json.Unmarshal(ans.Body(&d), &body); err != nil || body["error"] != "invalid_token" || body["error_description"] == "" {
			t.Errorf("%s: body %s", name, ans.Body(&d))
		}
	}
}

// No token where the policy looks — none at all, or another scheme — is
// missing, challenged with the realm and no error code (RFC 6750 §3.1).
func TestMissingToken(t *testing.T) {
	c := coretest.New(t)
	for name, h := range map[string]authz.MapHeader{
		"no header":    {},
		"basic scheme": {"authorization": {"Basic YWxpY2U6cHc="}},
	} {
		d := c.Decide("", h)
		if d.Outcome != authz.Missing || c.Answers().Status(d.Outcome) != 401 || c.Answers().WWWAuthenticate(&d) != `Bearer realm="authz"` {
			t.Errorf("%s: %v, challenge %q", name, d.Outcome, c.Answers().WWWAuthenticate(&d))
		}
	}
}

func algNone(claims map[string]any) string {
	payload, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
}

// hmacWithPublicKey is the classic algorithm-confusion forgery: HS256 keyed
// with the bytes of the issuer's public RSA key.
func hmacWithPublicKey(t *testing.T, idp *testidp.IdP, claims map[string]any) string {
	t.Helper()
	set := idp.KeySet()
	der, err := x509.MarshalPKIXPublicKey(set.Key("rsa-1")[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: pemBytes}, (&jose.SignerOptions{}).WithHeader("kid", "rsa-1"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	payload = []byte(strings.Replace(string(payload), `"alice"`, `"admin"`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

// An array item holding the separator cannot pose as two items: it is
// dropped, the others joined.
func TestArrayItemHoldingTheSeparatorIsDropped(t *testing.T) {
	c := coretest.New(t)
	claims := c.Valid()
	claims["realm_access"] = map[string]any{"roles": []any{"user,admin", "viewer", "editor"}}
	d := c.Decide("", authz.MapHeader{"authorization": {"Bearer " + c.Mint(t, claims)}})
	if v, _ := coretest.Header(d, "x-roles"); d.Outcome != authz.Allow || v != "viewer,editor" {
		t.Errorf("x-roles = %q (%v), want viewer,editor", v, d.Outcome)
	}
}

// A token of an issuer the policy does not accept: the client is told
// nothing about issuers; the log's reason names it.
func TestForbiddenDescriptionIsGeneric(t *testing.T) {
	idp := testsupport.NewIdP(t)
	c := coretest.NewWith(t, idp, coretest.Setup{Core: func(o *authz.Options) {
		o.NamedValidators = map[string]authz.Validator{"corp-introspect": refuseAll{}}
		o.Policies = append(o.Policies, &authz.Policy{Name: "opaque-only", TokenSources: []authz.TokenSource{{Header: "authorization", Scheme: "Bearer"}}, Validators: []string{"corp-introspect"}})
	}})
	<-c.Keys.Ready()
	d := c.Decide("opaque-only", authz.MapHeader{"authorization": {"Bearer " + c.Mint(t, c.Valid())}})
	if d.Outcome != authz.Forbidden {
		t.Fatalf("a JWT of an issuer the policy does not name: %v (%s), want forbidden", d.Outcome, d.Reason)
	}
	if strings.Contains(d.Description, "corp") || strings.Contains(d.Description, "issuer") {
		t.Errorf("the client learns the issuer: %q", d.Description)
	}
	if !strings.Contains(d.Reason, "token issuer corp not accepted by policy") {
		t.Errorf("the reason lacks the precise cause: %q", d.Reason)
	}
}

// refuseAll is an opaque-token validator that never sees a JWT here.
type refuseAll struct{}

func (refuseAll) Validate(context.Context, string) (*authz.Result, error) {
	return nil, errors.New("not reached")
}

// A policy's payload header carries the token's claims whole, as
// base64url JSON, for an upstream that reads them itself.
func TestPayloadHeaderCarriesTheClaims(t *testing.T) {
	idp := testsupport.NewIdP(t)
	c := coretest.NewWith(t, idp, coretest.Setup{Core: func(o *authz.Options) { o.Policies[0].PayloadHeader = "x-jwt-payload" }})
	<-c.Keys.Ready()
	d := c.Decide("", authz.MapHeader{"authorization": {"Bearer " + c.Mint(t, c.Valid())}, "x-jwt-payload": {"forged"}})
	v, _ := coretest.Header(d, "x-jwt-payload")
	payload, err := base64.RawURLEncoding.DecodeString(v)
	var claims map[string]any
	if d.Outcome != authz.Allow || err != nil || json.Unmarshal(payload, &claims) != nil || claims["sub"] != "alice" || claims["iss"] != idp.Issuer() {
		t.Errorf("x-jwt-payload = %q (%v)", v, d.Outcome)
	}
}

// A policy name from a request is bounded and made printable before the
// decision (and so the decision log) carries it.
func TestHugePolicyNameIsBounded(t *testing.T) {
	c := coretest.New(t)
	huge := strings.Repeat("p", 300<<10)
	d := c.Decide(huge+"<\t>", coretest.Bearer(c.Mint(t, c.Valid())))
	if d.Outcome != authz.Error {
		t.Fatalf("unknown policy: %v", d.Outcome)
	}
	if d.Policy != strings.Repeat("p", 64)+"..." {
		t.Errorf("the decision names policy %.80q", d.Policy)
	}
	if len(d.Reason) > 1<<10 || len(d.Description) > 1<<10 {
		t.Errorf("the reason grew to %d bytes, the description to %d", len(d.Reason), len(d.Description))
	}
	if d = c.Decide("a<b>\n", coretest.Bearer(c.Mint(t, c.Valid()))); d.Policy != "a_b__" {
		t.Errorf("a short name with control bytes: %q", d.Policy)
	}
}
