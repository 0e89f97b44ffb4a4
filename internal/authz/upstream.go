package authz

import (
	"context"
	"fmt"
)

// Upstream is a step of what an allowed request forwards upstream beyond
// the claim headers: a signed identity token minted for the upstream, the
// IdP's signed introspection answer, a token exchanged in place of the
// client's. A policy's steps run in order after its claim headers, on
// every allow, never on a denial; each adds to the decision what goes
// upstream (Headers, RemoveHeaders), and whatever header it writes it also
// owns: a client's copy must never pass. A step that fails makes the Check
// an error — what the upstream was promised cannot be sent, and the
// request is not let through without it.
type Upstream interface {
	// Name names the step in logs and errors.
	Name() string
	Forward(ctx context.Context, in *UpstreamInput, d *Decision) error
}

// UpstreamInput is what a step may read: the request, and the token's
// claims and validator (none when the policy takes no token, or none was
// sent on an optional one).
type UpstreamInput struct {
	Request   *Request
	Claims    map[string]any
	Validator string
}

// forward runs the policy's upstream steps on an allow; the first that
// fails turns the decision into an error.
func (p *compiledPolicy) forward(ctx context.Context, in *UpstreamInput, d Decision) Decision {
	for _, step := range p.Upstream {
		if err := step.Forward(ctx, in, &d); err != nil {
			d.Headers, d.RemoveHeaders, d.Claims = nil, nil, nil
			return d.fail(Error, fmt.Sprintf("upstream step %s: %v", step.Name(), err), "authorization failed")
		}
	}
	return d
}
