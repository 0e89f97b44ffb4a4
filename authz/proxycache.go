package authz

import "time"

// proxyCacheFor says how long the proxy in front may reuse d for the same
// token under the same policy (nginx's X-Accel-Expires), or 0. Only a
// decision that read nothing but the token may be reused: the proxy named
// the policy, or there are no routes (none read the request), no rule of
// the policy reads the request (CEL over claims alone is the token's), no
// sender constraint and no upstream steps
// (a minted token per request part), the token comes from the
// Authorization header alone (what the proxy keys its cache on) and is
// not bound to a key or certificate. An allow lasts as long as its verdict
// is cached here and the token lives; a denial of the token, as long as
// the invalid verdict is (negative_ttl); errors and missing tokens never.
func (a *Authorizer) proxyCacheFor(req *Request, p *compiledPolicy, v *verdict, d *Decision) time.Duration {
	if a.proxyCacheMax <= 0 || req.Policy == "" && a.router != nil || rulesReadRequest(p.Rules) || p.SenderConstraint != SenderOff || len(p.Upstream) > 0 ||
		len(p.TokenSources) != 1 || p.TokenSources[0].Header != "authorization" || d.Sender != "" || d.DPoPError != "" {
		return 0
	}
	now := a.now()
	var until time.Time
	switch {
	case d.Outcome == Allow && v.res != nil:
		if bindingOf(v.res.Claims) != (binding{}) {
			return 0
		}
		until = v.judged.Add(a.ttl)
		if !v.res.Expiry.IsZero() && v.res.Expiry.Before(until) {
			until = v.res.Expiry
		}
	case d.Outcome == Invalid && v.res == nil, d.Outcome == Forbidden && v.res != nil:
		until = v.judged.Add(a.negTTL)
		if v.res != nil && !v.res.Expiry.IsZero() && v.res.Expiry.Before(until) {
			until = v.res.Expiry
		}
	default:
		return 0
	}
	left := min(until.Sub(now), a.proxyCacheMax)
	// Whole seconds, down, and one less: nginx counts X-Accel-Expires
	// from its own clock's current second and keeps an entry through the
	// second it ends in, up to a second more than it was told. Never past
	// the verdict's or the token's end.
	return max(left.Truncate(time.Second)-time.Second, 0)
}

// requestReader is the Rules that can tell whether they read the request.
type requestReader interface{ ReadsRequest() bool }

// rulesReadRequest: rules that cannot tell are taken to read it.
func rulesReadRequest(r Rules) bool {
	if r == nil {
		return false
	}
	rr, ok := r.(requestReader)
	return !ok || rr.ReadsRequest()
}
