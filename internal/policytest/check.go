package policytest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/authz-dev/authz/envoy"
	"github.com/authz-dev/authz/internal/dpopproof"
)

// Result is what came of a case.
type Result struct {
	Outcome, Route, Policy, Rule string
	Status                       int
	Headers                      map[string]string
	Removed                      []string
	// Tokens are the claims of the upstream tokens authz signed, by the
	// header the case expects one in (nil: none there).
	Tokens map[string]map[string]any
}

// Check runs one case's request through the server.
func (r *Runner) Check(c Case) (Result, error) {
	method, host, path := orDefault(c.Request.Method, "GET"), orDefault(c.Request.Host, "example.test"), orDefault(c.Request.Path, "/")
	h := map[string]string{":method": method, ":authority": host, ":path": path, ":scheme": "https"}
	for k, v := range c.Request.Headers {
		h[strings.ToLower(k)] = v
	}
	var tok string
	if c.Token != nil {
		var err error
		if tok, err = r.token(c.Token); err != nil {
			return Result{}, err
		}
		scheme := "Bearer"
		switch {
		case c.Token.DPoP != nil:
			scheme = "DPoP"
		case c.Token.APIKey != nil:
			scheme = "ApiKey"
		}
		if c.Token.Header != "" {
			h[strings.ToLower(c.Token.Header)] = tok
		} else {
			h["authorization"] = orDefault(c.Token.Scheme, scheme) + " " + tok
		}
	}
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		// Envoy sends the certificate URL-encoded (source.certificate).
		Source:      &authv3.AttributeContext_Peer{Principal: c.Request.SourcePrincipal, Certificate: url.QueryEscape(c.Request.PeerCertificate)},
		Destination: &authv3.AttributeContext_Peer{Principal: c.Request.DestinationPrincipal},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: method, Host: host, Path: path, Scheme: "https", Protocol: "HTTP/1.1", Headers: h, RawBody: []byte(c.Request.Body),
		}},
	}}
	if c.Request.Policy != "" {
		req.Attributes.ContextExtensions = map[string]string{"policy": c.Request.Policy}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var resp *authv3.CheckResponse
	var err error
	if c.Token != nil && c.Token.DPoP != nil {
		resp, err = r.checkWithProof(ctx, req, orDefault(c.Token.DPoP.Proof, "valid"), tok)
	} else {
		resp, err = r.client.Check(ctx, req)
	}
	if err != nil {
		return Result{}, err
	}
	res := Result{Headers: map[string]string{}}
	var hs []*corev3.HeaderValueOption
	if ok := resp.GetOkResponse(); ok != nil {
		res.Status, hs, res.Removed = http.StatusOK, ok.GetHeaders(), ok.GetHeadersToRemove()
	} else {
		d := resp.GetDeniedResponse()
		res.Status, hs = int(d.GetStatus().GetCode()), d.GetHeaders()
	}
	for _, hv := range hs {
		res.Headers[hv.GetHeader().GetKey()] = hv.GetHeader().GetValue()
	}
	res.Outcome = res.Headers["x-authz-outcome"]
	for name := range c.Expect.Tokens {
		if res.Tokens == nil {
			res.Tokens = map[string]map[string]any{}
		}
		name = strings.ToLower(name)
		res.Tokens[name] = r.upstreamClaims(res.Headers[name])
	}
	if dec := resp.GetDynamicMetadata().GetFields()[envoy.DecisionKey].GetStructValue().GetFields(); dec != nil {
		res.Route, res.Policy, res.Rule = dec["route"].GetStringValue(), dec["policy"].GetStringValue(), dec["rule"].GetStringValue()
	}
	return res, nil
}

// checkWithProof sends req with the DPoP proof the case names, as a
// client would: asked for a nonce (use_dpop_nonce), it signs again with
// it; a replayed proof is one the server has already seen.
func (r *Runner) checkWithProof(ctx context.Context, req *authv3.CheckRequest, kind, token string) (*authv3.CheckResponse, error) {
	target := req.Attributes.Request.Http
	if kind == "none" {
		return r.client.Check(ctx, req)
	}
	signer, pr := r.dpop, dpopproof.Request{Method: target.Method, URL: dpopproof.TargetURL(target.Scheme, target.Host, target.Path), Token: token}
	switch kind {
	case "other_key":
		signer = r.otherDPoP
	case "wrong_method":
		pr.Method = "POST"
		if target.Method == "POST" {
			pr.Method = "GET"
		}
	case "wrong_url":
		pr.URL = dpopproof.TargetURL(target.Scheme, "elsewhere.test", target.Path)
	case "stale":
		pr.IssuedAt = time.Now().Add(-10 * time.Minute)
	}
	send := func() (*authv3.CheckResponse, error) {
		proof, err := signer.Sign(pr)
		if err != nil {
			return nil, err
		}
		target.Headers["dpop"] = proof
		return r.client.Check(ctx, req)
	}
	resp, err := send()
	if err != nil {
		return nil, err
	}
	if nonce := deniedHeader(resp, "dpop-nonce"); nonce != "" {
		pr.Nonce = nonce
		if resp, err = send(); err != nil {
			return nil, err
		}
	}
	if kind == "replayed" {
		return r.client.Check(ctx, req) // the same proof again
	}
	return resp, nil
}

func deniedHeader(resp *authv3.CheckResponse, name string) string {
	for _, hv := range resp.GetDeniedResponse().GetHeaders() {
		if strings.EqualFold(hv.GetHeader().GetKey(), name) {
			return hv.GetHeader().GetValue()
		}
	}
	return ""
}

// Differences says how res falls short of what the case expects; none:
// the case passes.
func Differences(c Case, res Result) []string {
	want := c.Expect
	var out []string
	if want.Outcome != res.Outcome {
		out = append(out, fmt.Sprintf("outcome %s, want %s", orDefault(res.Outcome, "(none)"), want.Outcome))
	}
	if want.Status != 0 && want.Status != res.Status {
		out = append(out, fmt.Sprintf("status %d, want %d", res.Status, want.Status))
	}
	for _, f := range []struct {
		name string
		want *string
		got  string
	}{{"route", want.Route, res.Route}, {"policy", want.Policy, res.Policy}, {"rule", want.Rule, res.Rule}} {
		if f.want != nil && *f.want != f.got {
			out = append(out, fmt.Sprintf("%s %q, want %q", f.name, f.got, *f.want))
		}
	}
	for k, v := range want.Headers {
		if got, ok := res.Headers[strings.ToLower(k)]; !ok || got != v {
			out = append(out, fmt.Sprintf("header %s %q, want %q", k, got, v))
		}
	}
	for name, claims := range want.Tokens {
		got := res.Tokens[strings.ToLower(name)]
		if got == nil {
			out = append(out, fmt.Sprintf("header %s carries no upstream token authz signed", name))
			continue
		}
		for k, v := range claims {
			if w, g := jsonText(v), jsonText(got[k]); w != g {
				out = append(out, fmt.Sprintf("upstream token in %s: claim %s %s, want %s", name, k, g, w))
			}
		}
	}
	for _, k := range want.Absent {
		k = strings.ToLower(k)
		if got, ok := res.Headers[k]; ok {
			out = append(out, fmt.Sprintf("header %s %q reaches the upstream, want it absent", k, got))
			continue
		}
		// On an allow, what the client sent goes on unless removed.
		if sent, ok := sentHeader(c.Request.Headers, k); ok && res.Outcome == "allow" && !slices.Contains(res.Removed, k) {
			out = append(out, fmt.Sprintf("header %s %q (the client's) reaches the upstream, want it absent", k, sent))
		}
	}
	return out
}

// jsonText compares a value written in YAML with one read from JSON.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func sentHeader(h map[string]string, name string) (string, bool) {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
