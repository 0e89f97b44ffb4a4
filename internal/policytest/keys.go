package policytest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/internal/dpopproof"
	"github.com/authz-dev/authz/internal/keyfile"
)

// makeKeys makes one key per algorithm family and publishes the public
// halves as the JWKS file every issuer reads.
func (r *Runner) makeKeys() error {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if err := r.makeDPoPKeys(); err != nil {
		return err
	}
	var set jose.JSONWebKeySet
	for alg, priv := range map[jose.SignatureAlgorithm]any{jose.RS256: rsaKey, jose.ES256: ecKey, jose.EdDSA: edKey} {
		k := jose.JSONWebKey{Key: priv, KeyID: "authz-test-" + strings.ToLower(string(alg)), Algorithm: string(alg), Use: "sig"}
		r.keys[alg] = k
		set.Keys = append(set.Keys, k.Public())
	}
	b, err := json.Marshal(set)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(r.dir, "jwks.json"), b, 0o600)
}

// makeNonceKey writes the key the run's server signs DPoP nonces with.
func (r *Runner) makeNonceKey() (string, error) {
	var key [32]byte
	rand.Read(key[:])
	path := filepath.Join(r.dir, "dpop-nonce.key")
	return path, os.WriteFile(path, []byte(hex.EncodeToString(key[:])), 0o600)
}

// makeDPoPKeys makes the client keys of the cases' DPoP proofs.
func (r *Runner) makeDPoPKeys() error {
	var keys [2]*ecdsa.PrivateKey
	for i := range keys {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		keys[i] = k
	}
	var err error
	if r.dpop, err = dpopproof.NewSigner(keys[0], jose.ES256); err != nil {
		return err
	}
	if r.otherDPoP, err = dpopproof.NewSigner(keys[1], jose.ES256); err != nil {
		return err
	}
	r.dpopJKT, err = dpopproof.Thumbprint(keys[0].Public())
	return err
}

// sign signs claims with the run's key for alg.
func (r *Runner) sign(alg jose.SignatureAlgorithm, typ string, claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: r.keys[alg]}, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// makeUpstreamKey makes the key the run's server signs upstream tokens
// with: the config's key files may not be at hand (CI), and a case checks
// the claims of a token, not whose key signed it.
func (r *Runner) makeUpstreamKey() ([]string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(r.dir, "upstream.pem")
	if err := keyfile.Write(path, key); err != nil {
		return nil, err
	}
	r.upstream = jose.JSONWebKey{Key: key.Public()}
	return []string{path}, nil
}

// upstreamClaims are the claims of the token in header value v ("Bearer "
// or bare) that authz signed with the run's upstream key, or that a
// signed-answers endpoint of the run signed; nil when v holds neither.
func (r *Runner) upstreamClaims(v string) map[string]any {
	v = strings.TrimPrefix(v, "Bearer ")
	sig, err := jose.ParseSignedCompact(v, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil
	}
	var payload []byte
	answers := r.keys[jose.ES256]
	for _, key := range []jose.JSONWebKey{r.upstream, answers.Public()} {
		if key.Key == nil {
			continue
		}
		if payload, err = sig.Verify(key); err == nil {
			break
		}
	}
	if payload == nil {
		return nil
	}
	var claims map[string]any
	if json.Unmarshal(payload, &claims) != nil {
		return nil
	}
	return claims
}
