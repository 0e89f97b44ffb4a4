// Package testsupport holds the helpers the end-to-end tests of several
// packages share: a test IdP that stops with the test, a free loopback
// address.
package testsupport

import (
	"net"
	"testing"

	"github.com/authz-dev/authz/internal/testidp"
)

// NewIdP starts a test IdP that stops when the test ends.
func NewIdP(tb testing.TB) *testidp.IdP {
	tb.Helper()
	idp, err := testidp.New()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(idp.Close)
	return idp
}

// FreeAddr is a loopback host:port nothing listens on right now.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
