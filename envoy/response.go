package envoy

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/authz-dev/authz/authz"
)

var grpcCodes = [...]codes.Code{
	authz.Allow:     codes.OK,
	authz.Missing:   codes.Unauthenticated,
	authz.Invalid:   codes.Unauthenticated,
	authz.Forbidden: codes.PermissionDenied,
	authz.Error:     codes.Unavailable,
}

// toResponse renders a decision. Only status.code decides allow or deny in
// Envoy; the HTTP status in denied_response is what the client sees.
func toResponse(d *authz.Decision, ans *authz.Answers) *authv3.CheckResponse {
	code := grpcCodes[d.Outcome]
	resp := &authv3.CheckResponse{Status: &status.Status{Code: int32(code), Message: d.Outcome.String()}}
	if d.Outcome == authz.Allow {
		headers := make([]*corev3.HeaderValueOption, 0, len(d.Headers)+1)
		headers = append(headers, overwrite(ans.OutcomeHeader, d.Outcome.String()))
		for _, h := range d.Headers {
			headers = append(headers, overwrite(h.Name, h.Value))
		}
		resp.HttpResponse = &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
			Headers:         headers,
			HeadersToRemove: d.RemoveHeaders,
		}}
		resp.DynamicMetadata = dynamicMetadata(d)
		return resp
	}
	resp.DynamicMetadata = dynamicMetadata(d)
	var headers []*corev3.HeaderValueOption
	for _, h := range ans.DenialHeaders(d) {
		headers = append(headers, overwrite(h.Name, h.Value))
	}
	answer := &authv3.DeniedHttpResponse{
		Status:  &typev3.HttpStatus{Code: typev3.StatusCode(ans.Status(d.Outcome))},
		Headers: headers,
		Body:    string(ans.Body(d)),
	}
	if d.Outcome == authz.Error && d.ErrorMode == authz.ErrorResponse {
		resp.HttpResponse = &authv3.CheckResponse_ErrorResponse{ErrorResponse: answer}
		return resp
	}
	resp.HttpResponse = &authv3.CheckResponse_DeniedResponse{DeniedResponse: answer}
	return resp
}

// DecisionKey holds, in the dynamic metadata, the route, policy and rule
// of the decision beside the claims.
const DecisionKey = "authz_decision"

// dynamicMetadata is the decision as dynamic metadata, when the policy asks for
// it: set on the CheckResponse, never on the deprecated
// ok_response.dynamic_metadata, which would override it. Later filters find
// it under envoy.filters.http.ext_authz. Claims decoded from JSON always
// convert; should one not, the request still passes without them rather
// than failing an allowed request over an optional extra.
func dynamicMetadata(d *authz.Decision) *structpb.Struct {
	if !d.Metadata {
		return nil
	}
	m, err := structpb.NewStruct(d.Claims)
	if err != nil {
		m = &structpb.Struct{Fields: map[string]*structpb.Value{}}
	}
	dec := map[string]*structpb.Value{"policy": structpb.NewStringValue(d.Policy)}
	if d.Route != "" {
		dec["route"] = structpb.NewStringValue(d.Route)
	}
	if d.Rule != "" {
		dec["rule"] = structpb.NewStringValue(d.Rule)
	}
	m.Fields[DecisionKey] = structpb.NewStructValue(&structpb.Struct{Fields: dec})
	return m
}

// overwrite sets append_action explicitly and leaves the deprecated `append`
// unset: old Envoys read `append` (unset = overwrite), new ones read
// append_action (whose zero value appends), so both overwrite.
func overwrite(name, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: name, Value: value},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}
