package rules

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/authz-dev/authz/authz"
)

// deleteNeedsAdmin is the per-tool policy of docs/mcp.md.
const deleteNeedsAdmin = `!(mcp.method == "tools/call" && mcp.tool.startsWith("delete_")) || "tools:admin" in token.scopes`

func mcpInput(method, body string, scope string) *authz.RuleInput {
	return &authz.RuleInput{
		Request: &authz.Request{Method: method, Host: "mcp.example.com", Path: "/mcp", Header: authz.MapHeader{}, Body: []byte(body)},
		Claims:  map[string]any{"scope": scope},
	}
}

func call(tool string) string {
	return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + tool + `","arguments":{}}}`
}

// A rule over mcp judges each JSON-RPC message of the body — every one of
// a batch — and a body it cannot read (cut short, too large, absent from
// a POST, not JSON-RPC) fails it with a reason of its own.
func TestMCPRules(t *testing.T) {
	s, err := Compile([]Rule{{Name: "delete-needs-admin", Expr: deleteNeedsAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	if !s.ReadsRequest() {
		t.Error("a rule over mcp reads the request: a proxy may not reuse its verdict")
	}
	cases := []struct {
		name  string
		in    *authz.RuleInput
		holds bool
		body  string // a *authz.BodyError's reason contains this
	}{
		{"a harmless tool", mcpInput("POST", call("get_weather"), "mcp:tools"), true, ""},
		{"a delete without the scope", mcpInput("POST", call("delete_repo"), "mcp:tools"), false, ""},
		{"a delete with it", mcpInput("POST", call("delete_repo"), "mcp:tools tools:admin"), true, ""},
		{"tools/list", mcpInput("POST", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, "mcp:tools"), true, ""},
		{"a notification", mcpInput("POST", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, ""), true, ""},
		{"a client's response", mcpInput("POST", `{"jsonrpc":"2.0","id":9,"result":{}}`, ""), true, ""},
		{"a batch, all harmless", mcpInput("POST", "["+call("get_weather")+","+call("list_repos")+"]", "mcp:tools"), true, ""},
		{"a batch hiding a delete", mcpInput("POST", "["+call("get_weather")+","+call("delete_repo")+"]", "mcp:tools"), false, ""},
		{"GET opens the event stream", mcpInput("GET", "", "mcp:tools"), true, ""},
		{"a POST without its body", mcpInput("POST", "", "mcp:tools"), false, "no body"},
		{"not JSON", mcpInput("POST", `{"jsonrpc":"2.0",`, "mcp:tools"), false, "not JSON-RPC"},
		{"not JSON-RPC 2.0", mcpInput("POST", `{"method":"tools/call","params":{"name":"x"}}`, "mcp:tools"), false, `"jsonrpc": "2.0"`},
		{"an empty batch", mcpInput("POST", `[]`, "mcp:tools"), false, "empty batch"},
		{"params that are not an object", mcpInput("POST", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1]}`, "mcp:tools"), false, "params"},
		{"a tools/call naming no tool", mcpInput("POST", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}`, "mcp:tools"), false, "names no tool"},
		{"neither request nor response", mcpInput("POST", `{"jsonrpc":"2.0","id":1}`, "mcp:tools"), false, "neither"},
		{"too large", mcpInput("POST", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get","pad":"`+strings.Repeat("x", MaxJSONRPCBytes)+`"}}`, "mcp:tools"), false, "over the"},
	}
	partial := mcpInput("POST", call("get_weather"), "mcp:tools")
	partial.Request.BodyPartial = true
	cases = append(cases, struct {
		name  string
		in    *authz.RuleInput
		holds bool
		body  string
	}{"cut short by the proxy", partial, false, "only part of the body"})
	for _, c := range cases {
		failed, err := s.Eval(context.Background(), c.in)
		if holds := failed == ""; holds != c.holds {
			t.Errorf("%s: failed %q (%v), want holds=%v", c.name, failed, err, c.holds)
			continue
		}
		var be *authz.BodyError
		switch {
		case c.body == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.body != "" && (!errors.As(err, &be) || !strings.Contains(be.Reason, c.body)):
			t.Errorf("%s: error %v, want a body error containing %q", c.name, err, c.body)
		}
	}
}

// Rules that do not read mcp never look at the body.
func TestRulesWithoutMCPIgnoreTheBody(t *testing.T) {
	s, err := Compile([]Rule{{Name: "post", Expr: `request.method == "POST"`}})
	if err != nil {
		t.Fatal(err)
	}
	if failed, err := s.Eval(context.Background(), mcpInput("POST", "not json at all", "")); failed != "" || err != nil {
		t.Errorf("failed %q, %v", failed, err)
	}
}
