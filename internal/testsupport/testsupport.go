// Package testsupport holds the helpers the end-to-end tests of several
// packages share: a test IdP that stops with the test, a free loopback
// address, a wait on observable state.
package testsupport

import (
	"net"
	"testing"
	"time"

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

// WaitFor polls cond until it holds, for up to 20 s: long enough for any
// loaded machine, and a test that waits it out has failed anyway. A test
// waits on observable state this way, never on a guessed sleep.
func WaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("waited 20 s for %s", what)
		}
	}
}
