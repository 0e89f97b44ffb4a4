package introspect_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/authz/introspect"
	"github.com/authz-dev/authz/authz/jwt"
	"github.com/authz-dev/authz/internal/coretest"
	"github.com/authz-dev/authz/internal/testidp"
	"github.com/authz-dev/authz/internal/testsupport"
	"github.com/authz-dev/authz/internal/upstreamtoken"
)

// RFC 9701 over the core (moved from the server's suite, which keeps the
// config's wiring): authz asks for the answer signed, verifies it with the
// IdP's keys, and forwards that very JWT; an answer that is unsigned,
// signed by another key or for another client, or replayed is an error
// (the IdP's answer is broken), never an allow and never an invalid token.
func newSignedCore(t *testing.T, idp *testidp.IdP) introCore {
	t.Helper()
	keys, err := jwt.NewKeys(jwt.KeysOptions{URL: idp.JWKSURL(), Issuer: idp.Issuer()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(keys.Close)
	statements, err := jwt.NewStatements(jwt.StatementOptions{Issuer: idp.Issuer(), Audience: "authz", Type: introspect.SignedAnswerTyp,
		Algorithms: []jose.SignatureAlgorithm{jose.ES256}, Keys: keys, Leeway: 30 * time.Second, MaxAge: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return newIntroCore(t, idp, func(o *introspect.Options) { o.Signed = statements }, func(o *authz.Options) {
		o.Policies[0].Upstream = []authz.Upstream{&upstreamtoken.SignedAnswer{Header: "x-introspection"}}
	})
}

func TestSignedIntrospectionAnswersAreVerifiedAndForwarded(t *testing.T) {
	idp := testsupport.NewIdP(t)
	idp.SignAnswers("ec-1")
	c := newSignedCore(t, idp)
	tok := c.opaque("alice")

	d := c.Authorize(t.Context(), &authz.Request{Method: "GET", Host: "shop.example", Path: "/", Header: authz.MapHeader{
		"authorization": {"Bearer " + tok}, "x-introspection": {"forged"}, "x_introspection": {"forged"}}})
	if d.Outcome != authz.Allow || coretest.HeaderValue(d, "x-user-id") != "alice" || !slices.Contains(d.RemoveHeaders, "x_introspection") {
		t.Fatalf("%v (%s): headers %v, removed %v", d.Outcome, d.Reason, d.Headers, d.RemoveHeaders)
	}
	signed := coretest.HeaderValue(d, "x-introspection")
	sig, err := jose.ParseSignedCompact(signed, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("forwarded %q: %v", signed, err)
	}
	if typ := sig.Signatures[0].Protected.ExtraHeaders["typ"]; typ != "token-introspection+jwt" {
		t.Errorf("typ %v", typ)
	}
	set := idp.KeySet()
	payload, err := sig.Verify(set.Key("ec-1")[0])
	if err != nil {
		t.Fatalf("the forwarded answer does not verify with the IdP's key: %v", err)
	}
	var answer struct {
		Iss, Aud string
		TI       map[string]any `json:"token_introspection"`
	}
	json.Unmarshal(payload, &answer)
	if answer.Iss != idp.Issuer() || answer.Aud != "authz" || answer.TI["sub"] != "alice" || answer.TI["active"] != true {
		t.Errorf("forwarded answer %s", payload)
	}
	if d := c.check(tok); d.Outcome != authz.Allow || coretest.HeaderValue(d, "x-introspection") != signed || idp.Introspections() != 1 {
		t.Errorf("from the cache: %v, the same signed answer %v, %d introspections", d.Outcome, coretest.HeaderValue(d, "x-introspection") == signed, idp.Introspections())
	}

	// Inactive, signed: invalid.
	revoked := c.opaque("bob")
	idp.Revoke(revoked)
	if d := c.check(revoked); d.Outcome != authz.Invalid {
		t.Errorf("a signed inactive answer: %v, want invalid", d.Outcome)
	}

	// Broken answers: each an error.
	rogue, err := testidp.NewKey("rogue", jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	forge := func(key testidp.Key, typ string, claims map[string]any) string {
		s, err := testidp.SignTyped(key, typ, claims)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ec, _ := idp.SigningKey("ec-1")
	active := map[string]any{"active": true, "sub": "mallory", "exp": time.Now().Add(time.Hour).Unix()}
	now := time.Now().Unix()
	for name, answer := range map[string]*testidp.Answer{
		"plain json":       {Status: 200, ContentType: "application/json", Body: `{"active":true,"sub":"mallory"}`},
		"another key":      {Status: 200, ContentType: testidp.SignedAnswerType, Body: forge(rogue, "token-introspection+jwt", map[string]any{"iss": idp.Issuer(), "aud": "authz", "iat": now, "token_introspection": active})},
		"an access token":  {Status: 200, ContentType: testidp.SignedAnswerType, Body: forge(ec, "at+jwt", map[string]any{"iss": idp.Issuer(), "aud": "authz", "iat": now, "token_introspection": active})},
		"another client":   {Status: 200, ContentType: testidp.SignedAnswerType, Body: forge(ec, "token-introspection+jwt", map[string]any{"iss": idp.Issuer(), "aud": "someone-else", "iat": now, "token_introspection": active})},
		"no answer inside": {Status: 200, ContentType: testidp.SignedAnswerType, Body: forge(ec, "token-introspection+jwt", map[string]any{"iss": idp.Issuer(), "aud": "authz", "iat": now, "active": true})},
		// Signed by the IdP for this client, but 30 days ago: a captured
		// answer for alice replayed for mallory's random token.
		"a replayed answer": {Status: 200, ContentType: testidp.SignedAnswerType, Body: forge(ec, "token-introspection+jwt", map[string]any{"iss": idp.Issuer(), "aud": "authz", "iat": now - 30*86400,
			"token_introspection": map[string]any{"active": true, "sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}})},
		"an answer with no exp": {Status: 200, ContentType: testidp.SignedAnswerType, Body: forge(ec, "token-introspection+jwt", map[string]any{"iss": idp.Issuer(), "aud": "authz", "iat": now,
			"token_introspection": map[string]any{"active": true, "sub": "mallory"}})},
	} {
		idp.SetAnswer(answer)
		d := c.check(c.opaque("mallory-" + strings.ReplaceAll(name, " ", "-")))
		if d.Outcome != authz.Error || coretest.HeaderValue(d, "x-introspection") != "" {
			t.Errorf("%s: %v (%s), forwarded %q; want error, nothing forwarded", name, d.Outcome, d.Reason, coretest.HeaderValue(d, "x-introspection"))
		}
	}
}
