package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/testsupport"
)

// interop is what independent libraries (panva's jose and dpop, the
// reference JS implementations) made: see testdata/interop/interop.mjs.
type interop struct {
	JWKS     json.RawMessage `json:"jwks"`
	Token    string          `json:"token"`
	Proof    string          `json:"proof"`
	JKT      string          `json:"jkt"`
	TokenAlg string          `json:"token_alg"`
	ProofAlg string          `json:"proof_alg"`
}

func runInterop(t *testing.T, iss, htu string) interop {
	t.Helper()
	needsProcess(t, "node and the npm modules of testdata/interop")
	dir := testsupport.RepoPath(t, "testdata/interop")
	for _, m := range []string{"jose", "dpop"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", m)); err != nil {
			t.Fatalf("npm module %s is not installed: run `make test` (it runs npm ci in %s)", m, dir)
		}
	}
	req, _ := json.Marshal(map[string]string{"iss": iss, "aud": "orders-api", "sub": "alice", "htu": htu, "htm": "GET"})
	cmd := exec.Command(findNode(t), "interop.mjs", string(req))
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("interop.mjs: %v", err)
	}
	var got interop
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("interop.mjs printed %q: %v", out, err)
	}
	return got
}

// An access token signed with RFC 9864's alg "Ed25519" by the jose
// library, bound to a DPoP key, with a proof the dpop client signed
// (also alg Ed25519): authz accepts both, and still refuses their misuse.
func TestEd25519TokensAndProofsFromIndependentLibraries(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	const iss = "https://idp.interop.example/"
	in := runInterop(t, iss, "https://shop.example/orders/1")
	if in.TokenAlg != "Ed25519" || in.ProofAlg != "Ed25519" {
		t.Fatalf("the libraries signed with %s and %s, want Ed25519 (RFC 9864)", in.TokenAlg, in.ProofAlg)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(in.JWKS)
	}))
	defer jwks.Close()

	idp := newIdP(t)
	cfg := baseConfig(idp)
	cfg.Issuers = append(cfg.Issuers, config.Issuer{
		Name: "interop", Issuer: iss, JWKSURL: jwks.URL, Algorithms: []string{"Ed25519"},
		Audiences: []string{"orders-api"}, Leeway: ptr(5 * time.Second), MinRefreshInterval: 10 * time.Millisecond,
	})
	h := startWith(t, idp, cfg)
	h.waitServing()

	// newCheckRequest is GET https://shop.example/orders/1, the proof's htu.
	o := h.expect(h.check(withDPoP(in.Token, in.Proof)), "allow", 200)
	if o.Headers["x-user-id"] != "alice" {
		t.Errorf("x-user-id %q", o.Headers["x-user-id"])
	}
	h.expect(h.check(withDPoP(in.Token, in.Proof)), "invalid", 401)     // the proof again: a replay
	h.expect(h.check(withToken(in.Token)), "invalid", 401)              // a bound token as Bearer
	h.expect(h.check(withDPoP(in.Token, in.Proof+"x")), "invalid", 401) // a broken signature

	// An issuer that does not allow Ed25519 does not take the token's Ed25519.
	strict := baseConfig(idp)
	strict.Issuers = append(strict.Issuers, config.Issuer{
		Name: "interop", Issuer: iss, JWKSURL: jwks.URL, Algorithms: []string{"ES256"},
		Audiences: []string{"orders-api"}, Leeway: ptr(5 * time.Second),
	})
	hs := startWith(t, idp, strict)
	hs.waitServing()
	hs.expect(hs.check(withDPoP(in.Token, in.Proof)), "invalid", 401)
	if !strings.Contains(hs.logs.String(), "Ed25519") {
		t.Errorf("the refusal does not name the algorithm:\n%s", hs.logs.String())
	}
}
