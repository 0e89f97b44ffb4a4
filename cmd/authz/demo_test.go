//go:build !nodemo

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The demo `make run` starts must work as its output says: every exported
// token gets the outcome the comments promise.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	envFile, configFile := filepath.Join(dir, "demo.env"), filepath.Join(dir, "demo-authz.yaml")
	flags := []string{"-grpc-addr", freePort(t), "-http-addr", freePort(t), "-idp-addr", freePort(t), "-env", envFile, "-config-file", configFile}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- runDemo(ctx, flags, pw, io.Discard)
		pw.Close()
	}()
	env := map[string]string{}
	var curlCheck string
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		line := sc.Text()
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok && strings.HasPrefix(line, "export ") {
			env[k] = v
		}
		if strings.HasPrefix(line, "curl") && strings.Contains(line, "/check/") {
			curlCheck = line
			break
		}
	}
	go io.Copy(io.Discard, pr)
	for _, k := range []string{"AUTHZ_ADDR", "DEMO_JWT", "DEMO_JWT_ES256", "DEMO_JWT_EXPIRED", "DEMO_JWT_NO_SCOPE", "DEMO_OPAQUE", "DEMO_OPAQUE_REVOKED", "DEMO_JWT_DPOP", "DEMO_DPOP_KEY"} {
		if env[k] == "" {
			t.Fatalf("demo printed no %s", k)
		}
	}
	// `source demo.env` in another shell gives the same values.
	b, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range env {
		if !strings.Contains(string(b), "export "+k+"="+v+"\n") {
			t.Errorf("%s lacks %s", envFile, k)
		}
	}
	cases := []struct {
		args    []string
		outcome string
		code    int
	}{
		{[]string{"-token", env["DEMO_JWT"]}, "allow", 0},
		{[]string{"-token", env["DEMO_JWT_ES256"]}, "allow", 0},
		{[]string{"-token", env["DEMO_JWT_EXPIRED"]}, "invalid", 1},
		{nil, "missing", 1},
		{[]string{"-policy", "orders-write", "-token", env["DEMO_JWT_NO_SCOPE"]}, "forbidden", 1},
		{[]string{"-token", env["DEMO_OPAQUE"]}, "allow", 0},
		{[]string{"-token", env["DEMO_OPAQUE_REVOKED"]}, "invalid", 1},
		// DPoP, as the demo prints it: allow, replay, another URL, Bearer.
		{[]string{"-token", env["DEMO_JWT_DPOP"], "-dpop-key", env["DEMO_DPOP_KEY"]}, "allow", 0},
		{[]string{"-token", env["DEMO_JWT_DPOP"], "-dpop-key", env["DEMO_DPOP_KEY"], "-dpop-replay"}, "invalid", 1},
		{[]string{"-token", env["DEMO_JWT_DPOP"], "-dpop-key", env["DEMO_DPOP_KEY"], "-dpop-htu", "https://elsewhere.example/"}, "invalid", 1},
		{[]string{"-token", env["DEMO_JWT_DPOP"]}, "invalid", 1},
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, c := range cases {
		for {
			var out bytes.Buffer
			code := run(append([]string{"check", "-addr", env["AUTHZ_ADDR"], "-json"}, c.args...), &out, io.Discard)
			var res checkResult
			json.Unmarshal(out.Bytes(), &res)
			if res.Outcome == "error" && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond) // keys still loading
				continue
			}
			if code != c.code || res.Outcome != c.outcome {
				t.Errorf("check %v: exit %d outcome %q, want %d %q", c.args[:min(len(c.args), 2)], code, res.Outcome, c.code, c.outcome)
			}
			break
		}
	}
	// The running demo's config is on disk, names the running IdP and its
	// secret, validates as it stands, and is what -print-config prints.
	written, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(written), "issuer: "+env["DEMO_IDP"]) || !strings.Contains(string(written), filepath.Join(dir, "demo-introspect-secret")) {
		t.Errorf("the written config does not name the running IdP and secret:\n%s", written)
	}
	if code := run([]string{"validate", "-config", configFile}, io.Discard, io.Discard); code != 0 {
		t.Errorf("validate of the running demo's config: exit %d", code)
	}
	var printed bytes.Buffer
	if code := run(append([]string{"demo", "-print-config"}, flags...), &printed, io.Discard); code != 0 || !strings.HasSuffix(printed.String(), string(written)) {
		t.Errorf("-print-config (exit %d) is not the running demo's config:\n%s\nwant it to end with:\n%s", code, printed.String(), written)
	}
	// A fresh token from the demo IdP's token endpoint, as the demo says.
	tokReq, _ := http.NewRequest("POST", env["DEMO_IDP"]+"/token", strings.NewReader("grant_type=client_credentials&scope=orders%3Aread"))
	tokReq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	tokReq.SetBasicAuth("demo-client", "demo-secret")
	tokResp, err := http.DefaultClient.Do(tokReq)
	if err != nil {
		t.Fatal(err)
	}
	var issued struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Scope       string
	}
	json.NewDecoder(tokResp.Body).Decode(&issued)
	tokResp.Body.Close()
	if tokResp.StatusCode != 200 || issued.TokenType != "Bearer" || issued.Scope != "orders:read" {
		t.Fatalf("token endpoint: %d %+v", tokResp.StatusCode, issued)
	}
	var fresh bytes.Buffer
	if code := run([]string{"check", "-addr", env["AUTHZ_ADDR"], "-token", issued.AccessToken, "-json"}, &fresh, io.Discard); code != 0 {
		t.Errorf("a token from the demo IdP's token endpoint: %s", fresh.String())
	}
	// The printed curl of the HTTP door: 200 with the claim headers.
	path := curlCheck[strings.Index(curlCheck, "$AUTHZ_HTTP")+len("$AUTHZ_HTTP"):]
	req, _ := http.NewRequest("GET", env["AUTHZ_HTTP"]+path, nil)
	req.Header.Set("Authorization", "Bearer "+env["DEMO_JWT"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-User-Id") != "alice" {
		t.Errorf("%s: %d, x-user-id %q", curlCheck, resp.StatusCode, resp.Header.Get("X-User-Id"))
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("demo exited %d", code)
	}
	if _, err := os.Stat(envFile); !os.IsNotExist(err) {
		t.Errorf("%s outlives the demo's tokens: %v", envFile, err)
	}
	if _, err := os.Stat(env["DEMO_DPOP_KEY"]); !os.IsNotExist(err) {
		t.Errorf("the demo's DPoP key outlives it: %v", err)
	}
	for _, f := range []string{configFile, filepath.Join(dir, "demo-introspect-secret")} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s outlives the demo: %v", f, err)
		}
	}
	var out bytes.Buffer
	if code := run([]string{"demo", "-print-config"}, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "issuers:") || !strings.Contains(out.String(), "orders-write:") {
		t.Errorf("-print-config: exit %d\n%s", code, out.String())
	}
}
