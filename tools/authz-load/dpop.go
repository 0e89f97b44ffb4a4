package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/internal/testidp"
)

// dpopLoad is one DPoP-bound token and its client's key: every Check of
// the dpop-hit scenario carries the cached token and a proof never seen
// before, as a real DPoP client sends.
type dpopLoad struct {
	key   *ecdsa.PrivateKey
	token string
}

func newDPoPLoad(idp *testidp.IdP) (*dpopLoad, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tp, err := (&jose.JSONWebKey{Key: key.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	c := idp.Claims("dpop-user", time.Hour, "orders:read", "orders-api")
	c["cnf"] = map[string]any{"jkt": base64.RawURLEncoding.EncodeToString(tp)}
	tok, err := idp.Mint("ec-1", c)
	if err != nil {
		return nil, err
	}
	return &dpopLoad{key: key, token: tok}, nil
}

// requests signs n proofs (on every core) for checkRequest's target. They
// are made just before the scenario runs: a proof is good for the iat
// window only.
func (d *dpopLoad) requests(n int) ([]*authv3.CheckRequest, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: d.key}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(d.token))
	ath := base64.RawURLEncoding.EncodeToString(sum[:])
	reqs := make([]*authv3.CheckRequest, n)
	var wg sync.WaitGroup
	errs := make(chan error, runtime.GOMAXPROCS(0))
	for w := range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += runtime.GOMAXPROCS(0) {
				body, _ := json.Marshal(map[string]any{
					"jti": fmt.Sprintf("load-%d-%d", time.Now().UnixNano(), i), "htm": "GET",
					"htu": "https://shop.example/orders/1", "iat": time.Now().Unix(), "ath": ath,
				})
				jws, err := signer.Sign(body)
				if err != nil {
					errs <- err
					return
				}
				proof, _ := jws.CompactSerialize()
				req := checkRequest("")
				h := req.Attributes.Request.Http.Headers
				h["authorization"] = "DPoP " + d.token
				h["dpop"] = proof
				reqs[i] = req
			}
		}()
	}
	wg.Wait()
	close(errs)
	return reqs, <-errs
}
