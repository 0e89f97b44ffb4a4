package authz

import "fmt"

// Outcome is the class of a decision. The deny classes and Error stay
// distinguishable everywhere (status, response header, metrics, logs):
// operators must be able to tell "the token is bad" from "we could not tell".
type Outcome uint8

const (
	// Allow: the token is valid and the policy is satisfied.
	Allow Outcome = iota
	// Missing: no token where the policy looks.
	Missing
	// Invalid: malformed, bad signature, expired, wrong issuer or audience, inactive.
	Invalid
	// Forbidden: a valid token that does not meet the policy's demands.
	Forbidden
	// Error: the token could not be judged (IdP or JWKS unreachable, bad answer, bad config).
	Error
)

// Outcomes lists every outcome, in declaration order.
var Outcomes = [...]Outcome{Allow, Missing, Invalid, Forbidden, Error}

var outcomeNames = [...]string{"allow", "missing", "invalid", "forbidden", "error"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}
