package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/authz-dev/authz/authz"
)

// MaxJSONRPCBytes bounds the body the mcp variable is read from: the
// doors' bound, past which a body is refused rather than parsed.
const MaxJSONRPCBytes = authz.MaxBodyBytes

// jsonrpcMessage is what rules see of one JSON-RPC message as mcp: its
// method, the tool a tools/call names, and its params.
type jsonrpcMessage struct {
	method, tool string
	params       map[string]any
}

// mcpMessages reads the request's body as the MCP Streamable HTTP
// transport sends it: one JSON-RPC message, or a batch of them, each judged
// by the rules in turn (all must pass). A POST with no body, a body the
// proxy cut short or one past MaxJSONRPCBytes, or a body that is not
// JSON-RPC is a *authz.BodyError: a rule that reads mcp cannot hold of
// what it cannot read. A request of another method with no body (GET opens
// the server's event stream, DELETE ends a session) is one message with
// no method.
func mcpMessages(r *authz.Request) ([]jsonrpcMessage, error) {
	switch {
	case r.BodyPartial:
		return nil, &authz.BodyError{Reason: "the proxy sent only part of the body (raise its with_request_body.max_request_bytes)"}
	case len(r.Body) > MaxJSONRPCBytes:
		return nil, &authz.BodyError{Reason: fmt.Sprintf("%d bytes, over the %d the mcp rules read", len(r.Body), MaxJSONRPCBytes)}
	case len(bytes.TrimSpace(r.Body)) == 0 && r.Method != http.MethodPost:
		return []jsonrpcMessage{{}}, nil
	case len(bytes.TrimSpace(r.Body)) == 0:
		return nil, &authz.BodyError{Reason: "no body: the proxy must send it (Envoy's with_request_body) for mcp rules"}
	}
	body := bytes.TrimSpace(r.Body)
	var raw []json.RawMessage
	if body[0] == '[' {
		if err := json.Unmarshal(body, &raw); err != nil {
			return nil, &authz.BodyError{Reason: "not JSON-RPC: " + err.Error()}
		}
		if len(raw) == 0 {
			return nil, &authz.BodyError{Reason: "not JSON-RPC: an empty batch"}
		}
	} else {
		raw = []json.RawMessage{body}
	}
	msgs := make([]jsonrpcMessage, len(raw))
	for i, m := range raw {
		var msg struct {
			JSONRPC string          `json:"jsonrpc"`
			Method  *string         `json:"method"`
			Params  json.RawMessage `json:"params"`
			Result  json.RawMessage `json:"result"`
			Error   json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(m, &msg); err != nil {
			return nil, &authz.BodyError{Reason: fmt.Sprintf("not JSON-RPC: message %d: %v", i, err)}
		}
		if msg.JSONRPC != "2.0" {
			return nil, &authz.BodyError{Reason: fmt.Sprintf("not JSON-RPC: message %d has no \"jsonrpc\": \"2.0\"", i)}
		}
		switch {
		case msg.Method != nil:
			msgs[i].method = *msg.Method
			if len(msg.Params) > 0 && string(msg.Params) != "null" {
				if err := json.Unmarshal(msg.Params, &msgs[i].params); err != nil {
					return nil, &authz.BodyError{Reason: fmt.Sprintf("not JSON-RPC: message %d: params are not an object", i)}
				}
			}
			if msgs[i].method == "tools/call" {
				name, ok := msgs[i].params["name"].(string)
				if !ok || name == "" {
					return nil, &authz.BodyError{Reason: fmt.Sprintf("message %d: a tools/call names no tool", i)}
				}
				msgs[i].tool = name
			}
		case msg.Result != nil || msg.Error != nil:
			// A client's answer to a request of the server's: no method.
		default:
			return nil, &authz.BodyError{Reason: fmt.Sprintf("not JSON-RPC: message %d is neither a request nor a response", i)}
		}
	}
	return msgs, nil
}

// mcpSource is mcp: the message being judged.
func mcpValue(m jsonrpcMessage) map[string]any {
	params := m.params
	if params == nil {
		params = map[string]any{}
	}
	return map[string]any{"method": m.method, "tool": m.tool, "params": params}
}
