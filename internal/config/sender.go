package config

import (
	"bytes"
	"os"

	"github.com/authz-dev/authz/internal/sender"
)

// DPoP configures how DPoP proofs (RFC 9449) are checked: the checks' own
// settings (sender.Settings: keys, defaults and checks), which this file
// reports under dpop, reading the nonce key from its file.
type DPoP = sender.Settings

func validateDPoP(d *DPoP, p *problems) {
	d.Check(func(key, problem string) { p.add("dpop."+key, "%s", problem) })
	if !d.RequireNonce || d.NonceKeyFile == "" || p.offline {
		return
	}
	key, err := os.ReadFile(d.NonceKeyFile)
	switch {
	case err != nil:
		p.add("dpop.nonce_key_file", "%v", err)
	case len(bytes.TrimSpace(key)) < sender.MinNonceKeyBytes:
		p.add("dpop.nonce_key_file", "holds %d bytes; want at least %d", len(bytes.TrimSpace(key)), sender.MinNonceKeyBytes)
	default:
		d.NonceKey = bytes.TrimSpace(key)
	}
}
