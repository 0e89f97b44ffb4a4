package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/authz/jwt"
	"github.com/authz-dev/authz/internal/config"
)

// A reload keeps what did not change: key sets whose source (and file
// contents) are the same, and cached results whose validator's settings
// are. Both are decided here, from the config.

// sameKeys returns prev's key set for an issuer whose key source is
// unchanged, so a reload neither refetches it nor waits for it.
func (prev *core) sameKeys(ic config.Issuer, fileDigest string) *jwt.Keys {
	if prev == nil {
		return nil
	}
	for _, old := range prev.cfg.Issuers {
		if old.Name == ic.Name && old.KeySource() == ic.KeySource() && prev.keyFiles[ic.Name] == fileDigest {
			return prev.keys[ic.Name]
		}
	}
	return nil
}

// fingerprints fingerprints each validator's settings; the cache uses them
// to tell results that survive a reload from those it must judge again.
func fingerprints(cfg *config.Config, keyFiles map[string]string) map[string]string {
	endpoints := map[string]config.Introspection{}
	for _, in := range cfg.Introspection {
		endpoints[in.Name] = in
	}
	out := map[string]string{}
	all := sha256.New()
	for _, is := range cfg.Issuers {
		fp := fingerprint(is, endpoints[is.Introspect], keyFiles[is.Name])
		out[is.Name] = fp
		all.Write([]byte(fp))
	}
	out[authz.JWTSet] = hex.EncodeToString(all.Sum(nil))
	for _, in := range cfg.Introspection {
		out[in.Name] = fingerprint(in)
	}
	// API-key verdicts are not cached; the fingerprint keeps the map
	// whole all the same.
	for _, k := range cfg.APIKeys {
		out[k.Name] = fingerprint(k)
	}
	return out
}

// keyFileDigests reads every issuer's jwks_file. A file that cannot be
// read gets no digest; building its key set reports the error.
func keyFileDigests(cfg *config.Config) map[string]string {
	out := map[string]string{}
	for _, is := range cfg.Issuers {
		if is.JWKSFile == "" {
			continue
		}
		if b, err := os.ReadFile(is.JWKSFile); err == nil {
			sum := sha256.Sum256(b)
			out[is.Name] = hex.EncodeToString(sum[:])
		}
	}
	return out
}

func fingerprint(parts ...any) string {
	b, _ := json.Marshal(parts) // plain config structs: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
