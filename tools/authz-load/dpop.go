package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"runtime"
	"sync"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/internal/dpopproof"
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
	jkt, err := dpopproof.Thumbprint(key.Public())
	if err != nil {
		return nil, err
	}
	c := idp.Claims("dpop-user", time.Hour, "orders:read", "orders-api")
	c["cnf"] = map[string]any{"jkt": jkt}
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
	signer, err := dpopproof.NewSigner(d.key, jose.ES256)
	if err != nil {
		return nil, err
	}
	reqs := make([]*authv3.CheckRequest, n)
	var wg sync.WaitGroup
	errs := make(chan error, runtime.GOMAXPROCS(0))
	for w := range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += runtime.GOMAXPROCS(0) {
				proof, err := signer.Sign(dpopproof.Request{Method: "GET", URL: "https://shop.example/orders/1", Token: d.token})
				if err != nil {
					errs <- err
					return
				}
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
