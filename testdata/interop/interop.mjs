// Makes, with libraries authz did not write (panva's jose and dpop), what a
// client and an IdP that speak RFC 9864's fully-specified "Ed25519" send:
// an IdP's Ed25519 signing key as a JWKS, an access token it signed with
// alg Ed25519 and bound to a DPoP key (cnf.jkt), and a DPoP proof for that
// token made by the dpop client. Reads {iss, aud, sub, htu, htm} as JSON on
// argv[2]; prints {jwks, token, proof, jkt, proof_alg, token_alg} as JSON.
import * as jose from "jose";
import * as DPoP from "dpop";

const req = JSON.parse(process.argv[2]);

const idp = await jose.generateKeyPair("Ed25519", { extractable: true });
const jwk = await jose.exportJWK(idp.publicKey);
jwk.kid = "ed-1";
jwk.alg = "Ed25519";
jwk.use = "sig";

const client = await DPoP.generateKeyPair("Ed25519");
const jkt = await DPoP.calculateThumbprint(client.publicKey);

const now = Math.floor(Date.now() / 1000);
const token = await new jose.SignJWT({ scope: "orders:read", cnf: { jkt } })
  .setProtectedHeader({ alg: "Ed25519", kid: "ed-1", typ: "at+jwt" })
  .setIssuer(req.iss)
  .setAudience(req.aud)
  .setSubject(req.sub)
  .setIssuedAt(now)
  .setExpirationTime(now + 600)
  .setJti(crypto.randomUUID())
  .sign(idp.privateKey);

const proof = await DPoP.generateProof(client, req.htu, req.htm, undefined, token);

process.stdout.write(JSON.stringify({
  jwks: { keys: [jwk] },
  token,
  proof,
  jkt,
  token_alg: jose.decodeProtectedHeader(token).alg,
  proof_alg: jose.decodeProtectedHeader(proof).alg,
}));
