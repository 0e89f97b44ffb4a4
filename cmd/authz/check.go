package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/authz/jwt"
	"github.com/authz-dev/authz/envoy"
	"github.com/authz-dev/authz/internal/dpopproof"
	"github.com/authz-dev/authz/internal/server"
)

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ",") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

// checkResult is what `authz check -json` prints.
type checkResult struct {
	Outcome string            `json:"outcome"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Removed []string          `json:"removed_headers,omitempty"`
	// Body is the denial's JSON body, as JSON.
	Body json.RawMessage `json:"body,omitempty"`
	// Metadata is the CheckResponse's dynamic_metadata, for later filters.
	Metadata map[string]any `json:"dynamic_metadata,omitempty"`
	Route    string         `json:"route,omitempty"`
	Policy   string         `json:"policy,omitempty"`
	Rule     string         `json:"rule,omitempty"`
	// Tokens are the JWTs the allow hands upstream (a minted token, an
	// IdP's signed answer), decoded for reading, by header.
	Tokens map[string]decodedToken `json:"upstream_tokens,omitempty"`
}

// decodedToken is a JWT's protected header and claims, not verified: what
// the upstream will be handed, for a human to read.
type decodedToken struct {
	Header map[string]any `json:"header"`
	Claims map[string]any `json:"claims"`
}

// cmdCheck sends one Check, the way Envoy would, and prints the decision.
// Exit 0 allow, 1 deny, 2 could not ask.
func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", "send one Check to a running authz, as Envoy would, and print the decision", stderr)
	addr := fs.String("addr", "127.0.0.1:9191", "authz gRPC address")
	token := fs.String("token", "", "access token, sent as Authorization: Bearer")
	path := fs.String("path", "/", "request path")
	method := fs.String("method", "GET", "request method")
	host := fs.String("host", "example.local", "request host")
	policy := fs.String("policy", "", "policy name (context_extensions policy); empty lets the routes choose")
	source := fs.String("source-principal", "", "the caller's identity, as Istio sends it (spiffe://…)")
	destination := fs.String("destination-principal", "", "the workload's identity, as Istio sends it (spiffe://…)")
	asJSON := fs.Bool("json", false, "print JSON")
	caFile := fs.String("ca", "", "use TLS, trusting this CA file")
	certFile := fs.String("cert", "", "client certificate, for a listener that demands mTLS (with -key)")
	keyFile := fs.String("key", "", "client key (with -cert)")
	timeout := fs.Duration("timeout", 5*time.Second, "RPC timeout")
	dpopKey := fs.String("dpop-key", "", "send the token with the DPoP scheme and a fresh proof signed by this private key (PEM)")
	dpopHTU := fs.String("dpop-htu", "", "with -dpop-key: the proof's htu (default: https://HOST/PATH of this request)")
	dpopReplay := fs.Bool("dpop-replay", false, "with -dpop-key: send the same proof twice and print the second decision")
	var headers headerFlags
	fs.Var(&headers, "header", "request header K=V (repeatable)")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if _, _, err := net.SplitHostPort(*addr); err != nil && !strings.HasPrefix(*addr, "unix:") {
		fmt.Fprintf(stderr, "authz check: -addr %q: want host:port of authz's gRPC listener, like 127.0.0.1:9191 (or unix:PATH)\n", *addr)
		return 2
	}
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: *method, Path: *path, Host: *host, Scheme: "https", Protocol: "HTTP/1.1",
			Headers: map[string]string{":authority": *host, ":method": *method, ":path": *path},
		}},
	}}
	h := req.Attributes.Request.Http.Headers
	for _, kv := range headers {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			fmt.Fprintf(stderr, "authz check: -header %q: want K=V\n", kv)
			return 2
		}
		h[strings.ToLower(k)] = v
	}
	if *token != "" {
		h["authorization"] = "Bearer " + *token
	}
	if *dpopKey != "" {
		key, alg, err := readDPoPKey(*dpopKey)
		if err != nil {
			fmt.Fprintf(stderr, "authz check: -dpop-key: %v\n", err)
			return 2
		}
		signer, err := dpopproof.NewSigner(key, alg)
		if err != nil {
			fmt.Fprintf(stderr, "authz check: -dpop-key: %v\n", err)
			return 2
		}
		proof, err := signer.Sign(dpopproof.Request{Method: *method, URL: cmp.Or(*dpopHTU, dpopproof.TargetURL("https", *host, *path)), Token: *token})
		if err != nil {
			fmt.Fprintf(stderr, "authz check: dpop proof: %v\n", err)
			return 2
		}
		h["authorization"] = "DPoP " + *token
		h["dpop"] = proof
	}
	if *policy != "" {
		req.Attributes.ContextExtensions = map[string]string{envoy.PolicyKey: *policy}
	}
	if *source != "" {
		req.Attributes.Source = &authv3.AttributeContext_Peer{Principal: *source}
	}
	if *destination != "" {
		req.Attributes.Destination = &authv3.AttributeContext_Peer{Principal: *destination}
	}

	creds := insecure.NewCredentials()
	if *caFile != "" || *certFile != "" {
		tlsCfg, err := server.ClientTLS(*caFile, *certFile, *keyFile)
		if err != nil {
			fmt.Fprintf(stderr, "authz check: %v\n", err)
			return 2
		}
		creds = credentials.NewTLS(tlsCfg)
	}
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		fmt.Fprintf(stderr, "authz check: %v\n", err)
		return 2
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, envoy.ExplainKey, "1")
	var md metadata.MD
	client := authv3.NewAuthorizationClient(conn)
	if *dpopReplay && *dpopKey != "" {
		if _, err := client.Check(ctx, req); err != nil {
			fmt.Fprintf(stderr, "authz check: %v\n", err)
			return 2
		}
	}
	resp, err := client.Check(ctx, req, grpc.Header(&md))
	if err != nil {
		fmt.Fprintf(stderr, "authz check: %v\n", err)
		if strings.Contains(err.Error(), "server preface") {
			// An HTTP/1 server answered the HTTP/2 preface.
			fmt.Fprintf(stderr, "authz check: is %s an HTTP port? check speaks gRPC to grpc.addr (:9191 by default)\n", *addr)
		}
		return 2
	}
	res := describe(resp)
	if md := resp.GetDynamicMetadata(); md != nil {
		res.Metadata = md.AsMap()
	}
	res.Route, res.Policy, res.Rule = first(md, envoy.RouteKey), first(md, envoy.PolicyNameKey), first(md, envoy.RuleKey)
	if *asJSON {
		json.NewEncoder(stdout).Encode(res)
	} else {
		printResult(stdout, res)
	}
	if res.Outcome == "allow" {
		return 0
	}
	return 1
}

func describe(resp *authv3.CheckResponse) checkResult {
	res := checkResult{Headers: map[string]string{}, Outcome: resp.GetStatus().GetMessage()}
	addAll := func(hs []*corev3.HeaderValueOption) {
		for _, h := range hs {
			res.Headers[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
		}
	}
	if codes.Code(resp.GetStatus().GetCode()) == codes.OK {
		res.Outcome, res.Status = "allow", 200
		addAll(resp.GetOkResponse().GetHeaders())
		res.Removed = resp.GetOkResponse().GetHeadersToRemove()
		for name, v := range res.Headers {
			if t, ok := decodeJWT(strings.TrimPrefix(v, "Bearer ")); ok {
				if res.Tokens == nil {
					res.Tokens = map[string]decodedToken{}
				}
				res.Tokens[name] = t
			}
		}
		return res
	}
	if res.Outcome == "" {
		res.Outcome = "deny"
	}
	d := resp.GetDeniedResponse()
	res.Status = int(d.GetStatus().GetCode())
	if res.Status == 0 {
		res.Status = 403 // what Envoy sends for a denial without a status
	}
	addAll(d.GetHeaders())
	if b := d.GetBody(); json.Valid([]byte(b)) {
		res.Body = json.RawMessage(b)
	} else if b != "" {
		res.Body, _ = json.Marshal(b) // a string always marshals
	}
	return res
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func printResult(w io.Writer, r checkResult) {
	fmt.Fprintf(w, "outcome: %s\nstatus:  %d\n", r.Outcome, r.Status)
	if r.Policy != "" {
		route := r.Route
		if route == "" {
			route = "(none)"
		}
		fmt.Fprintf(w, "policy:  %s\nroute:   %s\n", r.Policy, route)
	}
	if r.Rule != "" {
		fmt.Fprintf(w, "rule:    %s\n", r.Rule)
	}
	if len(r.Headers) > 0 {
		if r.Outcome == "allow" {
			fmt.Fprintln(w, "upstream headers:")
		} else {
			fmt.Fprintln(w, "response headers:")
		}
		for _, n := range slices.Sorted(maps.Keys(r.Headers)) {
			fmt.Fprintf(w, "  %s: %s\n", n, r.Headers[n])
		}
	}
	if len(r.Removed) > 0 {
		fmt.Fprintf(w, "removed from upstream: %s\n", strings.Join(r.Removed, ", "))
	}
	if len(r.Tokens) > 0 {
		fmt.Fprintln(w, "upstream tokens (decoded here, not verified):")
		for _, n := range slices.Sorted(maps.Keys(r.Tokens)) {
			h, _ := json.Marshal(r.Tokens[n].Header) // decoded from JSON: always marshals
			c, _ := json.Marshal(r.Tokens[n].Claims)
			fmt.Fprintf(w, "  %s:\n    header: %s\n    claims: %s\n", n, h, c)
		}
	}
	if len(r.Metadata) > 0 {
		b, _ := json.Marshal(r.Metadata) // decoded from a protobuf Struct: always marshals
		fmt.Fprintf(w, "dynamic metadata: %s\n", b)
	}
	if len(r.Body) > 0 {
		fmt.Fprintf(w, "body: %s\n", r.Body)
	}
}

// decodeJWT reads a compact JWS's protected header and JSON payload
// without verifying it (go-jose parses; the signature is the upstream's
// to check).
func decodeJWT(v string) (decodedToken, bool) {
	if strings.Count(v, ".") != 2 {
		return decodedToken{}, false
	}
	sig, err := jose.ParseSignedCompact(v, jwt.Algorithms)
	if err != nil || len(sig.Signatures) != 1 {
		return decodedToken{}, false
	}
	var t decodedToken
	if json.Unmarshal(sig.UnsafePayloadWithoutVerification(), &t.Claims) != nil {
		return decodedToken{}, false
	}
	p := sig.Signatures[0].Protected
	t.Header = map[string]any{"alg": p.Algorithm}
	if p.KeyID != "" {
		t.Header["kid"] = p.KeyID
	}
	for k, v := range p.ExtraHeaders {
		t.Header[string(k)] = v
	}
	return t, true
}
