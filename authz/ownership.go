package authz

import (
	"slices"
	"strings"
)

// shareOwnership makes the headers any policy writes — claim headers,
// payload headers, what upstream steps write — owned by every policy, and
// the outcome header's other spellings too: header ownership is the
// config's, not the policy's. An upstream that serves a public route and a
// protected one must never receive a client's own x-user-id through the
// public one, whatever that policy maps or inherits.
//
// A header that is some policy's token source (Authorization, when a step
// mints into it) is the client's credential, not an identity authz
// vouches for: policies that do not write it leave it alone.
func shareOwnership(policies map[string]*compiledPolicy, outcomeHeader string) {
	var all, credentials []string
	for _, p := range policies {
		for _, h := range p.headers.owned {
			if !slices.Contains(all, h) {
				all = append(all, h)
			}
		}
		for _, ts := range p.TokenSources {
			if ts.Header != "" {
				credentials = append(credentials, ts.Header)
			}
		}
	}
	slices.Sort(all)
	outcome := strings.ToLower(outcomeHeader)
	for _, p := range policies {
		hp := &p.headers
		own := hp.owned
		spellings := slices.Clone(own)
		for _, h := range all {
			if slices.Contains(own, h) {
				continue
			}
			spellings = append(spellings, h)
			if !slices.Contains(credentials, h) {
				hp.foreign = append(hp.foreign, h)
				if u := strings.ReplaceAll(h, "-", "_"); u != h {
					hp.alwaysRemove = append(hp.alwaysRemove, u)
				}
			}
		}
		if outcome != "" && !slices.Contains(spellings, outcome) {
			// The doors set the exact name; a client's x_authz_outcome
			// must not pass beside it.
			spellings = append(spellings, outcome)
			if u := strings.ReplaceAll(outcome, "-", "_"); u != outcome {
				hp.alwaysRemove = append(hp.alwaysRemove, u)
			}
		}
		hp.owned = spellings
	}
}
