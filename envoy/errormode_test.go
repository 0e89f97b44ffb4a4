package envoy_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/checktest"
)

// byPolicy is a Decider that answers each policy with a set decision.
type byPolicy struct {
	decisions map[string]authz.Decision
	answers   *authz.Answers
}

func (b byPolicy) Authorize(_ context.Context, r *authz.Request) authz.Decision {
	return b.decisions[r.Policy]
}
func (b byPolicy) Answers() *authz.Answers { return b.answers }

// The error outcome as each error mode answers it over a real gRPC
// connection: respond (a CheckResponse with the 503 and Retry-After),
// rpc_error (the RPC fails UNAVAILABLE, for Envoy's failure_mode_allow to
// weigh), error_response (CheckResponse.error_response with its status,
// headers and body); a denial is answered whatever the mode. (The config's
// error_mode reaching the decision is the server's suite.)
func TestErrorModes(t *testing.T) {
	answers := authz.DefaultAnswers()
	answers.ByOutcome[authz.Error].RetryAfter = 2 * time.Second
	failed := func(mode authz.ErrorMode) authz.Decision {
		return authz.Decision{Outcome: authz.Error, ErrorMode: mode, Reason: "idp down", Description: "the access token could not be validated right now"}
	}
	client := serve(t, byPolicy{answers: answers, decisions: map[string]authz.Decision{
		"respond":        failed(authz.ErrorRespond),
		"rpc-error":      failed(authz.ErrorRPC),
		"error-response": failed(authz.ErrorResponse),
		"rpc-error-deny": {Outcome: authz.Invalid, ErrorMode: authz.ErrorRPC, Description: "the access token is invalid"},
		"response-deny":  {Outcome: authz.Invalid, ErrorMode: authz.ErrorResponse, Description: "the access token is invalid"},
	}}, nil)
	check := func(policy string) (*authv3.CheckResponse, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return client.Check(ctx, checktest.Request(checktest.Policy(policy)))
	}

	resp, err := check("respond")
	if err != nil || codes.Code(resp.GetStatus().GetCode()) != codes.Unavailable || resp.GetDeniedResponse().GetStatus().GetCode() != 503 ||
		checktest.Read(resp).Headers["retry-after"] != "2" {
		t.Errorf("respond: %v, %v", resp, err)
	}
	if _, err := check("rpc-error"); status.Code(err) != codes.Unavailable {
		t.Errorf("rpc_error: err %v, want UNAVAILABLE", err)
	}
	resp, err = check("error-response")
	er := resp.GetErrorResponse()
	if err != nil || codes.Code(resp.GetStatus().GetCode()) != codes.Unavailable || er.GetStatus().GetCode() != 503 || resp.GetDeniedResponse() != nil ||
		!strings.Contains(er.GetBody(), "temporarily_unavailable") || !slices.ContainsFunc(er.GetHeaders(), func(h *corev3.HeaderValueOption) bool {
		return h.GetHeader().GetKey() == "x-authz-outcome" && h.GetHeader().GetValue() == "error"
	}) {
		t.Errorf("error_response: %v, %v", resp, err)
	}
	for _, policy := range []string{"rpc-error-deny", "response-deny"} {
		resp, err := check(policy)
		if err != nil || resp.GetDeniedResponse().GetStatus().GetCode() != 401 || resp.GetErrorResponse() != nil {
			t.Errorf("%s: a denial answered %v, %v; want the 401", policy, resp, err)
		}
	}
}
