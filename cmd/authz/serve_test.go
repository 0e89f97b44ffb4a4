package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeReloadsOnSIGHUP runs `authz serve` as a user does and signals it.
func TestServeReloadsOnSIGHUP(t *testing.T) {
	idp := newIdP(t)
	path := filepath.Join(t.TempDir(), "authz.yaml")
	grpcAddr, httpAddr := freePort(t), freePort(t)
	write := func(extra string) {
		text := fmt.Sprintf(commandConfig, idp.Issuer(), idp.JWKSURL(), grpcAddr, httpAddr) + extra
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	logs := &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run([]string{"serve", "-config", path}, io.Discard, logs) }()
	t.Cleanup(func() {
		syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d:\n%s", code, logs)
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop on SIGTERM")
		}
	})
	tok, _ := idp.Mint("rsa-1", idp.Claims("old", -time.Hour, "", "orders-api"))
	status := func() int {
		var buf syncBuffer
		run([]string{"check", "-addr", grpcAddr, "-json", "-token", tok}, &buf, io.Discard)
		var res checkResult
		json.Unmarshal([]byte(buf.String()), &res)
		return res.Status
	}
	eventually(t, "serving", logs, func() bool { return strings.Contains(logs.String(), "ready: keys loaded") })
	if s := status(); s != 401 {
		t.Fatalf("invalid status %d, want 401", s)
	}

	write("outcomes: { invalid: { status: 403 } }\n")
	syscall.Kill(syscall.Getpid(), syscall.SIGHUP)
	eventually(t, "SIGHUP applies the new status", logs, func() bool { return status() == 403 })

	os.WriteFile(path, []byte("grpc: { addr: \""+grpcAddr+"\" }\nissuers: [{ name: x, nope: 1 }]\n"), 0o600)
	syscall.Kill(syscall.Getpid(), syscall.SIGHUP)
	eventually(t, "a bad file is rejected with its error", logs, func() bool {
		return strings.Contains(logs.String(), "config reload rejected") && strings.Contains(logs.String(), `unknown key \"nope\"`)
	})
	if s := status(); s != 403 {
		t.Errorf("after a rejected reload the status is %d, want the running 403", s)
	}

	text := fmt.Sprintf(commandConfig, idp.Issuer(), idp.JWKSURL(), grpcAddr, "127.0.0.1:1") + "outcomes: { invalid: { status: 403 } }\n"
	os.WriteFile(path, []byte(text), 0o600)
	syscall.Kill(syscall.Getpid(), syscall.SIGHUP)
	eventually(t, "a listener change is reported as needing a restart", logs, func() bool {
		return strings.Contains(logs.String(), "needs a restart") && strings.Contains(logs.String(), `"field":"http"`)
	})
}
