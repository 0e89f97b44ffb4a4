package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/server"
	"github.com/authz-dev/authz/internal/testidp"
	"github.com/authz-dev/authz/internal/testlog"
	"github.com/authz-dev/authz/internal/testsupport"
)

// commandConfig is what the subcommands' tests serve; %[1]s is the
// issuer, %[2]s the JWKS URL, %[3]s and %[4]s the gRPC and HTTP addresses.
// The policies come last, so a test can append policies and top-level keys.
const commandConfig = `
grpc: { addr: "%[3]s" }
http: { addr: "%[4]s" }
admin: { addr: "127.0.0.1:0" }
log: { level: debug }
issuers:
  - { name: corp, issuer: "%[1]s", jwks_url: "%[2]s", audiences: [orders-api], leeway: 0s }
policies:
  default:
    headers: { sub: x-user-id }
    dynamic_metadata: true
  orders-write:
    require_scopes: [orders:write]
`

func newIdP(t *testing.T) *testidp.IdP { return testsupport.NewIdP(t) }

// startServer runs a server the subcommands can talk to, until the test
// ends; extra is YAML appended to commandConfig.
func startServer(t *testing.T, idp *testidp.IdP, extra ...string) *server.Server {
	t.Helper()
	text := fmt.Sprintf(commandConfig, idp.Issuer(), idp.JWKSURL(), "127.0.0.1:0", "127.0.0.1:0") + strings.Join(extra, "")
	cfg, err := config.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(cfg, server.NewLogger(cfg.Log, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s
}

func freePort(t *testing.T) string { return testsupport.FreeAddr(t) }

// eventually fails the test unless cond holds within 10s.
func eventually(t *testing.T, what string, logs fmt.Stringer, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s; logs:\n%s", what, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer = testlog.Buffer
