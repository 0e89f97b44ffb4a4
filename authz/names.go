package authz

import (
	"fmt"
	"strings"
)

// The config's spellings of the core's modes live here, beside the modes,
// so that the config's checks, the server's mapping and explain's output
// read one table.

var tokenModeNames = [...]string{TokenRequired: "required", TokenOptional: "optional", TokenNone: "none"}

// String is the mode as a config writes it.
func (m TokenMode) String() string { return nameOf(tokenModeNames[:], int(m)) }

// ParseTokenMode reads a policy's token: required, optional or none.
func ParseTokenMode(name string) (TokenMode, error) {
	i, err := parseName(tokenModeNames[:], name)
	return TokenMode(i), err
}

var senderConstraintNames = [...]string{SenderOff: "off", SenderDPoP: "dpop", SenderMTLS: "mtls", SenderAny: "any"}

// String is the constraint as a config writes it.
func (c SenderConstraint) String() string { return nameOf(senderConstraintNames[:], int(c)) }

// ParseSenderConstraint reads a policy's sender_constraint: off, dpop,
// mtls or any.
func ParseSenderConstraint(name string) (SenderConstraint, error) {
	i, err := parseName(senderConstraintNames[:], name)
	return SenderConstraint(i), err
}

// errorModeNames: ErrorRespond is the zero value, written "respond".
var errorModeNames = [...]ErrorMode{ErrorRespond, ErrorRPC, ErrorResponse}

// String is the mode as a config writes it.
func (m ErrorMode) String() string {
	if m == ErrorRespond {
		return "respond"
	}
	return string(m)
}

// ParseErrorMode reads a policy's error_mode: respond, rpc_error or
// error_response.
func ParseErrorMode(name string) (ErrorMode, error) {
	names := make([]string, len(errorModeNames))
	for i, m := range errorModeNames {
		names[i] = m.String()
	}
	i, err := parseName(names, name)
	if err != nil {
		return ErrorRespond, err
	}
	return errorModeNames[i], nil
}

func nameOf(names []string, i int) string {
	if i < 0 || i >= len(names) {
		return fmt.Sprintf("unknown(%d)", i)
	}
	return names[i]
}

func parseName(names []string, name string) (int, error) {
	for i, n := range names {
		if n == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%q: use %s or %s", name, strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
}

// DefaultSideCacheBytes is the default bound of the caches beside the
// verdict cache — invalid tokens', and the upstream steps' — given the
// verdict cache's: an eighth of it, at least 1 MiB.
func DefaultSideCacheBytes(cacheMaxBytes int64) int64 { return max(cacheMaxBytes/8, 1<<20) }
