package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/authz-dev/authz/authz/apikey"
)

// cmdAPIKey is `authz apikey new`: a fresh key for the partner (printed
// once, kept nowhere) and the line for the key file (its hash only).
func cmdAPIKey(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "new" {
		fmt.Fprintln(stderr, "usage: authz apikey new -sub OWNER [-client-id ID] [-scope SCOPES] [-tenant T]")
		return 2
	}
	fs := newFlags("apikey new", "print a new API key and its key-file line (the key's hash and metadata; never the key)", stderr)
	sub := fs.String("sub", "", "the key's owner (its sub claim)")
	clientID := fs.String("client-id", "", "its client_id claim")
	scope := fs.String("scope", "", "its scope claim (space-separated)")
	tenant := fs.String("tenant", "", "its tenant claim")
	if code := parse(fs, args[1:]); code >= 0 {
		return code
	}
	if *sub == "" {
		fmt.Fprintln(stderr, "authz apikey new: -sub is required (the key's owner)")
		return 2
	}
	key, hash, err := apikey.NewKey()
	if err != nil {
		fmt.Fprintln(stderr, "authz apikey new:", err)
		return 1
	}
	line := hash + ": { sub: " + strconv.Quote(*sub)
	for _, f := range []struct{ name, value string }{{"client_id", *clientID}, {"scope", *scope}, {"tenant", *tenant}} {
		if f.value != "" {
			line += ", " + f.name + ": " + strconv.Quote(f.value)
		}
	}
	line += " }"
	fmt.Fprintf(stdout, "key (give it to its owner; authz keeps only its hash):\n  %s\nline for the key file:\n  %s\nor, for a Redis key store (api_keys[].redis_key):\n  HSET <redis_key> %s '%s'\n", key, line, hash, entryJSON(*sub, *clientID, *scope, *tenant))
	return 0
}

// entryJSON is the key's entry as a Redis key store holds it.
func entryJSON(sub, clientID, scope, tenant string) string {
	e := map[string]string{"sub": sub}
	for name, v := range map[string]string{"client_id": clientID, "scope": scope, "tenant": tenant} {
		if v != "" {
			e[name] = v
		}
	}
	b, _ := json.Marshal(e) // strings: cannot fail
	return string(b)
}
