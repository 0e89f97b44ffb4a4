//go:build nodemo

package main

import (
	"fmt"
	"io"
)

// cmdDemo, in a binary built with -tags nodemo, says what it left out: the
// demo's in-process IdP is test code (internal/testidp), kept out of
// production builds.
func cmdDemo(_ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "authz demo: this binary was built without the demo (-tags nodemo); run `make run` from a checkout")
	return 2
}
