// Verifies, with panva's jose (a library authz did not write), tokens an
// authz minted, as an upstream would: the keys are found by OIDC discovery
// from the issuer (the jwks_uri of its openid-configuration), and the
// signature, iss, aud and exp are checked. Reads {issuer, tokens: [{token,
// audience}]} as JSON on argv[2]; prints, per token, {ok, header, payload}
// or {ok: false, error} as a JSON array.
import * as jose from "jose";

const req = JSON.parse(process.argv[2]);
const base = req.issuer.replace(/\/$/, "");
const doc = await (await fetch(base + "/.well-known/openid-configuration")).json();
if (doc.issuer !== req.issuer) {
  throw new Error(`discovery names issuer ${doc.issuer}, want ${req.issuer}`);
}
const keys = jose.createRemoteJWKSet(new URL(doc.jwks_uri));
const out = [];
for (const { token, audience } of req.tokens) {
  try {
    const { payload, protectedHeader } = await jose.jwtVerify(token, keys, {
      issuer: req.issuer,
      audience,
    });
    out.push({ ok: true, header: protectedHeader, payload });
  } catch (e) {
    out.push({ ok: false, error: `${e.code}: ${e.message}` });
  }
}
console.log(JSON.stringify(out));
