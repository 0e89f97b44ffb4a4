package testidp

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"
)

// ClusterIssuer is the service-account issuer of the cluster an APIServer
// stands for.
const ClusterIssuer = "https://kubernetes.default.svc.cluster.local"

// APIServer is a double of a cluster's API server as an authorizer meets
// it: TLS with a CA of its own, 401 (a Status object) without the pod's
// bearer token, and the service-account issuer's discovery and JWKS (the
// IdP's keys) in the shapes the real one serves.
type APIServer struct {
	*httptest.Server
	bearer       string
	unauthorized atomic.Int64
	garbage      atomic.Bool
}

// NewAPIServer starts an API server whose service-account keys are idp's
// and which admits callers with bearer as their token.
func NewAPIServer(idp *IdP, bearer string) *APIServer {
	a := &APIServer{bearer: bearer}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /openid/v1/jwks", func(w http.ResponseWriter, r *http.Request) {
		if !a.authed(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		if a.garbage.Load() {
			w.Write([]byte(`{"keys": "not a list"`))
			return
		}
		json.NewEncoder(w).Encode(idp.KeySet())
	})
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		if !a.authed(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": ClusterIssuer, "jwks_uri": "https://10.0.0.1:6443/openid/v1/jwks",
			"response_types_supported": []string{"id_token"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	a.Server = httptest.NewTLSServer(mux)
	return a
}

func (a *APIServer) authed(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") == "Bearer "+a.bearer {
		return true
	}
	a.unauthorized.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	w.Write([]byte(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`))
	return false
}

// JWKSURL is where the service-account keys are served.
func (a *APIServer) JWKSURL() string { return a.URL + "/openid/v1/jwks" }

// CAPEM is the cluster CA (the server's certificate) as a pod mounts it.
func (a *APIServer) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Certificate().Raw})
}

// Unauthorized counts requests that came without the bearer token.
func (a *APIServer) Unauthorized() int64 { return a.unauthorized.Load() }

// AnswerGarbage makes the JWKS answer nonsense (or not).
func (a *APIServer) AnswerGarbage(on bool) { a.garbage.Store(on) }

// ServiceAccountClaims are the claims of a projected service-account token
// of namespace's "orders" account for aud, as the kubelet mounts it; bound
// adds the pod and node it is bound to.
func (idp *IdP) ServiceAccountClaims(namespace, aud string, bound bool) map[string]any {
	c := idp.Claims("system:serviceaccount:"+namespace+":orders", time.Hour, "")
	c["iss"], c["aud"] = ClusterIssuer, []any{aud}
	k8s := map[string]any{"namespace": namespace, "serviceaccount": map[string]any{"name": "orders", "uid": "sa-uid-1"}}
	if bound {
		k8s["pod"] = map[string]any{"name": "orders-7d9f", "uid": "pod-uid-1"}
		k8s["node"] = map[string]any{"name": "node-1", "uid": "node-uid-1"}
	}
	c["kubernetes.io"] = k8s
	return c
}
